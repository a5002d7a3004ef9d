"""What a cross-setup model's answer says about setups (advisor/setups.py builds the interval's setup part).

- `evidence(...)`: per law, the setup part's half-width at the target (none for `--setup NAME`: the answer is
  that setup's own, shifted from the pooled point) and each known setup's optimum there;
- `summary(...)`: the record `recommend` returns (`Recommendation.setups`) and its one line of text: how far
  the known setups' optima differ at the target, and what an anchor sweep of the user's own recipe costs
  (`advisor recalibrate anchor --with ...`) and bought in the model's leave-one-setup-out validation.
"""
from __future__ import annotations

import math

from advisor.hardware import get_gpu
from advisor.setup_record import CrossSetupRecord, ModeScores
from advisor.setups import from_record

# An anchor sweep of your own recipe, shaped like the anchor preset: 2 sizes x 2 budgets, a 6 x 4 LR x batch
# grid per cell; priced at these sizes (non-embedding) and budgets on H100s at 40% MFU, 6ND FLOPs per run
ANCHOR_SIZES = (5e7, 1.5e8)
ANCHOR_TOKENS_PER_PARAM = (20.0, 40.0)
ANCHOR_GRID = 24
ANCHOR_MFU = 0.4


class SetupError(ValueError):
    """--setup names no setup of the model (one line)."""


def cross_record(fitted) -> CrossSetupRecord | None:
    """The model's cross_setup record (advisor/setup_record.py) when it has laws, else None."""
    record = fitted.provenance_.cross_setup if fitted is not None else None
    return record if record is not None and record.laws is not None else None


def known_setups(record: CrossSetupRecord) -> list[str]:
    return record.setup_names()


def check_setup(fitted, setup: str | None) -> None:
    """SetupError unless `setup` is None or a setup the model was fitted on."""
    if setup is None:
        return
    record = cross_record(fitted)
    if record is None or record.mode != "unknown":
        raise SetupError(f"--setup {setup}: this model was not fitted across setups (the shipped default is); "
                         "pick the model with --model, or drop --setup")
    if setup not in known_setups(record):
        raise SetupError(f"unknown setup {setup!r}; this model's setups: {', '.join(known_setups(record))}")


def evidence(fitted, law: str, point: dict, published: dict, setup: str | None) -> dict | None:
    """{"setup_width", "shift", "values"} for one law at the point, or None for a model without the record."""
    record = cross_record(fitted)
    if record is None:
        return None
    keys = record.published_setups or []
    spread = from_record(record, law, {k: f for k, f in published.items() if k in keys})
    if spread is None:
        return None
    values = spread.values(point)
    if setup is not None:
        return {"setup_width": 0.0, "shift": spread.setup_shift(setup, point), "values": values}
    return {"setup_width": spread.width(point) or 0.0, "shift": 0.0, "values": values}


def summary(fitted, lr_evidence: dict | None, setup: str | None) -> dict | None:
    """Recommendation.setups: the known setups' LR optima at the target, their spread, the anchor's cost."""
    record = cross_record(fitted)
    if record is None or lr_evidence is None:
        return None
    lr = {name: math.exp(v) for name, v in lr_evidence["values"].items()}
    out = {"mode": record.mode, "setup": setup, "lr_at_target": lr,
           "lr_spread": max(lr.values()) / min(lr.values()) if lr else 1.0}
    if record.mode == "unknown" and setup is None:
        out["anchor"] = _anchor(record)
    return out


def _anchor(record: CrossSetupRecord) -> dict:
    """The anchor sweep's command, its rough cost on H100s (ANCHOR_*), and what anchoring bought in leave-one-setup-out (median |log2| LR error, unanchored -> anchored)."""
    names = known_setups(record)
    flops = sum(ANCHOR_GRID * 6.0 * n * r * n for n in ANCHOR_SIZES for r in ANCHOR_TOKENS_PER_PARAM)
    hours = flops / (get_gpu("h100").peak_flops * ANCHOR_MFU) / 3600.0
    loso = (record.leave_one_setup_out.setups or {}) if record.leave_one_setup_out else {}
    bought = []
    for name, row in loso.items():
        un, an = (getattr(getattr(row, m) or ModeScores(), "lr") for m in ("unanchored", "anchored"))
        if un and an and un.median_abs_log2 is not None and an.median_abs_log2 is not None:
            bought.append((name, un.median_abs_log2, an.median_abs_log2))
    command = "advisor recalibrate anchor " + " ".join(f"--with {n}" for n in names)
    return {"command": command, "h100_hours": hours, "loso_lr_median_abs_log2": bought}


DISAGREE_RATIO = 2.0  # known setups' LR optima further apart than this at the target earn a warning


def disagreement_warning(summary_record: dict | None) -> list:
    """`setups_disagree` when the known setups' own LR optima at the target lie more than DISAGREE_RATIO
    apart and the answer is for a setup none of them is: which one yours resembles decides the answer."""
    from advisor.coded_warning import CodedWarning

    if not summary_record or summary_record.get("setup") or summary_record.get("mode") != "unknown":
        return []
    lr = summary_record["lr_at_target"]
    if summary_record["lr_spread"] <= DISAGREE_RATIO:
        return []
    lo, hi = min(lr, key=lr.get), max(lr, key=lr.get)
    anchor = summary_record.get("anchor")  # name the command here: not every output prints a Setups line
    how = f"`{anchor['command']}`" if anchor else "`advisor recalibrate anchor`"
    return [CodedWarning("setups_disagree", (
        f"the known setups' LR optima differ {summary_record['lr_spread']:.2g}× at this target ({lo} {lr[lo]:.2g}, "
        f"{hi} {lr[hi]:.2g}): how far your setup sits from each decides the answer, and the interval's setup part "
        f"says so; a small anchor sweep of your own recipe pins it ({how})"))]


def line(summary_record: dict | None) -> str | None:
    """The one line a text answer prints about setups (None when the model has no cross-setup record)."""
    if not summary_record:
        return None
    lr = summary_record["lr_at_target"]
    each = ", ".join(f"{name} {v:.2g}" for name, v in lr.items())
    if summary_record.get("setup"):
        return (f"Setup: {summary_record['setup']}'s own law (no setup part in the interval); the known setups' LR "
                f"optima here: {each}")
    head = f"Setups: the known setups' LR optima here differ {summary_record['lr_spread']:.2g}× ({each})"
    anchor = summary_record.get("anchor")
    if not anchor:
        return head
    bought = "; ".join(f"{n} {u:.2f}→{a:.2f}" for n, u, a in anchor["loso_lr_median_abs_log2"])
    return (f"{head}; pin yours with `{anchor['command']}` on your own recipe (2 sizes × 2 budgets × 24 runs, "
            f"~{anchor['h100_hours']:.0f} H100-hours at 50M–150M)" + (f": held-out setups' LR error, median "
                                                                        f"|log2|, {bought}" if bought else ""))


def short_lines(rec) -> list[str]:
    """The short answer's rows (advisor/short_answer.py): the known setups' LR optima at the target and how
    far apart they are; for a setup none of them is, the anchor sweep's command and cost (--explain: what it
    bought in leave-one-setup-out)."""
    from advisor.answer_text import lr_text as _lr, row

    record = rec.setups
    if not record:
        return []
    each = ", ".join(f"{name} {_lr(v)}" for name, v in record["lr_at_target"].items())
    if record.get("setup"):
        return [row("setup", f"{record['setup']}'s own law; LR here: {each}")]
    spread = f" ({record['lr_spread']:.2g}× apart)" if len(record["lr_at_target"]) > 1 else ""  # one: no spread
    lines = [row("setups", f"LR here: {each}{spread}")]
    anchor = record.get("anchor")
    if anchor:
        lines.append(row("anchor", f"{anchor['command']}: ~{anchor['h100_hours']:.0f} H100-hours"))
    return lines
