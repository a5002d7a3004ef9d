"""Lines of the long answer (`advisor recommend --explain`) that other answers quote: what each source of
uncertainty adds to the 90% intervals, and how far the target lies beyond the fitted range. `advisor
compare` puts them in the notes of the model's row (advisor/comparison.py)."""
from __future__ import annotations

from advisor.answer_text import UNINFORMATIVE_RATIO
from advisor.recipe import Recommendation
from advisor.units import format_count


def _lr(x: float) -> str:
    return f"{x:.3g}"


def interval_lines(rec: Recommendation) -> list[str]:
    """What each source of uncertainty contributes to the 90% intervals (advisor/intervals.py)."""
    out = []
    for label, parts, fmt, own in (("LR", rec.lr_interval, _lr, True),
                                   ("batch", rec.batch_interval, format_count, rec.batch_source == "model")):
        if not own or parts.total[0] == parts.total[1]:
            continue
        lo, hi = parts.total
        components = parts.components()
        widths = {name: b / a for name, (a, b) in components.items() if a < b}
        if hi / lo > UNINFORMATIVE_RATIO:
            worst = max(widths, key=widths.get).replace("_", " ")
            out.append(f"  {'90% ' + label:<12} uninformative: the interval spans {hi / lo:.1e}× ({worst} "
                       "dominates): this model cannot say where the optimum is at this target")
            continue
        bits = ", ".join(f"{name.replace('_', ' ')} {fmt(components[name][0])}–{fmt(components[name][1])}"
                         for name in widths) or "no component"
        out.append(f"  {'90% ' + label:<12} {fmt(lo)} – {fmt(hi)} ({hi / lo:.3g}× wide) = {bits}")
    return out


def _batch_width(rec: Recommendation) -> str:
    if rec.batch_source != "model":
        return f"batch none ({rec.batch_source[4:]}'s published point law)"
    return f"batch {rec.batch_interval_ratio:.3g}×"


def extrapolation_line(rec: Recommendation) -> str:
    if rec.source.kind == "law":
        return "Extrapolation: unknown (a published law's fit range is not tracked); no interval."
    ex = rec.extrapolation
    if not ex:
        return (f"Extrapolation: the model records no fit range. Interval width: LR {rec.lr_interval_ratio:.3g}×, "
                f"{_batch_width(rec)} (high/low).")
    labels = {"n_params": "N", "tokens": "D", "flops": "C", "n_params_total": "N total (MoE)"}
    parts = ", ".join(f"{labels.get(k, k)} "
                      f"{'inside' if f <= 1 else f'{f:.3g}×'}" for k, f in ex.items())
    return (f"Extrapolation beyond the fitted range: {parts}. Interval width (high/low): "
            f"LR {rec.lr_interval_ratio:.3g}×, {_batch_width(rec)}.")
