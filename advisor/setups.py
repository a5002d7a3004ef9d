"""The setup part of an interval, measured from several setups (a cross-setup or anchored fit's
`provenance.cross_setup` record; calibration/fit/cross_setup.py writes it; docs/fitting.md).

Each known setup has its own law (its prefactor, and its own slope for each input its cells span). At a
target x, setup s sits at v_s(x):

- for a setup none of them is (`mode: unknown`): v_s(x) is s's own law at x; the point is the pooled law
  U(x) (mean prefactor, shared exponents);
- after an anchor sweep of your own (`mode: anchored`): your prefactor is pinned at the anchor a (your cells'
  geometric centre), so only the exponents' spread remains: v_s(x) = U(x) + [own_s(x) - own_s(a)] - [U(x) - U(a)].

Published laws fitted on other teams' own sweeps (DeepSeek LLM's) count as setups too when the record says so.
With k setups, s = sqrt(sum (v_s - U)^2 / (k - 1)) is their spread; the half-width is the 90% prediction bound
for a new setup drawn like them, 1.645 * sqrt(1 + 1/k) * s (`multiplier`: why not Student's t).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from advisor.setup_record import CrossLaw, CrossSetupRecord

Z90 = 1.6448536269514722


def multiplier(k: int) -> float:
    """Half-width of a 90% prediction interval for one more setup, in units of the sd of k setups: the
    normal quantile widened by sqrt(1 + 1/k) for the uncertainty of their mean. Student's t(k-1) in place
    of the normal quantile was measured (leave one setup out) to cover everything at widths of 1e5-1e11:
    docs/fitting.md, "Across setups"."""
    return Z90 * math.sqrt(1.0 + 1.0 / k)


def half_width(values: list[float], center: float) -> float | None:
    """The setup part's half-width (log) from the setups' values at the target; None with fewer than two."""
    k = len(values)
    if k < 2:
        return None
    sd = math.sqrt(sum((v - center) ** 2 for v in values) / (k - 1))
    return multiplier(k) * sd


def linear_law(log_coef, inputs) -> Callable[[dict], float]:
    """log y = c0 + sum c_j log x_j as a function of a point {n_params, tokens, flops}."""
    coef = [float(c) for c in log_coef]
    return lambda p: coef[0] + sum(c * math.log(p[n]) for c, n in zip(coef[1:], inputs))


class SetupSpread:
    """One law's record (`cross_setup.laws.lr`/`batch`, a CrossLaw of advisor/setup_record.py) with the
    published setups' log-value functions."""

    def __init__(self, record: CrossLaw, mode: str, published: dict[str, Callable[[dict], float]]) -> None:
        self.inputs = tuple(record.inputs)
        self.pooled = linear_law(record.pooled_log_coef, self.inputs)
        self.mode = mode
        self.anchor = record.anchor
        self.own_inputs = tuple(record.own or ())  # anchored: the inputs whose slope your cells measured
        setups = record.setups or {}
        self.setups = {name: linear_law(s.log_coef, self.inputs) for name, s in setups.items()}
        self.own = {name: linear_law(s.setup_log_coef, self.inputs) for name, s in setups.items()
                    if s.setup_log_coef is not None}
        self.published = published

    def values(self, point: dict) -> dict[str, float]:
        """Each known setup's log value at the point (see the module doc)."""
        laws = {**self.setups, **self.published}
        if self.mode != "anchored":
            return {name: f(point) for name, f in laws.items()}
        a = _point(self.anchor)
        u = self.pooled(point)
        return {name: u + self._slope_gap(f, a, point) for name, f in laws.items()}

    def _slope_gap(self, f, a: dict, point: dict) -> float:
        """How far setup law f carries from the anchor to the point beyond what the pooled law does, through
        the exponents your fit borrowed (your own measured slopes are yours: `own` inputs contribute 0)."""
        gap = 0.0
        for name in self.inputs:
            if name in self.own_inputs:
                continue
            step = math.log(point[name] / a[name])
            gap += (_slope(f, a, name) - _slope(self.pooled, a, name)) * step
        return gap

    def width(self, point: dict, center: float | None = None) -> float | None:
        center = self.pooled(point) if center is None else center
        return half_width(list(self.values(point).values()), center)

    def setup_shift(self, name: str, point: dict) -> float:
        """Log offset of a known setup's own answer from the pooled law at the point."""
        return self.own[name](point) - self.pooled(point)


def _slope(f, a: dict, name: str, h: float = 0.01) -> float:
    """d log f / d log x_name at a (x_name moved alone; flops follows n_params and tokens: for a C-only law,
    each of N and D moves C), by a central difference (exact for a power law)."""
    def moved(k: float) -> dict:
        p = dict(a)
        p[name] = a[name] * math.exp(k)
        if name in ("n_params", "tokens"):
            p["flops"] = 6.0 * p["n_params"] * p["tokens"]
        return p
    return (f(moved(h)) - f(moved(-h))) / (2 * h)


def _point(p: dict) -> dict:
    return {"n_params": p["n_params"], "tokens": p["tokens"], "flops": 6.0 * p["n_params"] * p["tokens"]}


def from_record(cross: CrossSetupRecord | None, law: str,
                published: dict[str, Callable[[dict], float]]) -> SetupSpread | None:
    """The SetupSpread of one law from a model's cross_setup record (None when it has none for that law)."""
    if cross is None or not cross.laws or law not in cross.laws:
        return None
    return SetupSpread(cross.laws[law], cross.mode or "unknown", published)
