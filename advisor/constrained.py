"""The optimum under a constraint, read from the fitted loss surface around the joint optimum (the penalty
model, advisor/penalty.py): the best peak LR at a fixed batch, the best batch at a fixed LR, and what the
constraint costs in loss against the unconstrained optimum, with its 90% interval.

With u = log2(LR / LR*) and v = log2(B / B*), the penalty surface P(u, v) holds the cross term u·v (a
larger batch wants a larger LR) and the asymmetric LR terms, so the best LR at a batch offset v is
u*(v) = argmin_u P(u, v), and the best batch at an LR offset u is v*(u) = argmin_v P(u, v). The √ rule
(u = v/2), the linear rule (u = v) and a constant LR (u = 0) are fixed slopes; the surface's own slope comes
from the fitted sweep, and `calibration/fit/constrained_validate.py` checks it cell by cell against the rules.

P is searched as the penalty model evaluates it: the running maximum along the ray from the optimum (moving
further out never costs less), here unclipped at zero so that ties inside the flat floor break towards the
surface's minimum. Pure Python.
"""
from __future__ import annotations

import math

from advisor.intervals import percentile
from advisor.penalty import RAY_STEPS, VALIDATED_LOG2, PenaltyModel, PenaltyPrediction, features

SEARCH_LOG2 = VALIDATED_LOG2  # searched within 4× of the joint optimum: where the penalty model is validated
COARSE_STEP = 0.05
FINE_STEP = 0.005
# each bootstrap draw's optimum is searched within 1.5 (log2) of the point's, on its surface without the ray
SAMPLE_SEARCH = {"half_width": 1.5, "coarse": 0.05, "fine": 0.05, "ray": False}
RULES = {"sqrt": 0.5, "linear": 1.0, "constant": 0.0}  # LR ∝ B^slope, anchored at the joint optimum


def _surface(coef, x: list[float]) -> float:
    return sum(c * f for c, f in zip(coef, x))


def _ray_surface(coef, u: float, v: float, ln_n: float, ln_d: float) -> float:
    return max(_surface(coef, features(u * t, v * t, ln_n, ln_d)) for t in RAY_STEPS)


def _argmin(cost, centre: float, half_width: float, coarse: float, fine: float) -> float:
    """The local minimiser of cost nearest `centre` within [centre - half_width, centre + half_width]: walk
    the coarse grid downhill from the centre (a surface fitted near the optimum may fall again far out, and
    its answer is the valley the joint optimum sits in, not a far edge), then a finer grid around it."""
    lo, hi = centre - half_width, centre + half_width
    best, here = centre, cost(centre)
    for step in (coarse, -coarse):
        x, value = best, here
        while lo - 1e-12 <= x + step <= hi + 1e-12 and cost(x + step) < value:
            x, value = x + step, cost(x + step)
        if value < here:
            best, here = x, value
            break
    if fine >= coarse:
        return best
    j = int(round(coarse / fine))
    return min((min(max(best + i * fine, lo), hi) for i in range(-j, j + 1)), key=cost)


def best_offset(coef, ln_n: float, ln_d: float, fixed: str, offset: float,
                centre: float = 0.0, half_width: float = SEARCH_LOG2, coarse: float = COARSE_STEP,
                fine: float = FINE_STEP, ray: bool = True) -> float:
    """The free axis' best log2 offset from the joint optimum when the other is held: fixed "batch" (v =
    offset) returns u*, fixed "lr" (u = offset) returns v*: the minimum of the valley nearest `centre`."""
    if fixed == "batch":
        def cost(u: float) -> float:
            return _ray_surface(coef, u, offset, ln_n, ln_d) if ray else _surface(coef, features(u, offset, ln_n, ln_d))
    else:
        def cost(v: float) -> float:
            return _ray_surface(coef, offset, v, ln_n, ln_d) if ray else _surface(coef, features(offset, v, ln_n, ln_d))
    return _argmin(cost, centre, half_width, coarse, fine)


def constrained_optimum(penalty: PenaltyModel, n_params: float, tokens: float, fixed: str,
                        offset: float) -> dict:
    """The free axis' best offset under the constraint, its 90% interval over the penalty model's bootstrap
    draws, and the cost of the constraint: the penalty of the constrained optimum against the joint one
    (PenaltyPrediction, with its interval).

    The offset is the surface's own argmin, not moved back to the joint optimum: the surface's minimum sits a
    little off the estimated optimum (the estimate leans to the gentler side of an asymmetric landscape, and
    the linear terms carry it), and leaving one cell out on Step Law's rows the argmin predicts the best LR at
    a batch better than the argmin's move from its own value at the optimal batch (0.267 against 0.288
    median |log2| within 4×: calibration/fit/constrained_validate.py). `home` is the argmin at the joint
    optimum's held value, so holding the optimal batch may give an LR a little off the joint optimum's."""
    ln_n, ln_d, _ = penalty._shape_point(n_params, tokens)
    best, home = (best_offset(penalty.coef, ln_n, ln_d, fixed, x) for x in (offset, 0.0))
    draws = sorted(best_offset(s, ln_n, ln_d, fixed, offset, centre=best, **SAMPLE_SEARCH) for s in penalty.samples)
    low, high = (percentile(draws, 5.0), percentile(draws, 95.0)) if draws else (best, best)
    u, v = (best, offset) if fixed == "batch" else (offset, best)
    cost: PenaltyPrediction = penalty.predict(n_params, tokens, u, v)
    return {"offset": best, "offset_low": min(low, best), "offset_high": max(high, best), "cost": cost, "home": home,
            "beyond_validated": abs(offset) > VALIDATED_LOG2 or abs(best) >= SEARCH_LOG2 - 1e-9,
            "at_search_edge": abs(best) >= SEARCH_LOG2 - 1e-9}


def rule_offsets(v: float) -> dict:
    """What the fixed rules say the LR offset is at a batch offset v (log2), anchored at the joint optimum."""
    return {name: slope * v for name, slope in RULES.items()}


def log2_ratio(a: float, b: float) -> float:
    return math.log2(a / b)
