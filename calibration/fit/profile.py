"""Cell optima of coordinate-descent data: a tuned run and two 1-D profiles through it (the LR profile at the
tuned batch, the batch profile at the tuned LR), each read for what it supports.

Such a cell (Marin's sweep; `Cell.profile_centre` set, calibration/fit/table.py) has no LR x batch grid for
the local quadratic of optimum.py to fit: its profiles hold 2 to 5 values on a 2x grid. A profile supports
(ProfileSupport.kind):

- `interior`: the best value has a tried neighbour on each side: the optimum is the vertex of the parabola
  in log x through the best value and its two neighbours (it lies between them); a value, full weight;
- `diverged_beyond`: the best value is the profile's last and the next value out diverged (for the LR, the
  optimum right below a divergence cliff): bracketed within a grid step; a value, down-weighted as in the
  grid fit (BELOW_DIVERGENCE_WEIGHT);
- `upper_bound` ("<= smallest tried"): the best is the smallest value tried; the optimum lies below the
  geometric midpoint of the two smallest (where a convex profile's ends cross), or below the diverged value
  when nothing else trained; `lower_bound` (">= largest tried") likewise. A bound, not a value: it is left
  out of the point fit, and calibration/fit/censored.py makes the laws respect it;
- `not_swept`: one value tried and nothing diverged beside it: no information.

The resolution is the profile's median grid step (`step_log2`: 1.0 for a 2x grid). Everything here is
the same for the point fit and the bootstrap: with 2 to 5 trials per profile, resampling trials would only
move the argmin between grid points; instead a bracketed optimum is drawn uniformly within half a grid step
and the law's bootstrap adds the cells' scatter around the law (calibration/fit/bootstrap.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calibration.fit.optimum import (BELOW_DIVERGENCE_WEIGHT, CellGeometry, CellOptimum, DIVERGENCE_GAP_STEPS, Method,
                                     distinct)
from calibration.fit.table import Cell

LN2 = math.log(2.0)
BOUND_KINDS = ("upper_bound", "lower_bound")
WORDS = {"interior": "interior optimum", "diverged_beyond": "at the profile's end, next value out diverged",
         "upper_bound": "<= smallest tried", "lower_bound": ">= largest tried", "not_swept": "one value tried"}


@dataclass(frozen=True)
class ProfileSupport:
    """What one 1-D profile says about its setting's optimum (natural logs of the setting)."""

    kind: str  # interior | diverged_beyond | upper_bound | lower_bound | not_swept
    log_value: float  # the vertex (interior), else the best value tried
    log_bound: float | None  # bounds: the optimum lies below (upper) or above (lower) this
    n_values: int  # distinct values that trained (diverged ones not counted)
    step_log2: float | None  # median grid step, log2 (1.0: a 2x grid)
    log_tried: tuple[float, float]  # smallest and largest value that trained

    @property
    def is_bound(self) -> bool:
        return self.kind in BOUND_KINDS

    def violated_by(self, log_pred: float) -> bool:
        """A prediction on the wrong side of this bound (never, for a value)."""
        if self.kind == "upper_bound":
            return log_pred > self.log_bound + 1e-12
        if self.kind == "lower_bound":
            return log_pred < self.log_bound - 1e-12
        return False

    def words(self) -> str:
        step = f", {2 ** self.step_log2:.3g}x steps" if self.step_log2 else ""
        bound = ""
        if self.is_bound:
            side = "below" if self.kind == "upper_bound" else "above"
            bound = f"; the optimum lies {side} {math.exp(self.log_bound):.4g}"
        return f"{WORDS[self.kind]} ({self.n_values} values{step}){bound}"

    def to_json(self) -> dict:
        out = {"support": self.kind, "value": float(f"{math.exp(self.log_value):.6g}"),
               "values": self.n_values, "tried": [float(f"{math.exp(v):.6g}") for v in self.log_tried]}
        if self.log_bound is not None:
            out["bound"] = float(f"{math.exp(self.log_bound):.6g}")
        if self.step_log2 is not None:
            out["step_log2"] = round(self.step_log2, 4)
        return out


def profile_support(log_x: np.ndarray, loss: np.ndarray, diverged_log_x: np.ndarray) -> ProfileSupport:
    """Read one profile: its trained values (mean loss over repeats) and the values that diverged."""
    xs = distinct(log_x)
    means = np.array([loss[np.isclose(log_x, x)].mean() for x in xs])
    step = float(np.median(np.diff(xs))) if len(xs) > 1 else None
    i = int(np.argmin(means))
    tried = (float(xs[0]), float(xs[-1]))

    def make(kind: str, value: float, bound: float | None = None) -> ProfileSupport:
        return ProfileSupport(kind, float(value), bound, len(xs), None if step is None else step / LN2, tried)

    above, below = diverged_log_x[diverged_log_x > xs[-1] + 1e-9], diverged_log_x[diverged_log_x < xs[0] - 1e-9]
    if len(xs) == 1:
        if len(above) and len(below):
            return make("diverged_beyond", xs[0])
        if len(above):
            return make("upper_bound", xs[0], float(above.min()))
        if len(below):
            return make("lower_bound", xs[0], float(below.max()))
        return make("not_swept", xs[0])
    if 0 < i < len(xs) - 1:
        return make("interior", _vertex(xs[i - 1:i + 2], means[i - 1:i + 2]))
    near = DIVERGENCE_GAP_STEPS * step + 1e-9
    if i == len(xs) - 1:
        if len(above) and above.min() - xs[-1] <= near:
            return make("diverged_beyond", xs[-1])
        return make("lower_bound", xs[-1], float((xs[-2] + xs[-1]) / 2))
    if len(below) and xs[0] - below.max() <= near:
        return make("diverged_beyond", xs[0])
    return make("upper_bound", xs[0], float((xs[0] + xs[1]) / 2))


def _vertex(x: np.ndarray, y: np.ndarray) -> float:
    """Vertex of the parabola through three points whose middle one is lowest (it lies between the outer two)."""
    a, b, _ = parabola(x, y, 0.0, 1.0)
    if a <= 0:  # three equal losses: no curvature, keep the best point
        return float(x[1])
    return float(np.clip(-b / (2 * a), x[0], x[2]))


def parabola(x: np.ndarray, y: np.ndarray, centre: float, scale: float) -> np.ndarray:
    """(a, b, c) of y = a u^2 + b u + c through three points, u = (x - centre) / scale."""
    u = (np.asarray(x, float) - centre) / scale
    return np.linalg.solve(np.stack([u * u, u, np.ones(3)], axis=1), np.asarray(y, float))


def profile_optimum(cell: Cell, near_optimal: float = 0.0025) -> CellOptimum:
    """A coordinate-descent cell's optimum: each setting from its own profile through the tuned run, with
    the profiles' support recorded (`lr_profile`, `batch_profile`), flags and law weights."""
    cx, cy = cell.profile_centre
    on_lr, on_batch = np.isclose(cell.log_batch, cy), np.isclose(cell.log_lr, cx)
    lr = profile_support(cell.log_lr[on_lr], cell.loss[on_lr],
                         cell.diverged_log_lr[np.isclose(cell.diverged_log_batch, cy)])
    batch = profile_support(cell.log_batch[on_batch], cell.loss[on_batch],
                            cell.diverged_log_batch[np.isclose(cell.diverged_log_lr, cx)])
    hx = lr.step_log2 * LN2 if lr.step_log2 else 1.0
    slice_coef, window, loss = _lr_curve(cell, on_lr, lr, cx, cy, hx)
    best = float(cell.loss.min())
    opt = CellOptimum(
        log_lr=lr.log_value, log_batch=batch.log_value, loss=loss, method=Method.PROFILE,
        geometry=CellGeometry("1d", hx, np.inf, len(distinct(cell.log_lr)), len(distinct(cell.log_batch))),
        coef=np.zeros(3), slice_coef=slice_coef, window=window, centre=(cx, cy), best_loss=best,
        near_optimal_lr=_band(cell.log_lr[on_lr], cell.loss[on_lr], near_optimal),
        near_optimal_batch=_band(cell.log_batch[on_batch], cell.loss[on_batch], near_optimal),
        lr_profile=lr, batch_profile=batch)
    opt.weight_lr, lr_flags = _weight_and_flags("lr", "LR", lr)
    opt.weight_batch, batch_flags = _weight_and_flags("batch", "batch", batch)
    opt.flags += lr_flags + batch_flags
    return opt


def _lr_curve(cell: Cell, on_lr: np.ndarray, lr: ProfileSupport, cx: float, cy: float, hx: float):
    """The LR profile's parabola (in u = (log LR - cx) / hx) around an interior optimum, the window it
    holds in, and the cell's optimal loss (the vertex's, else the best tried on the profile)."""
    x, y = cell.log_lr[on_lr], cell.loss[on_lr]
    xs = distinct(x)
    means = np.array([y[np.isclose(x, v)].mean() for v in xs])
    i = int(np.argmin(means))
    if lr.kind != "interior":
        return np.zeros(3), (float(xs[0]), float(xs[-1]), cy, cy), float(means[i])
    a, b, c = parabola(xs[i - 1:i + 2], means[i - 1:i + 2], cx, hx)
    u = (lr.log_value - cx) / hx
    return np.array([c, b, a]), (float(xs[i - 1]), float(xs[i + 1]), cy, cy), float(a * u * u + b * u + c)


def _band(log_x: np.ndarray, loss: np.ndarray, near_optimal: float) -> tuple[float, float]:
    near = loss <= loss.min() * (1.0 + near_optimal)
    return float(np.exp(log_x[near].min())), float(np.exp(log_x[near].max()))


def _weight_and_flags(law: str, what: str, support: ProfileSupport) -> tuple[float, list[str]]:
    """A profile's weight in its law's point fit, and the flags that say why (codes before the colon)."""
    if support.kind == "interior":
        return 1.0, []
    if support.kind == "diverged_beyond":
        code = "lr_below_divergence" if law == "lr" else f"{law}_next_to_divergence"
        return BELOW_DIVERGENCE_WEIGHT, [f"{code}: {support.words()}"]
    if support.kind == "not_swept":
        return 0.0, [f"{law}_not_swept: {support.words()}; no {what} information, left out"]
    return 0.0, [f"{law}_bound: {support.words()}; a bound, not a value (censored in the {what} law fit)"]


def profile_resample(opt: CellOptimum, n_boot: int, rng: np.random.Generator):
    """Bootstrap optima of a profile cell: (log LR, log batch, loss), each (n_boot,). A bracketed optimum
    (diverged_beyond) is drawn uniformly within half a grid step of its value; every other stays at its
    (possibly bound-activated) value: the law's bootstrap adds the scatter around the law."""
    def draw(support: ProfileSupport, value: float) -> np.ndarray:
        if support.kind == "diverged_beyond" and support.step_log2:
            return value + rng.uniform(-0.5, 0.5, n_boot) * support.step_log2 * LN2
        return np.full(n_boot, value)

    return draw(opt.lr_profile, opt.log_lr), draw(opt.batch_profile, opt.log_batch), np.full(n_boot, opt.loss)
