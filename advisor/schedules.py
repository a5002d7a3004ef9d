"""`recommend --schedule cosine|wsd|linear [--decay-frac F]`: the LR schedule to train with, its final LR, and
what it does to the peak LR, each line saying whether it rests on a measurement or on a cited rule.

- cosine: as calibrated (the schedule the LR law was measured under; Step Law's runs: cosine to an absolute
  1e-5), else to 0.1× the peak (Hoffmann et al., arXiv 2203.15556).
- wsd: warmup, the peak held, then a linear cooldown to zero over the last `decay_frac` of the steps (default
  0.2): Hägele et al. (arXiv 2405.18392) found a cooldown of about 20% of training matching cosine's loss.
- linear: warmup, then linear decay to zero over the rest (Bergsma et al., arXiv 2502.15938: decay to zero
  beats cosine to 10%, the more so the more tokens per parameter).

The peak LR: the LR law was measured under the calibrated (cosine) schedule. benchmarks/schedules.py
measures the best peak LR under each schedule against cosine's on the CPU proxies (SCHEDULE_EVIDENCE); the
peak moves by that ratio only where it is larger than the experiment can resolve (MIN_RESOLVED_LOG2, half
its 2× LR grid step), else it is kept and the line says so.
"""
from __future__ import annotations

import math
from dataclasses import replace

from advisor.errors import AdvisorError
from advisor.recipe import Recommendation
from advisor.rules import WEIGHT_DECAY_CALIBRATED

SCHEDULE_NAMES = ("cosine", "wsd", "linear")
DEFAULT_DECAY_FRAC = 0.2
MIN_RESOLVED_LOG2 = 0.5
CITED = {
    "cosine": "cited rule: as calibrated, else to 0.1× peak (Hoffmann et al., arXiv 2203.15556)",
    "wsd": "cited rule: Hägele et al. (arXiv 2405.18392) found a linear cooldown to 0 over ~20% of the steps "
           "matching cosine's loss",
    "linear": "cited rule: linear decay to 0 over the whole run after warmup beat cosine to 10% (Bergsma et al., "
              "arXiv 2502.15938)",
}
# What benchmarks/schedules.py measured on the cpu-default proxies (27.8K and 151K parameters, 250K tokens, one
# seed, 2× LR grid; docs/constraints.md): the best peak LR against cosine's, and the loss against cosine to 0.1×.
# lr_ratio None: the sizes disagree or the optimum sat on the grid's edge, so no shift is resolved.
SCHEDULE_EVIDENCE: dict | None = {
    "wsd": {"lr_ratio": None,
            "text": "best peak LR 1.00× cosine's at 27.8K and ≤ 0.37× at 151K (the grid's low edge: a bound); loss "
                    "−0.23% and −1.79% against cosine to 0.1×; one seed, the sizes disagree: no shift applied"},
    "linear": {"lr_ratio": 0.87,
               "text": "best peak LR 1.00× and 0.76× cosine's at 27.8K and 151K; loss +0.65% and −0.57% against cosine "
                       "to 0.1×; one seed: within half the 2× LR grid step, no shift applied"},
}


def parse_schedule(name, decay_frac) -> tuple[str | None, float | None]:
    """(schedule, decay fraction) from the options; one-line errors for anything else."""
    if name is None:
        if decay_frac is not None:
            raise AdvisorError("--decay-frac goes with --schedule wsd")
        return None, None
    key = str(name).strip().lower()
    if key not in SCHEDULE_NAMES:
        raise AdvisorError(f"--schedule {name!r}: choose one of {', '.join(SCHEDULE_NAMES)}")
    if decay_frac is not None and key != "wsd":
        raise AdvisorError("--decay-frac goes with --schedule wsd (linear decays over the whole run)")
    frac = DEFAULT_DECAY_FRAC if decay_frac is None else float(decay_frac)
    if key == "wsd" and not (0.0 < frac <= 1.0 and math.isfinite(frac)):
        raise AdvisorError(f"--decay-frac {decay_frac} must lie in (0, 1]: the fraction of the steps in the cooldown")
    return key, frac if key == "wsd" else (1.0 if key == "linear" else None)


def peak_factor(schedule: str) -> tuple[float, str]:
    """(factor on the calibrated peak LR, the line that says why)."""
    if schedule == "cosine":
        return 1.0, "kept: the LR law was measured under the calibrated schedule"
    ev = (SCHEDULE_EVIDENCE or {}).get(schedule)
    if not ev:
        return 1.0, "kept: the LR law was measured under cosine; the shift is not measured"
    seen = f"measured on our CPU proxies (benchmarks/schedules.py): {ev['text']}"
    ratio = ev.get("lr_ratio")
    if ratio is None or abs(math.log2(ratio)) < MIN_RESOLVED_LOG2:
        return 1.0, f"kept: {seen}"
    return ratio, f"×{ratio:.2g}: {seen}"


def apply_schedule(rec: Recommendation, schedule: str, decay_frac: float | None) -> tuple[Recommendation, float]:
    """The recommendation under the schedule, and the factor its peak LR moved by."""
    factor, why = peak_factor(schedule)
    if schedule == "cosine":
        final_frac, what = rec.final_lr_frac, f"cosine to {rec.final_lr_frac:.3g}× peak"
    else:
        final_frac = 0.0
        what = (f"WSD: peak held, linear cooldown to 0 over the last {decay_frac:.0%} of the steps (from step "
                f"{int(rec.steps * (1 - decay_frac)):,})" if schedule == "wsd" else "linear decay to 0 after warmup")
    detail = {"schedule": schedule, "decay_frac": decay_frac, "final_lr_frac": final_frac, "peak_lr_factor": factor,
              "shape": what, "shape_source": CITED[schedule], "peak_lr_source": why}
    lr = rec.lr * factor
    scaled = rec.lr_interval.scaled(factor)
    calibrated = rec.rules.get("weight_decay") == WEIGHT_DECAY_CALIBRATED  # else the τ rule: λ keeps τ
    decay, tau = (rec.weight_decay, rec.tau_frac / factor) if calibrated else (rec.weight_decay / factor, rec.tau_frac)
    tolerance = rec.tolerance
    if tolerance and factor != 1.0:
        tolerance = {**tolerance, "lr": {k: [a * factor, b * factor] for k, (a, b) in tolerance["lr"].items()}}
    return replace(rec, schedule=schedule, final_lr=lr * final_frac, final_lr_frac=final_frac, lr=lr,
                   lr_low=rec.lr_low * factor, lr_high=rec.lr_high * factor, lr_interval=scaled, weight_decay=decay,
                   tau_frac=tau, tolerance=tolerance, schedule_detail=detail,
                   rules={**rec.rules, "schedule": f"{what} — {detail['shape_source']}; peak LR {why}"}), factor


def scheduled_ramp(rec: Recommendation, ramp: dict, schedule: str, decay_frac: float | None) -> tuple[Recommendation, dict]:
    """The recommendation and its batch ramp (advisor/ramp.py) under the schedule: each stage's peak LR moves
    by the factor the answer's peak LR moved by."""
    rec, factor = apply_schedule(rec, schedule, decay_frac)
    return rec, {**ramp, "stages": [{**s, "lr": s["lr"] * factor} for s in ramp["stages"]]}


def schedule_lines(rec: Recommendation) -> list[str]:
    d = rec.schedule_detail
    if not d:
        return []
    return [f"               shape: {d['shape']} — {d['shape_source']}", f"               peak LR: {d['peak_lr_source']}"]
