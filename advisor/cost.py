"""What a choice costs at the target, from a fitted model's penalty model (advisor/penalty.py): the LR and
batch ranges within a given loss penalty of the recommended optimum, and the penalty of any (LR, batch).

The penalty is measured against the model's optimum at the target (the recommendation's point), so it
says how much worse a choice is expected to train than the recommended one, not than the unknown true
optimum.
"""
from __future__ import annotations

import math

from advisor.penalty import TOLERANCE_PCTS, PenaltyModel, PenaltyPrediction


def offsets(lr: float, batch_tokens: float, lr_opt: float, batch_opt: float) -> tuple[float, float]:
    """(u, v): log2 distances of a choice from the optimum."""
    return math.log2(lr / lr_opt), math.log2(batch_tokens / batch_opt)


def cost_of(penalty: PenaltyModel, n_params: float, tokens: float, lr: float, batch_tokens: float,
            lr_opt: float, batch_opt: float) -> PenaltyPrediction:
    return penalty.predict(n_params, tokens, *offsets(lr, batch_tokens, lr_opt, batch_opt))


def tolerance(penalty: PenaltyModel, n_params: float, tokens: float, lr_opt: float, batch_opt: float,
              batch_rounded: float) -> dict:
    """The LR range (at the optimal batch) and the batch range (at the optimal LR) costing at most each of
    TOLERANCE_PCTS, and what the rounded, practical batch costs."""
    out = {"lr": {}, "batch_tokens": {}}
    for pct in TOLERANCE_PCTS:
        key = f"{pct:g}"
        lo, hi = penalty.tolerance(n_params, tokens, pct, "lr")
        out["lr"][key] = [lr_opt * 2.0 ** lo, lr_opt * 2.0 ** hi]
        lo, hi = penalty.tolerance(n_params, tokens, pct, "batch")
        out["batch_tokens"][key] = [batch_opt * 2.0 ** lo, batch_opt * 2.0 ** hi]
    rounded = cost_of(penalty, n_params, tokens, lr_opt, batch_rounded, lr_opt, batch_opt)
    out["rounded_batch"] = {"batch_tokens": batch_rounded, **rounded.to_dict()}
    out["extrapolated"] = penalty.outside_fit_range(n_params, tokens)
    return out
