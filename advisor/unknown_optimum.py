"""The model's own verdict that it does not know the optimum LR or batch at a target, as one fact.

An interval wider than UNINFORMATIVE_RATIO (high/low) says "we do not know" (docs/reading-the-output.md).
`recommend` records the verdict on the Recommendation (`lr_informative`, `batch_informative`), and every
consumer (the short answer, --json, check, compare, the batch ramp, plan) reads it from there. Quantities
that still need an LR or batch (steps, weight decay, the final-LR ratio) then rest on an assumed point, the
published laws' answer at the target (`assumed_point`), named in `Recommendation.assumed`, never the hidden one.
"""
from __future__ import annotations

import math

from advisor.answer_text import is_uninformative
from advisor.answer_text import lr_text as _lr
from advisor.units import format_count


def informative(low: float, high: float) -> bool:
    """False where the 90% interval is too wide to say anything (the tool's own verdict)."""
    return not is_uninformative(low, high)


def batch_informative(batch, batch_source: str) -> bool:
    """A published law's batch has no interval and is its own answer; the model's is judged by its width."""
    return batch_source != "model" or informative(batch.low, batch.high)


def assumed_point(shape, d: float, seq: int, index: int) -> tuple[float, str]:
    """(value, where it comes from): the geometric mean of the independent published laws' LR (index 0) or
    batch (index 1) at the target (advisor/laws.py SETUP_LAWS); None where none of them answers."""
    from advisor.laws import Target, setup_law_answers

    answers = setup_law_answers(Target(shape.n_params, d, seq, shape.n_layer, shape.d_model), index)
    if not answers:
        return None, "no published law answers here"
    value = math.exp(sum(math.log(v) for _, v in answers) / len(answers))
    return value, "the published laws' " + ("LR" if index == 0 else "batch") + " (geometric mean of " + \
        ", ".join(name for name, _ in answers) + ")"


def assumed_fields(shape, d: float, seq: int, lr_known: bool, batch_known: bool) -> dict | None:
    """What the derived quantities rest on where the model does not know the LR or the batch; None where it
    knows both."""
    out = {}
    for known, key, index in ((lr_known, "lr", 0), (batch_known, "batch_tokens", 1)):
        if not known:
            value, basis = assumed_point(shape, d, seq, index)
            if value is not None:
                out[key], out[key + "_basis"] = value, basis
    return out or None


def points_used(lr, batch, batch_source: str, shape, d: float, seq: int):
    """((lr known, batch known), `assumed`, the LR and batch that steps, weight decay and the final LR rest on):
    the model's point where it knows it, the assumed one where it does not (never the hidden point)."""
    known = informative(lr.low, lr.high), batch_informative(batch, batch_source)
    assumed = assumed_fields(shape, d, seq, *known)
    return known, assumed, (assumed or {}).get("lr", lr.value), (assumed or {}).get("batch_tokens", batch.value)


def unknown_text(rec) -> str:
    """'LR and batch' / 'LR' / 'batch': what the model does not know at this target ('' where it knows both)."""
    names = [name for name, known in (("LR", rec.lr_informative), ("batch", rec.batch_informative)) if not known]
    return " and ".join(names)


def assumed_note(rec) -> str:
    """One line: what steps, weight decay and the final-LR ratio rest on where the optimum is not known."""
    assumed = rec.assumed or {}
    parts, uses = [], []
    if "batch_tokens" in assumed:
        parts.append(f"batch {format_count(assumed['batch_tokens'])} tokens")
        uses += ["steps", "weight decay"]
    if "lr" in assumed:
        parts.append(f"LR {_lr(assumed['lr'])}")
        uses += ["weight decay", "the final-LR ratio"]
    if not parts:
        return ""
    uses = list(dict.fromkeys(uses))
    laws = (assumed.get("batch_tokens_basis") or assumed.get("lr_basis", "")).split("(geometric mean of ")[-1].rstrip(")")
    return (f"{' and '.join(parts)} for {', '.join(uses[:-1])} and {uses[-1]}: "
            f"the published laws' geometric mean ({laws}), not the model's point")


__all__ = ["points_used", "informative", "batch_informative", "assumed_point", "assumed_fields", "unknown_text", "assumed_note"]
