"""The text of `recommend --batch` / `--lr` (advisor/constrained_recipe.py): the held value, its best partner
with its interval, what the constraint costs, the fixed rules beside it and the joint optimum."""
from __future__ import annotations

import math

from advisor.units import format_count


def _interval(lo: float, hi: float, fmt) -> str:
    return "no interval" if lo == hi else f"90% {fmt(lo)} – {fmt(hi)}"


def _lr(x: float) -> str:
    return f"{x:.3g}"


def constrained_lines(rec) -> list[str]:
    c, joint, seq = rec.constraint, rec.unconstrained, rec.seq_len
    batch_line = (f"  batch        {rec.batch_seqs:,} sequences × {seq:,} = {format_count(rec.batch_tokens_rounded)} tokens")
    if c["fixed"] == "batch_tokens":
        versus = (f"{c['batch_ratio']:.3g}× the optimal batch {format_count(joint['batch_tokens'])}"
                  if joint.get("batch_informative", True) else "the optimal batch is not known here")
        lines = [f"{batch_line}   (held: --batch {format_count(c['value'])}; {versus})",
                 *[f"               {note}" for note in [rounding_note(rec)] if note],
                 f"  peak LR      {rec.lr:.3g}   (the best LR at this batch: {c['lr_ratio']:.3g}× the optimal LR; "
                 f"{_interval(rec.lr_low, rec.lr_high, _lr)})"]
        rules = c["rules_lr"]
        lines.append(f"  rules        √ rule {rules['sqrt']:.3g}, linear rule {rules['linear']:.3g}, constant LR "
                     f"{rules['constant']:.3g} (each anchored at the joint optimum); the surface's valley moves the "
                     f"LR as B^{_slope(c):.2f} here")
    else:
        versus = (f"{c['lr_ratio']:.3g}× the optimal LR {joint['lr']:.3g}" if joint.get("lr_informative", True)
                  else "the optimal LR is not known here")
        lines = [f"  peak LR      {rec.lr:.3g}   (held: --lr; {versus})",
                 f"{batch_line}   (the best batch at this LR: {format_count(rec.batch_tokens)} tokens, "
                 f"{c['batch_ratio']:.3g}× the optimal batch; "
                 f"{_interval(rec.batch_tokens_low, rec.batch_tokens_high, format_count)})"]
        rules = c["rules_batch_tokens"]
        lines.append(f"  rules        √ rule {format_count(rules['sqrt'])}, linear rule {format_count(rules['linear'])} "
                     "tokens (each anchored at the joint optimum)")
    home = 2.0 ** c["surface_minimum_at_optimum_log2"]
    if abs(home - 1.0) > 0.03:
        lines.append(f"               at the optimal batch itself the surface's minimum lies at {home:.3g}× the law's LR "
                     "(the estimated optimum leans to the gentler side; docs/constraints.md)")
    if _unknown_joint(joint):
        return lines + [f"  cost         not given: the unconstrained optimum {_unknown_joint(joint)} is not known at "
                        "this target (its 90% interval is too wide)", f"  method       {c['method']}"]
    flag = " RISKY" if c["risky"] else ""
    where = "; extrapolated (beyond 4× or the fitted range)" if c["extrapolated"] or c["beyond_validated"] else ""
    least = "at least " if c.get("cost_is_lower_bound") else ""
    lines += [f"  cost         the constraint costs {least}{c['cost_pct']:.2f}% in loss (90%: {c['cost_pct_low']:.2f}–"
              f"{c['cost_pct_high']:.2f}) against the unconstrained optimum{flag}{where}",
              f"  method       {c['method']}",
              f"  unconstrained peak LR {joint['lr']:.3g} ({_interval(joint['lr_low'], joint['lr_high'], _lr)}), batch "
              f"{joint['batch_seqs']:,} × {seq:,} = {format_count(joint['batch_tokens_rounded'])} tokens (law optimum "
              f"{format_count(joint['batch_tokens'])}; "
              f"{_interval(joint['batch_tokens_low'], joint['batch_tokens_high'], format_count)})"]
    return lines


def _unknown_joint(joint: dict) -> str:
    """'LR and batch' / 'LR' / 'batch' the joint optimum's model does not know; '' where it knows both."""
    return " and ".join(name for name, key in (("LR", "lr_informative"), ("batch", "batch_informative"))
                        if not joint.get(key, True))


def _slope(c: dict) -> float:
    """d log LR / d log B along the surface's valley, from its minimum at the optimal batch to the held batch."""
    lb = math.log2(c["batch_ratio"])
    return (c["offset_log2"] - c["surface_minimum_at_optimum_log2"]) / lb if abs(lb) > 1e-9 else float("nan")


def short_sections(rec) -> list:
    """The short answer's sections (advisor/short_answer.py) with the constraint's line after the batch and
    the schedule's evidence after the run's lines."""
    from advisor.short_answer import SECTIONS, batch_lines, lr_lines, run_lines

    held = (rec.constraint or {}).get("fixed")
    swap = {lr_lines: held_lr if held == "lr" else lr_lines,
            batch_lines: held_batch if held == "batch_tokens" else batch_lines}
    out = []
    for section in SECTIONS:
        out.append(swap.get(section, section))
        if section is batch_lines and rec.constraint:
            out.append(constraint_short)
        if section is run_lines and rec.schedule_detail:
            out.append(schedule_short)
    return out


def constraint_short(rec) -> list[str]:
    from advisor.answer_text import lr_text as _lr, row

    c, joint = rec.constraint, rec.unconstrained
    unknown = _unknown_joint(joint)
    if unknown:
        what = "batch" if c["fixed"] == "batch_tokens" else "LR"
        return [row("held", f"the {what} held; no cost given: the optimum {unknown} is not known at this target")]
    held = (f"the batch held: best LR here {c['lr_ratio']:.3g}× the optimum's" if c["fixed"] == "batch_tokens"
            else f"the LR held: best batch here {c['batch_ratio']:.3g}× the optimum's")
    flag, least = ", RISKY" if c["risky"] else "", "at least " if c.get("cost_is_lower_bound") else ""
    return [row("held", f"{held}; costs {least}{c['cost_pct']:.2f}% (90% {c['cost_pct_low']:.2f}–{c['cost_pct_high']:.2f}"
                        f"{flag})"),
            row("optimum", f"unconstrained: LR {_lr(joint['lr'])}, batch {format_count(joint['batch_tokens_rounded'])} "
                           f"tokens (--explain: the √/linear rules, the method)")]


def schedule_short(rec) -> list[str]:
    from advisor.short_answer import row

    d = rec.schedule_detail
    peak = "peak LR kept" if d["peak_lr_factor"] == 1.0 else f"peak LR ×{d['peak_lr_factor']:.2g}"
    return [row("schedule", f"{d['shape']}; cited rule; {peak} (measured: --explain)")]


def held_lr(rec) -> list[str]:
    from advisor.answer_text import lr_text as _lr, row

    return [row("peak LR", f"{_lr(rec.lr)}   held (--lr)")]


def held_batch(rec) -> list[str]:
    from advisor.short_answer import row

    return [row("batch", f"{format_count(rec.batch_tokens_rounded)} tokens = {rec.batch_seqs:,} × {rec.seq_len:,}   "
                         "held (--batch)"), *[row("", note) for note in [rounding_note(rec, short=True)] if note]]


def rounding_note(rec, short: bool = False) -> str:
    """What a held batch in tokens that is not a whole number of sequences was rounded to: the LR, β2 and
    steps are all read at that rounded batch; and the practical (2^k or 3·2^k) count of sequences nearby."""
    from advisor.rules import practical_batch_seqs

    c, seq = rec.constraint, rec.seq_len
    if c.get("fixed") != "batch_tokens" or abs(c["value"] - rec.batch_seqs * seq) < 0.5:
        return ""
    near = practical_batch_seqs(c["value"], seq)
    nicer = (f"; {near:,} sequences = {format_count(near * seq)} tokens splits evenly over data-parallel ranks"
             if near != rec.batch_seqs else "")
    if short:
        return (f"rounded to whole sequences: {rec.batch_seqs * seq:,} tokens; "
                + (f"{near:,} × {seq:,} = {format_count(near * seq)} splits evenly" if near != rec.batch_seqs else "") ).rstrip("; ")
    return (f"--batch {c['value']:,.0f} tokens is not a whole number of sequences: rounded to {rec.batch_seqs:,} × "
            f"{seq:,} = {rec.batch_seqs * seq:,} tokens (the LR, β2 and steps are read there){nicer}")
