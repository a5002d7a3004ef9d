"""The cost of being off: the loss penalty (% over the optimum) of a peak LR and batch size away from the
optimum, with a 90% interval, a risk flag and the LR and batch ranges within a given cost.

The model (fitted by calibration/fit/penalty.py from every cell's runs, docs/fitting.md "The penalty
model") is linear in its coefficients over features of the offsets from the cell's optimum, u = log2(LR /
LR*) and v = log2(B / B*), and of the cell's size and budget, lN = ln(N / N_ref) and lD = ln(D / D_ref):

    penalty % = max(0, Σ_k c_k · f_k(u, v, lN, lD))

with f = u², u²·lD, u²·lN (the LR curvature shrinks with D), u₊², u₊²·lD (steeper above the optimum),
v², v²·lD (batch), u·v (a larger batch wants a larger LR), u₊³ (the high-LR side rises faster than a
parabola), u₊²·v₋ (high LR with a small batch is worst), u₊ = max(u, 0), v₋ = max(-v, 0), and u, v:
a cell's estimated optimum sits a little off the true minimum (on an asymmetric landscape, towards the
gentler side: calibration/fit/optimum.py), and the linear terms carry that offset rather than bending
the curvatures to absorb it. So the predicted penalty of the recommended point is 0, and a small step
from it may be predicted to cost nothing (clipped at 0) where the data say the minimum lies.

Beyond the (N, D) range it was fitted on, the shape is held at its value at the range's edge and the
answer is flagged as extrapolated, as it is for offsets beyond those measured. Pure Python.
"""
from __future__ import annotations

import contextlib
import math
from itertools import chain
from dataclasses import dataclass, field

from advisor.intervals import percentile
from advisor.units import is_number

FEATURES = ("u2", "u2_lD", "u2_lN", "up2", "up2_lD", "v2", "v2_lD", "uv", "up3", "up2_vm", "u", "v")
DEGREES = (2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 1, 1)  # each feature's degree in the offset (u, v): see _ray_max
# A run whose 90% upper bound reaches this penalty cannot be ruled out as costly or failed: "risky".
RISKY_PCT = 3.0
CAP_PCT = 20.0  # penalties above this mean "the run failed or spiked": compared and shown as 20
TOLERANCE_PCTS = (0.25, 1.0)
VALIDATED_LOG2 = 2.0  # the model is checked on runs within 4× of the optimum (calibration/fit/penalty.py)
# The penalty along the ray from the optimum to an offset is the running maximum of the fitted surface:
# moving further from the optimum never costs less (a cubic fitted near the optimum may turn down far out).
RAY_STEPS = tuple(k / 16 for k in range(1, 17))
SCAN_LOG2 = 4.0  # tolerance ranges are searched within 16× of the optimum
SCAN_STEP = 0.01


def features(u: float, v: float, ln_n: float, ln_d: float) -> list[float]:
    """The model's features (FEATURES) of one offset (u, v in log2) at one size and budget."""
    up, vm = max(u, 0.0), max(-v, 0.0)
    return [u * u, u * u * ln_d, u * u * ln_n, up * up, up * up * ln_d, v * v, v * v * ln_d, u * v, up ** 3,
            up * up * vm, u, v]


@dataclass(frozen=True)
class PenaltyPrediction:
    """Predicted penalty in % with its 90% interval; `risky`: the interval reaches RISKY_PCT;
    `extrapolated`: outside the (N, D) range or the offsets the model was fitted on."""

    pct: float
    low: float
    high: float
    risky: bool
    extrapolated: bool
    # beyond the validated offsets (4×) the fitted surface is not trusted: pct is the value at the edge,
    # a lower bound ("at least"), never less than nearer in
    at_least: bool = False

    def to_dict(self) -> dict:
        return {"penalty_pct": self.pct, "penalty_pct_low": self.low, "penalty_pct_high": self.high,
                "risky": self.risky, "extrapolated": self.extrapolated, "penalty_is_lower_bound": self.at_least}


@dataclass
class PenaltyModel:
    """The fitted loss penalty (in %) of an LR and batch away from the optimum, with bootstrap draws."""

    coef: tuple[float, ...]
    samples: list[tuple[float, ...]] = field(default_factory=list)  # bootstrap draws over cells
    ref: dict = field(default_factory=dict)  # n_params, tokens: the centre of lN, lD
    fit_range: dict = field(default_factory=dict)  # n_params, tokens, u, v: [min, max] of the fitted runs
    n_runs: int = 0
    n_cells: int = 0
    validation: dict = field(default_factory=dict)  # leave-one-cell-out figures (calibration/fit/penalty.py)

    def predict(self, n_params: float, tokens: float, u: float, v: float) -> PenaltyPrediction:
        if abs(u) > VALIDATED_LOG2 or abs(v) > VALIDATED_LOG2:
            return self._beyond_edge(n_params, tokens, u, v)
        ln_n, ln_d, inside = self._shape_point(n_params, tokens)
        if u == 0.0 or v == 0.0:  # on an axis (e.g. the rounded batch at the optimal LR): the same numbers, faster
            axis_max, x = (_batch_axis_max, v) if u == 0.0 else (_lr_axis_max, u)
            steps = [x * t for t in RAY_STEPS]
            point = axis_max(self.coef, steps, ln_n, ln_d)
            draws = sorted(axis_max(s, steps, ln_n, ln_d) for s in self.samples) or [point]
        else:
            ray = features(u, v, ln_n, ln_d)  # the ray's features are these times t, t^2 or t^3 (DEGREES)
            point = _ray_max(self.coef, ray)
            draws = sorted(_ray_max(s, ray) for s in self.samples) or [point]
        low, high = min(point, percentile(draws, 5.0)), max(point, percentile(draws, 95.0))
        validated = abs(u) <= VALIDATED_LOG2 and abs(v) <= VALIDATED_LOG2
        # beyond 4× above the optimal LR the sweeps' runs spike or fail: never call that safe
        risky = high >= RISKY_PCT or u > VALIDATED_LOG2
        return PenaltyPrediction(point, low, high, risky, not (inside and validated))

    def _beyond_edge(self, n_params: float, tokens: float, u: float, v: float) -> PenaltyPrediction:
        """An offset beyond the validated 4×: the surface fitted near the optimum may turn down out there
        (a run 100× above the optimal LR is not cheaper than one 4× above), so the answer is the prediction
        at the edge (each offset clipped to ±4×) held as a lower bound: it never falls further out, and its
        90% low is the edge value. The upper end is the extrapolated surface's, and far above the optimal LR,
        where runs spike or diverge, the cap (a failed run)."""
        edge = self.predict(n_params, tokens, *(max(-VALIDATED_LOG2, min(x, VALIDATED_LOG2)) for x in (u, v)))
        if u > VALIDATED_LOG2:
            high = CAP_PCT
        else:
            ln_n, ln_d, _ = self._shape_point(n_params, tokens)
            ray = features(u, v, ln_n, ln_d)
            draws = sorted(_ray_max(s, ray) for s in self.samples) or [_ray_max(self.coef, ray)]
            high = max(edge.high, percentile(draws, 95.0))
        return PenaltyPrediction(edge.pct, edge.pct, high, True if u > VALIDATED_LOG2 else high >= RISKY_PCT, True,
                                 at_least=True)

    def outside_fit_range(self, n_params: float, tokens: float) -> bool:
        """Whether (N, D) lies beyond the range the model was fitted on (its shape is then held at the edge)."""
        return not self._shape_point(n_params, tokens)[2]

    def point(self, n_params: float, tokens: float, u: float, v: float) -> float:
        """The predicted penalty alone (no interval): cheap, for maps."""
        ln_n, ln_d, _ = self._shape_point(n_params, tokens)
        return _ray_max(self.coef, features(u, v, ln_n, ln_d))

    def tolerance(self, n_params: float, tokens: float, max_pct: float, axis: str) -> tuple[float, float]:
        """The range of log2 offsets along one axis ("lr": u at v = 0, "batch": v at u = 0) whose predicted
        penalty stays at most max_pct, as (lowest, highest) log2 offsets from the optimum."""
        ln_n, ln_d, _ = self._shape_point(n_params, tokens)
        axis_max = _lr_axis_max if axis == "lr" else _batch_axis_max

        def cost(step: float) -> float:
            return axis_max(self.coef, [step * t for t in RAY_STEPS], ln_n, ln_d)

        # ranges end where the model stops being validated (4×), whatever the fitted surface says beyond
        return (max(-_first_above(lambda x: cost(-x), max_pct, VALIDATED_LOG2), -VALIDATED_LOG2),
                min(_first_above(cost, max_pct, VALIDATED_LOG2), VALIDATED_LOG2))

    def _shape_point(self, n_params: float, tokens: float) -> tuple[float, float, bool]:
        """lN, lD with N and D held inside the fitted range (the shape is not extrapolated), and whether
        they were inside already."""
        out, inside = [], True
        for name, x in (("n_params", n_params), ("tokens", tokens)):
            lo, hi = self.fit_range.get(name, (x, x))
            clipped = min(max(x, lo), hi)
            inside = inside and clipped == x
            out.append(math.log(clipped / self.ref.get(name, clipped)))
        return out[0], out[1], inside

    def to_json(self) -> dict:
        return {"features": list(FEATURES), "coef": list(self.coef), "samples": [list(s) for s in self.samples],
                "ref": self.ref, "fit_range": {k: list(v) for k, v in self.fit_range.items()},
                "n_runs": self.n_runs, "n_cells": self.n_cells, "validation": self.validation}

    @classmethod
    def from_json(cls, d) -> "PenaltyModel | None":
        """None for a missing entry; ValueError for one this advisor cannot use."""
        if d is None:
            return None
        if not isinstance(d, dict) or list(d.get("features") or []) != list(FEATURES):
            raise ValueError(f"penalty: expected the features {list(FEATURES)}")
        coef = d.get("coef")
        if not (isinstance(coef, list) and len(coef) == len(FEATURES) and all(is_number(c) for c in coef)):
            raise ValueError("penalty.coef must hold one finite number per feature")
        samples = _usable_draws(d.get("samples") or [])
        ranges = {k: tuple(v) for k, v in (d.get("fit_range") or {}).items()
                  if isinstance(v, list) and len(v) == 2 and all(is_number(x) for x in v)}
        ref = {k: v for k, v in (d.get("ref") or {}).items() if is_number(v) and v > 0}
        if not {"n_params", "tokens"} <= set(ref) or not {"n_params", "tokens"} <= set(ranges):
            raise ValueError("penalty: ref and fit_range must give n_params and tokens")
        counts = [d.get(k, 0) for k in ("n_runs", "n_cells")]
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
            raise ValueError("penalty: n_runs and n_cells must be integers")
        return cls(tuple(coef), samples, ref, ranges, counts[0], counts[1],
                   d.get("validation") if isinstance(d.get("validation"), dict) else {})


def _usable_draws(raw) -> list[tuple]:
    """The bootstrap draws that are lists of len(FEATURES) finite numbers, as tuples (others dropped)."""
    if isinstance(raw, list) and set(map(type, raw)) <= {list} and set(map(len, raw)) <= {len(FEATURES)} \
            and set(map(type, chain.from_iterable(raw))) <= {float, int}:
        with contextlib.suppress(OverflowError):  # fsum finite: every draw's numbers are (cold start: in C)
            if math.isfinite(math.fsum(chain.from_iterable(raw))):
                return list(map(tuple, raw))
    return [tuple(s) for s in raw
            if isinstance(s, list) and len(s) == len(FEATURES) and all(is_number(c) for c in s)]


def _first_above(cost, limit: float, enough: float = SCAN_LOG2) -> float:
    """The smallest offset x in [0, SCAN_LOG2] where cost(x) exceeds limit (SCAN_LOG2 when it never does):
    a coarse scan, then bisection to SCAN_STEP (cost rises away from the optimum along each axis). A caller
    that clips the answer at `enough` gets some x >= enough as soon as the scan passes it (cold start)."""
    coarse = 10 * SCAN_STEP
    lo = 0.0
    while lo < SCAN_LOG2 and cost(min(lo + coarse, SCAN_LOG2)) <= limit:
        lo += coarse
        if lo >= enough:
            return min(lo, SCAN_LOG2)
    if lo >= SCAN_LOG2:
        return SCAN_LOG2
    hi = min(lo + coarse, SCAN_LOG2)
    while hi - lo > SCAN_STEP:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if cost(mid) <= limit else (lo, mid)
    return lo


def _ray_max(coef, x: list[float]) -> float:
    """The largest penalty at RAY_STEPS along the ray to the offset whose features are x. Each feature is
    homogeneous in the offset (degree DEGREES[i]: at t·(u, v) it is t^k times its value at (u, v)), so the
    surface along the ray is the cubic a1·t + a2·t² + a3·t³, evaluated here at each step: the same numbers
    as evaluating every feature at every step, at a tenth of the cost (`check --configs` scores 10,000 plans)."""
    a = [0.0, 0.0, 0.0, 0.0]
    for c, f, k in zip(coef, x, DEGREES):
        a[k] += c * f
    return min(max(0.0, _largest_on_steps(a[1], a[2], a[3])), CAP_PCT)


def _largest_on_steps(a1: float, a2: float, a3: float) -> float:
    """max of p(t) = a1·t + a2·t² + a3·t³ over RAY_STEPS (k/16, k = 1..16), without visiting every step:
    between its critical points the cubic is monotonic, so the largest step is an end of the ray or a step
    next to a critical point."""
    def p(t: float) -> float:
        return t * (a1 + t * (a2 + t * a3))

    first, last, n = RAY_STEPS[0], RAY_STEPS[-1], len(RAY_STEPS)
    best = max(p(first), p(last))
    if a3 != 0.0:
        disc = a2 * a2 - 3.0 * a3 * a1
        roots = () if disc < 0 else ((-a2 + math.sqrt(disc)) / (3.0 * a3), (-a2 - math.sqrt(disc)) / (3.0 * a3))
    else:
        roots = (-a1 / (2.0 * a2),) if a2 != 0.0 else ()
    for t in roots:
        if first < t < last:
            k = int(t * n)
            best = max(best, p(k / n), p((k + 1) / n))
    return best


# Along one axis most features are 0: the same products in the same order, the zeros left out (adding 0.0
# changes no sum), so these give the penalty of `features(...)` summed in FEATURES order exactly, at a fraction of its cost (the
# tolerance scan evaluates hundreds of points on every `recommend`: cold start).
# The largest over the ray's steps is taken of the raw sums and clipped once: the clip to [0, CAP_PCT] never
# decreases, so it is the largest of the clipped values, the same number, in one call per ray.
def _lr_axis_max(coef, steps, ln_n: float, ln_d: float) -> float:
    """The largest _penalty at (u, v = 0) over the offsets u in `steps`."""
    c0, c1, c2, c3, c4, c8, c10 = (coef[i] for i in (0, 1, 2, 3, 4, 8, 10))
    best = -math.inf
    for u in steps:
        up = max(u, 0.0)
        total = (c0 * (u * u) + c1 * (u * u * ln_d) + c2 * (u * u * ln_n) + c3 * (up * up)
                 + c4 * (up * up * ln_d) + c8 * up ** 3 + c10 * u)
        if total > best:
            best = total
    return min(max(0.0, best), CAP_PCT)


def _batch_axis_max(coef, steps, ln_n: float, ln_d: float) -> float:
    """The largest _penalty at (u = 0, v) over the offsets v in `steps`."""
    c5, c6, c11 = coef[5], coef[6], coef[11]
    best = max([c5 * (v * v) + c6 * (v * v * ln_d) + c11 * v for v in steps])
    return min(max(0.0, best), CAP_PCT)


def validation_lines(model: "PenaltyModel | None") -> list[str]:
    """The penalty model's leave-one-cell-out figures beside the naive quadratic, as text (fit, show, report)."""
    if model is None:
        return ["penalty model: none (a model fitted before version 2, or too few runs near the optima)"]
    v = model.validation
    lines = [f"penalty model: {model.n_runs} runs within 2× of {model.n_cells} cells' optima"]
    ours, naive = v.get("model", {}), v.get("naive", {})
    for span in ("within_2x", "within_4x"):
        if span in ours and span in naive:
            lines.append(f"  leave one cell out, runs {span.replace('_', ' ')} ({ours[span]['n']}): |error| median "
                         f"{ours[span]['median_abs_pp']:.3f} pp, mean {ours[span]['mean_abs_pp']:.3f} pp (capped at "
                         f"{v.get('cap_pct', CAP_PCT):g}%); naive quadratic {naive[span]['median_abs_pp']:.3f} and "
                         f"{naive[span]['mean_abs_pp']:.3f}")
    if v.get("costly_runs") and "costly_flagged" in v:  # absent when fitted without a bootstrap
        lines.append(f"  runs costing more than {RISKY_PCT:g}%: {v['costly_flagged']} of {v['costly_runs']} flagged "
                     f"risky (and {v['cheap_flagged']} of {v['cheap_runs']} cheaper runs)")
    return lines + end_to_end_lines(v.get("end_to_end"))


def end_to_end_lines(e2e: dict | None) -> list[str]:
    """The end-to-end figures (calibration/fit/constrained_validate.py): each cell predicted from a refit without
    it, read from the predicted optimum as `check` and `recommend --batch` read a target."""
    if not e2e:
        return []
    plan, rows = e2e.get("plan_cost", {}), e2e.get("constrained", {})
    lines = ["  end to end (refit without the cell; `check` each of its runs against the predicted optimum; "
             "measured: excess over the cell's best run, capped):"]
    for span in ("within_2x", "within_4x"):
        if span in plan:
            lines.append(f"    runs {span.replace('_', ' ')} ({plan[span]['n']}): |error| median "
                         f"{plan[span]['median_abs_pp']:.3f} pp, mean {plan[span]['mean_abs_pp']:.3f} pp")
    if plan.get("costly_runs"):
        lines.append(f"    runs costing more than {RISKY_PCT:g}% within 4×: {plan['costly_flagged']} of "
                     f"{plan['costly_runs']} flagged risky")
    for span in ("within_2x", "within_4x"):
        if span in rows:
            r = rows[span]
            lines.append(f"    best LR at a fixed batch, rows {span.replace('_', ' ')} of the optimal batch ({r['n']}): "
                         f"median |log2| surface {r['median_log2_surface']:.3f}, √ rule {r['median_log2_sqrt']:.3f}, "
                         f"linear {r['median_log2_linear']:.3f}, constant LR {r['median_log2_constant']:.3f}; "
                         f"the constraint's cost |error| median {r['median_cost_error_pp']:.3f} pp")
    return lines
