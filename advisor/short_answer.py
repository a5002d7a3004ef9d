"""The short answer `advisor recommend` prints by default: about ten lines within 100 columns.

The LR and batch with their 90% intervals, tokens and steps, warmup and schedule, AdamW and weight decay,
then one line per warning; `--explain` prints the long form (advisor/cli/recommend.py render_recommendation:
the interval parts, tolerance lines, rules and citations). Every term is defined in
docs/reading-the-output.md.

To add a line: write a function `(rec) -> list[str]` and list it in `SECTIONS` (the order printed).
Each line is `label` + text via `row()`, so that columns line up and the width stays within `WIDTH`.
An interval the tool calls uninformative is never headlined as a number (`uninformative_lines`).
"""
from __future__ import annotations

import math

from advisor.answer_text import LABEL, WIDTH, is_uninformative, row
from advisor.answer_text import lr_text as _lr
from advisor.laws import batch_label
from advisor.units import format_count

WIDE_LR_RATIO = 3.0  # an LR interval wider than this calls for a short sweep (`sweep_points`)
MAX_SWEEP_POINTS = 4
GUIDE = "docs/reading-the-output.md"


def clip(line: str, width: int = WIDTH) -> str:
    if len(line) <= width:
        return line
    cut = line[: width - 1].rsplit(" ", 1)[0].rstrip(",;:(— ")
    return cut + "…"


def sweep_points(point: float, low: float, high: float) -> list[float]:
    """3 or 4 LRs a factor 2 apart, the point among them, placed to cover the 90% interval best: the short
    sweep a wide interval calls for (docs/reading-the-output.md)."""
    below, above = math.log2(point / low), math.log2(high / point)
    k = min(MAX_SWEEP_POINTS, max(3, round(below + above) + 1))
    down = min(range(1, k - 1), key=lambda d: abs(d - below) + abs(k - 1 - d - above))
    return [point * 2.0**j for j in range(-down, k - down)]


def header(rec) -> list[str]:
    by = f"{rec.source.kind} {rec.source.label}"
    size = f"{format_count(rec.n_params_total)} parameters ({format_count(rec.n_params)} non-embedding"
    if rec.n_params_active and rec.n_params_active < rec.n_params:
        size += f", {format_count(rec.n_params_active)} active"
    return [clip(f"{size}), {format_count(rec.tokens)} tokens, seq_len {rec.seq_len:,} · {by}")] + seq_note(rec)


def seq_note(rec) -> list[str]:
    """Where a config's context length is not the seq_len used, say which was used and why."""
    src = rec.shape_source or {}
    if src.get("kind") != "config" or src.get("context_length") in (None, rec.seq_len):
        return []
    why = str(src.get("seq_len_source", ""))
    why = why.split(": ", 1)[1] if why.startswith("default") and ": " in why else why  # the number is said already
    return [row("seq_len", f"{rec.seq_len:,}, not the config's {src['context_length']:,}: {why}")]


def lr_lines(rec) -> list[str]:
    if rec.lr_low == rec.lr_high:
        return [row("peak LR", f"{_lr(rec.lr)}   (a published point law: no interval)")]
    if is_uninformative(rec.lr_low, rec.lr_high):
        return uninformative_lines(rec, "peak LR", rec.lr_high / rec.lr_low, 0)
    ratio = rec.lr_high / rec.lr_low
    lines = [row("peak LR", f"{_lr(rec.lr)}   90% interval {_lr(rec.lr_low)} – {_lr(rec.lr_high)} ({ratio:.3g}× wide)")]
    if ratio > WIDE_LR_RATIO:
        points = ", ".join(_lr(x) for x in sweep_points(rec.lr, rec.lr_low, rec.lr_high))
        lines.append(row("", f"wide: sweep {points} ({GUIDE})"))
    return lines


def batch_lines(rec) -> list[str]:
    practical = (f"{format_count(rec.batch_tokens_rounded)} tokens = {rec.batch_seqs:,} × {rec.seq_len:,}"
                 f" ({batch_label(rec.batch_source)} {format_count(rec.batch_tokens)})")
    if rec.batch_source != "model":
        return [row("batch", f"{practical}; from {rec.batch_source[4:]}'s published law, no interval")]
    if rec.batch_tokens_low == rec.batch_tokens_high:
        return [row("batch", f"{practical}; no interval")]
    if is_uninformative(rec.batch_tokens_low, rec.batch_tokens_high):
        return uninformative_lines(rec, "batch", rec.batch_tokens_high / rec.batch_tokens_low, 1)
    return [row("batch", f"{practical}   90% {format_count(rec.batch_tokens_low)} – "
                         f"{format_count(rec.batch_tokens_high)}")]


def uninformative_lines(rec, label: str, ratio: float, index: int) -> list[str]:
    """What can be said where the model cannot say: no number headlined, the published laws' answers at the
    target and the next step (docs/reading-the-output.md, "uninformative")."""
    fmt = _lr if index == 0 else format_count
    laws = ", ".join(f"{name} {fmt(value)}" for name, value in published_answers(rec, index))
    return [row(label, f"not known here: the 90% interval spans {ratio:.3g}× (the model's own verdict)"),
            *([row("", f"published laws at this target: {laws}")] if laws else []),
            row("", next_step(rec))]


def next_step(rec) -> str:
    """What to do where the model cannot say: a model fitted on real runs, or a small calibration of your own
    that borrows its exponents; where that model is already in use, compare the laws and measure."""
    if rec.source.name == "steplaw-dense":
        return "next: advisor compare (every law here), then a short sweep near this size"
    return "next: --model steplaw-dense, or advisor recalibrate anchor --with steplaw-dense"


def published_answers(rec, index: int) -> list[tuple[str, float]]:
    """(name, LR or batch) of the independent published laws at the target (advisor/laws.py SETUP_LAWS);
    empty for an MoE (they were fitted on dense models) or where a law gives no answer."""
    if rec.n_params_active and rec.n_params_active < rec.n_params:
        return []
    from advisor.laws import Target, setup_law_answers

    return setup_law_answers(Target(rec.n_params, rec.tokens, rec.seq_len, rec.n_layer, rec.d_model), index)


def run_lines(rec) -> list[str]:
    how = rec.tokens_source
    for short in ("compute-optimal", "given"):
        how = short if how.startswith(short) else how
    how = how.split(" (--")[0].split(":")[0]  # "20 tokens per (total) parameter", not "20 tokens per"
    return [row("tokens", f"{format_count(rec.tokens)} ({how}) = {rec.steps:,} steps"),
            row("warmup", f"{rec.warmup_steps:,} steps, then {rec.schedule} to {final_lr_text(rec)}"),
            *assumed_lines(rec)]


def final_lr_text(rec) -> str:
    """'1e-5 (0.015× peak)', or '0' for a schedule that decays to zero."""
    if rec.final_lr <= 0:
        return "0"
    return f"{_lr(rec.final_lr)} ({rec.final_lr_frac:.2g}× peak)"


def assumed_lines(rec) -> list[str]:
    """Where the optimum is not known: what steps, weight decay and the final LR rest on instead."""
    from advisor.unknown_optimum import assumed_note

    note = assumed_note(rec) if getattr(rec, "assumed", None) else ""
    what, _, basis = note.partition(": ")
    return [row("assumed", what + ":"), row("", basis)] if note else []


def optimizer_lines(rec) -> list[str]:
    return [row("AdamW", f"weight decay {rec.weight_decay:.3g}, β1 {rec.beta1:g}, β2 {rec.beta2:.4g}, "
                         f"ε {rec.eps:g}; grad clip {rec.grad_clip:g}")]


def warning_lines(rec) -> list[str]:
    """One line per warning: its first clause (the whole text is in --explain and --json)."""
    room = WIDTH - LABEL
    shown = {"setups_disagree"} if rec.setups else set()  # the setups row above says it, with the numbers
    return [row("warning", _fit(first_clause(str(w)), room)) for w in rec.warnings
            if getattr(w, "code", None) not in shown]


def _fit(text: str, room: int) -> str:
    """The text, its asides in brackets dropped (last first) while it is too long for the line."""
    while len(text) > room and ")" in text:
        end = text.rindex(")")
        start = text.rfind("(", 0, end)
        if start < 0:
            break
        text = (text[:start].rstrip() + text[end + 1:]).strip()
    return text


def first_clause(text: str) -> str:
    """The text up to its first ': ' or '; ' outside brackets, if that leaves at least 25 characters."""
    depth = 0
    for i, char in enumerate(text):
        depth += (char in "([") - (char in ")]")
        if depth == 0 and text[i:i + 2] in (": ", "; ") and i >= 25:
            return text[:i]
    return text


def footer(rec) -> list[str]:
    return [clip(f"More: --explain (the parts, tolerance, rules, sources) or --json; terms: {GUIDE}")]


def setups_lines(rec) -> list[str]:
    from advisor.setup_answer import short_lines  # a cross-setup model: the known setups here, the anchor

    return short_lines(rec)


SECTIONS = [header, lr_lines, batch_lines, run_lines, optimizer_lines, setups_lines, warning_lines, footer]
RECIPE_SECTIONS = [lr_lines, batch_lines, run_lines, optimizer_lines]  # `plan` prints these once


def render_short(rec, sections=None) -> str:
    return "\n".join(line for section in (sections or SECTIONS) for line in section(rec))


__all__ = ["render_short", "SECTIONS", "RECIPE_SECTIONS", "row", "sweep_points", "is_uninformative"]
