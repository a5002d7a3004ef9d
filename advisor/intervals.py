"""90% intervals at a target, built from the uncertainties that matter there (docs/fitting.md, "Intervals").

Each component is a pair of half-widths in natural-log space, below and above the point:

- sampling: the bootstrap of the chosen law form (trials resampled, optima and law refitted), widened
  in quadrature by the law's cell-level residual scatter;
- law form: (a) forms that predict held-out sizes nearly as well as the chosen one (leave-one-size-out
  |log2 error| within FORM_TOLERANCE_LOG2 of it; also the source authors' own published law when its
  error on our cells is that good) disagree far from the data: the interval reaches each of them;
  (b) an exponent measured over a short range must not rule far beyond it: beyond the fitted range, each
  bootstrap exponent's deviation is scaled by (distance extrapolated / range measured) when that ratio
  exceeds 1, and the excess over the plain bootstrap is added;
- setup: the optimum depends on data, tokenizer and architecture, not only N and D. When the model was
  fitted on someone else's setup, the interval reaches as far as the independent published laws sit from
  the point at this target (symmetrically: we do not know on which side a new setup falls).

The total is the quadrature sum per side (the components are treated as independent).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

Z90 = 1.6448536269514722  # two-sided 90% normal quantile
# Forms whose leave-one-size-out |log2 error| is within this of the best (a factor 1.19 on held-out
# sizes) are indistinguishable at the fitted scale; their disagreement far away is form uncertainty.
FORM_TOLERANCE_LOG2 = 0.25
COMPONENTS = ("sampling", "law_form", "setup")


@dataclass(frozen=True)
class Spread:
    """Half-widths in natural-log space below and above a point."""

    below: float = 0.0
    above: float = 0.0

    @staticmethod
    def quadrature(*spreads: "Spread") -> "Spread":
        return Spread(math.hypot(*(s.below for s in spreads)) if spreads else 0.0,
                      math.hypot(*(s.above for s in spreads)) if spreads else 0.0)

    @staticmethod
    def reaching(log_point: float, log_values: Sequence[float]) -> "Spread":
        """The smallest spread that reaches every value."""
        return Spread(max([0.0] + [log_point - v for v in log_values]),
                      max([0.0] + [v - log_point for v in log_values]))

    @staticmethod
    def symmetric(width: float) -> "Spread":
        return Spread(width, width)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default) of an already sorted sequence."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def bootstrap_spread(deviations: list[float]) -> Spread:
    """5th-95th percentile of bootstrap deviations from the point (0 when there are none)."""
    if not deviations:
        return Spread()
    devs = sorted(deviations)
    return Spread(max(0.0, -percentile(devs, 5.0)), max(0.0, percentile(devs, 95.0)))


def range_scales(inputs: Sequence[str], point: dict[str, float],
                 fit_range: dict[str, tuple[float, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Per input: the in-range point (clipped to the fitted range) and the exponent scale
    max(1, distance beyond the range / width of the range), both in log space."""
    clipped, scale = {}, {}
    for name in inputs:
        x = math.log(point[name])
        lo, hi = (math.log(v) for v in fit_range.get(name, (point[name], point[name])))
        clipped[name] = min(max(x, lo), hi)
        width = hi - lo
        beyond = abs(x - clipped[name])
        scale[name] = max(1.0, beyond / width) if width > 0 and beyond > 0 else 1.0
    return clipped, scale


def range_deviations(inputs: Sequence[str], coef: Sequence[float], samples: Sequence[Sequence[float]],
                     log_x: dict[str, float], clipped: dict[str, float], scale: dict[str, float]) -> list[float]:
    """`range_deviation` of each sample, the per-input terms looked up once: the same arithmetic in the same
    order, so the same numbers, faster (cold start)."""
    edge = [clipped[n] for n in inputs]
    far = [log_x[n] - clipped[n] for n in inputs]
    scales = [scale[n] for n in inputs]
    c0, rest = coef[0], coef[1:]
    out = []
    for sample in samples:
        at_edge = (sample[0] - c0) + sum((s - c) * e for s, c, e in zip(sample[1:], rest, edge))
        beyond = sum((s - c) * f * k for s, c, f, k in zip(sample[1:], rest, far, scales))
        out.append(at_edge + beyond)
    return out


def range_deviation(inputs: Sequence[str], coef: Sequence[float], sample: Sequence[float],
                    log_x: dict[str, float], clipped: dict[str, float], scale: dict[str, float]) -> float:
    """A bootstrap sample's deviation at the target, its exponents' effect beyond the range scaled."""
    at_edge = (sample[0] - coef[0]) + sum((s - c) * clipped[n] for s, c, n in zip(sample[1:], coef[1:], inputs))
    beyond = sum((s - c) * (log_x[n] - clipped[n]) * scale[n] for s, c, n in zip(sample[1:], coef[1:], inputs))
    return at_edge + beyond


def extrapolated_point(chosen, candidates: Sequence, point: dict[str, float],
                       fit_range: dict[str, tuple[float, float]]) -> float:
    """The log point estimate. Inside the fitted (N, D) range: the chosen form. Beyond it: the chosen form
    at the range's edge, carried to the target by the weighted mean of the candidate forms' increments (the
    chosen one's with weight 1), so that no one form's exponents, measured over a short range, rule far
    beyond it, while a form the held-out test ranked worse barely moves it (`form_weight`). `candidates`
    are (weight, log-value function) pairs, or bare functions (weight 1)."""
    if not candidates or not beyond_range(point, fit_range):
        return chosen(point)
    edge = {name: min(max(point[name], fit_range[name][0]), fit_range[name][1]) for name in ("n_params", "tokens")}
    edge["flops"] = 6.0 * edge["n_params"] * edge["tokens"]
    pairs = [(1.0, chosen)] + [c if isinstance(c, tuple) else (1.0, c) for c in candidates]
    total = sum(w for w, _ in pairs)
    return chosen(edge) + sum(w * (f(point) - f(edge)) for w, f in pairs) / total


def form_weight(best_cv: float | None, cv: float | None, n_cells: int | None) -> float:
    """A candidate form's weight against the chosen one's (1) from their held-out errors: the ratio of their
    pseudo-likelihoods under Laplace errors whose scale is each form's mean |log2| error over the n held-out
    cells, (best / cv)^n (pseudo-Bayesian model averaging on the leave-one-size-out errors). Without errors
    or a cell count nothing can be preferred: 1."""
    if best_cv is None or cv is None or not n_cells or best_cv <= 0 or cv <= 0:
        return 1.0
    return min(1.0, (best_cv / cv) ** n_cells)


def beyond_range(point: dict[str, float], fit_range: dict[str, tuple[float, float]]) -> bool:
    """Whether (N, D) lies outside the fitted range (False when the range does not give both)."""
    if not {"n_params", "tokens"} <= set(fit_range):
        return False
    return any(not fit_range[name][0] <= point[name] <= fit_range[name][1] for name in ("n_params", "tokens"))


def excess(wide: Spread, base: Spread) -> Spread:
    """What `wide` adds to `base` in quadrature (0 where it adds nothing)."""
    return Spread(math.sqrt(max(0.0, wide.below**2 - base.below**2)),
                  math.sqrt(max(0.0, wide.above**2 - base.above**2)))


def form_candidates(best_cv: float | None, others: Sequence[tuple[float | None, object]]) -> list:
    """The other forms that are nearly as good, from (cv_log2_error, form) pairs. Without a CV error for
    the chosen form no form can be preferred, so all count."""
    if best_cv is None:
        return [v for _, v in others]
    return [v for cv, v in others if cv is not None and cv <= best_cv + FORM_TOLERANCE_LOG2]


def weighted_candidates(best_cv: float | None, others: Sequence[tuple[float | None, object]],
                        n_cells: int | None) -> list[tuple[float, object]]:
    """form_candidates with each one's `form_weight` for the point."""
    if best_cv is None:
        return [(1.0, v) for _, v in others]
    return [(form_weight(best_cv, cv, n_cells), v) for cv, v in others
            if cv is not None and cv <= best_cv + FORM_TOLERANCE_LOG2]
