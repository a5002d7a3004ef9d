"""Per-cell optimum: the optimal LR, batch and loss of one (N, D) cell from a smooth local fit.

The grid argmin is noisy and quantised to the grid, so we fit a weighted quadratic in
u = log LR and v = log batch around the best trial (tricube kernel, LOESS-style) and take its
minimum. With 5 or more LR values a u^3 term models the asymmetry of LR landscapes (steeper above the
optimum than below): on synthetic landscapes twice as steep above, it halves the bias of a symmetric
quadratic (-0.29 -> -0.14 in log2) at the cost of more variance on symmetric ones (rms 0.06 -> 0.10).
The local fit is trusted only at a minimum lying inside the trials it used; when it has none, the
LR optimum is taken at the best run's batch, or from the LR slice through the best run, or the argmin
is kept, and the cell is flagged (local_optimum; the stage is the cell's `Method`). The same batched code serves the
point estimate (one row of weights) and the bootstrap (one row per resample, weights = how often
each trial was drawn), so the bootstrap costs a handful of numpy calls per cell.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from calibration.fit.table import Cell
from calibration.record.local_model import CUBIC, MIN_LR_VALUES_CUBIC, model_for, n_coefficients

KERNEL_STEPS = 3.5  # kernel radius in grid steps: points two steps away keep about half weight
KERNEL_MIN_RANGE_FRAC = 0.3  # ... but at least this fraction of the sampled range (irregular sweeps)
LOSS_GATE = 0.10  # ignore trials more than 10% worse than the best (divergence-side blow-ups)
MIN_LR_VALUES = 3  # fewer distinct LRs: the LR optimum is not identified, the cell is dropped
EDGE_WEIGHT = 0.3  # weight in the law fits of a cell whose optimum sits on the grid edge
# Best LR is the highest that did not diverge and the next LR up diverged: the optimum is bracketed
# (its error is bounded by a grid step, unlike an open edge's), but such cells' optima scatter up to twice
# as much as interior ones on synthetic sweeps (inverse-variance ratio 0.2-0.9): docs/fitting.md.
BELOW_DIVERGENCE_WEIGHT = 0.5
DIVERGENCE_GAP_STEPS = 1.5  # the diverged LR must be the next grid point up (within this many steps)
FALLBACK_WEIGHT = 0.5  # weight of a cell whose local fit was rejected (argmin kept)
RIDGE = 1e-9


class Method(IntEnum):
    """How a cell's optimum was found: the stages of local_optimum, ordered by how much of the optimum the
    local fit determined. The artifact records `label` (docs/fitting.md, "Cell optimum")."""

    ARGMIN = 0  # the best run itself
    LR_SLICE_FIT = 1  # LR from a quadratic through the trials at the best run's batch; batch from the best run
    LOCAL_FIT_LR = 2  # LR from the local model at the best run's batch; batch from the best run
    LOCAL_FIT = 3  # LR and batch from the local model's minimum
    PROFILE = 4  # coordinate-descent cell: each from its 1-D profile through the tuned run (profile.py)

    @property
    def label(self) -> str:
        return self.name.lower()

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class CellGeometry:
    """The local model chosen for a cell from its full design (fixed across bootstrap resamples)."""

    model: str  # "2d": quadratic in (u, v); "1d": in u only; "1d+offset": in u plus a batch offset
    hx: float  # kernel radius in log LR
    hy: float  # kernel radius in log batch (inf when batch is not swept)
    n_lr: int
    n_batch: int
    cubic: bool = False  # add u^3: LR landscapes are steeper on the high side than the low side

    @property
    def n_coef(self) -> int:
        return n_coefficients(self.model, self.cubic)


@dataclass
class CellOptimum:
    """A cell's optimum (natural-log LR and batch), its flags and weights in the law fits."""

    log_lr: float
    log_batch: float
    loss: float
    method: Method
    geometry: CellGeometry
    coef: np.ndarray  # local-fit coefficients (in kernel units around `centre`)
    slice_coef: np.ndarray  # quadratic in u at the centre's batch (method lr_slice_fit)
    window: tuple  # log LR lo, hi, log batch lo, hi of the trials the chosen fit used
    centre: tuple[float, float]
    best_loss: float  # best measured loss (mean over seeds at one grid point)
    near_optimal_lr: tuple[float, float]
    near_optimal_batch: tuple[float, float]
    flags: list = field(default_factory=list)
    weight_lr: float = 1.0
    weight_batch: float = 1.0
    lr_profile: object = None  # profile cells: what the LR profile supports (profile.ProfileSupport)
    batch_profile: object = None


def cell_geometry(cell: Cell) -> CellGeometry:
    """Local model and kernel radii from the cell's distinct LR and batch values."""
    ux, uy = distinct(cell.log_lr), distinct(cell.log_batch)
    hx = _radius(ux)
    hy = _radius(uy) if len(uy) > 1 else np.inf
    return CellGeometry(model_for(len(uy)), hx, hy, len(ux), len(uy), cubic=CUBIC and len(ux) >= MIN_LR_VALUES_CUBIC)


def distinct(a: np.ndarray) -> np.ndarray:
    """The sorted distinct values of a log-scale column, equal when they agree to 9 decimals."""
    return np.unique(np.round(a, 9))


def _radius(values: np.ndarray) -> float:
    if len(values) < 2:
        return 1.0
    step = float(np.median(np.diff(values)))
    return max(KERNEL_STEPS * step, KERNEL_MIN_RANGE_FRAC * float(values[-1] - values[0]))


@dataclass
class LocalFits:
    """Batched result of local_optimum (one row per resample)."""

    log_lr: np.ndarray
    log_batch: np.ndarray
    loss: np.ndarray
    method: np.ndarray  # Method values
    coef: np.ndarray  # (R, k) the local model
    slice_coef: np.ndarray  # (R, 3) the LR slice at the best run's batch
    centre: np.ndarray  # (R, 2) log LR and log batch of the best run
    window: np.ndarray  # (R, 4) log LR lo, hi and log batch lo, hi of the trials the chosen fit used


@dataclass
class _Neighbourhood:
    """Per resample: the cell around its best run, in kernel units (u = log LR, v = log batch, both
    centred on the best run and divided by the kernel radii), with the local model fitted there."""

    centre_lr: np.ndarray  # (R,) log LR of the best run
    centre_batch: np.ndarray  # (R,) log batch of the best run
    best_loss: np.ndarray  # (R,) its mean loss over seeds
    u: np.ndarray  # (R, n) every trial
    v: np.ndarray
    near: np.ndarray  # (R, n) trial counts within LOSS_GATE of the best
    coef: np.ndarray  # (R, k) the local model
    window: np.ndarray  # (R, 4) u lo, hi and v lo, hi of the trials the model used
    top: np.ndarray  # (R,) 1 when the best run is at the largest batch (the "1d+offset" model's offset)
    enough: np.ndarray  # (R,) the model used more trials than it has coefficients

    def model(self, geom: CellGeometry, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.einsum("rk,rk->r", _design_at(geom, u, v, self.top), self.coef)

    def is_lowest(self, geom: CellGeometry, u: np.ndarray, v: np.ndarray, value: np.ndarray) -> np.ndarray:
        """The value is below the model at the window's LR edges (a cubic can have a local minimum that is
        not the lowest point)."""
        u_lo, u_hi = self.window[:, 0], self.window[:, 1]
        return (value <= self.model(geom, u_lo, v) + 1e-12) & (value <= self.model(geom, u_hi, v) + 1e-12)

    def in_lr_window(self, u: np.ndarray) -> np.ndarray:
        return _between(u, self.window[:, 0], self.window[:, 1])


@dataclass
class _Choice:
    """Per resample, the stage that found the optimum so far, in kernel units; starts at the best run."""

    method: np.ndarray
    u: np.ndarray
    v: np.ndarray
    loss: np.ndarray
    window: np.ndarray

    def accept(self, rows: np.ndarray, method: Method, u, loss, v=None, window=None) -> None:
        """Take this stage's answer in `rows`."""
        self.method = np.where(rows, method, self.method)
        self.u, self.loss = np.where(rows, u, self.u), np.where(rows, loss, self.loss)
        if v is not None:
            self.v = np.where(rows, v, self.v)
        if window is not None:
            self.window = np.where(rows[:, None], window, self.window)

    @property
    def unresolved(self) -> np.ndarray:
        return self.method == Method.ARGMIN


def local_optimum(cell: Cell, counts: np.ndarray, geom: CellGeometry) -> LocalFits:
    """Batched local-fit optimum. counts: (R, n) trial multiplicities (ones for the point fit).

    Stages, tried in turn on the resamples the previous ones left at the best run (Method): LOCAL_FIT, LR
    and batch from the local model's minimum; LOCAL_FIT_LR, the model's LR minimum at the best run's
    batch (no batch minimum inside the samples, typically a batch optimum off the grid); LR_SLICE_FIT, a
    quadratic in u through the trials at the best run's batch alone (too few trials near the best for
    the full model); ARGMIN, the best run. A minimum is accepted only inside the trials the fit used and
    below the fit at their LR edges.
    """
    hood = _neighbourhood(cell, np.asarray(counts, dtype=float), geom)
    zero = np.zeros(len(hood.u))
    choice = _Choice(np.full(len(zero), Method.ARGMIN), zero, zero, hood.best_loss, hood.window)
    u, v, loss, ok = _joint_minimum(hood, geom)
    choice.accept(ok, Method.LOCAL_FIT, u, loss, v=v)
    slice_coef = np.zeros((len(zero), 3))
    if geom.model == "2d":  # the fallbacks need a swept batch to fall back from
        u, loss, ok = _lr_minimum_at_best_batch(hood, geom)
        choice.accept(ok & choice.unresolved, Method.LOCAL_FIT_LR, u, loss)
        u, slice_coef, lo, hi, ok = _lr_slice(hood.u, cell.log_batch, hood.centre_batch, hood.near, cell.loss)
        loss = slice_coef[:, 0] + slice_coef[:, 1] * u + slice_coef[:, 2] * u**2
        choice.accept(ok & choice.unresolved, Method.LR_SLICE_FIT, u, loss,
                      window=np.stack([lo, hi, zero, zero], axis=1))
    return _in_log_units(hood, geom, choice, slice_coef)


def _neighbourhood(cell: Cell, counts: np.ndarray, geom: CellGeometry) -> _Neighbourhood:
    """The best run of each resample (the best grid point after averaging its seeds, under the
    resample's counts) and the local model fitted around it (tricube kernel, LOSS_GATE)."""
    x, y, loss = cell.log_lr, cell.log_batch, cell.loss
    mean = _seed_means(cell, counts)
    best = np.argmin(np.where(counts > 0, mean, np.inf), axis=1)
    xc, yc, lbest = x[best], y[best], mean[np.arange(len(best)), best]
    u = (x[None, :] - xc[:, None]) / geom.hx
    v = (y[None, :] - yc[:, None]) / geom.hy if np.isfinite(geom.hy) else np.zeros_like(u)
    near = counts * (loss[None, :] <= lbest[:, None] * (1.0 + LOSS_GATE))
    w = near * _tricube(np.abs(u) if geom.model != "2d" else np.hypot(u, v))
    pos = w > 0
    window = np.stack([*_span(u, pos), *_span(v, pos)], axis=1)
    return _Neighbourhood(xc, yc, lbest, u, v, near, _wls(_design(geom, u, v, y), w, loss), window,
                          top=(yc >= y.max() - 1e-9).astype(float), enough=pos.sum(axis=1) >= geom.n_coef + 1)


def _joint_minimum(hood: _Neighbourhood, geom: CellGeometry):
    """The local model's minimum in (u, v): (u, v, loss, ok); in 1-D models v is 0."""
    u, v, ok = _minimum(geom, hood.coef)
    ok &= hood.enough & hood.in_lr_window(u)
    if geom.model == "2d":
        ok &= _between(v, hood.window[:, 2], hood.window[:, 3])
    value = hood.model(geom, u, v)
    ok &= hood.is_lowest(geom, u, v, value)
    return np.where(ok, u, 0.0), np.where(ok, v, 0.0), value, ok


def _lr_minimum_at_best_batch(hood: _Neighbourhood, geom: CellGeometry):
    """The 2-D local model's minimum in u at the best run's batch (v = 0): (u, loss, ok)."""
    u, ok = _lr_minimum_at_centre(geom, hood.coef)
    zero = np.zeros_like(u)
    ok &= hood.enough & hood.in_lr_window(u)
    value = hood.model(geom, u, zero)
    ok &= hood.is_lowest(geom, u, zero, value)
    return u, value, ok


def _in_log_units(hood: _Neighbourhood, geom: CellGeometry, choice: _Choice, slice_coef: np.ndarray) -> LocalFits:
    """The chosen optima and windows back in log LR and log batch."""
    xc, yc = hood.centre_lr, hood.centre_batch
    hy = geom.hy if np.isfinite(geom.hy) else 0.0
    w = choice.window
    window = np.stack([xc + w[:, 0] * geom.hx, xc + w[:, 1] * geom.hx, yc + w[:, 2] * hy, yc + w[:, 3] * hy], axis=1)
    return LocalFits(log_lr=np.where(choice.method > Method.ARGMIN, xc + choice.u * geom.hx, xc),
                     log_batch=yc + choice.v * hy if geom.model == "2d" else yc, loss=choice.loss,
                     method=choice.method, coef=hood.coef, slice_coef=slice_coef,
                     centre=np.stack([xc, yc], axis=1), window=window)


def _lr_slice(u, y, yc, near, loss):
    """A quadratic in u through the trials at the best run's batch alone. Three trials suffice: the
    parabola through the best run and its neighbours, the classic refinement of an argmin.
    Returns (u minimum (0 where not ok), coefficients (R, 3), u span of the trials used, ok)."""
    w1 = near * _tricube(np.abs(u)) * (np.abs(y[None, :] - yc[:, None]) < 1e-9)
    coef = _wls(np.stack([np.ones_like(u), u, u * u], axis=2), w1, loss)
    with np.errstate(divide="ignore", invalid="ignore"):
        u1 = -coef[:, 1] / (2 * coef[:, 2])
    lo, hi = _span(u, w1 > 0)
    ok = (coef[:, 2] > 0) & ((w1 > 0).sum(axis=1) >= 3) & np.isfinite(u1) & _between(np.nan_to_num(u1), lo, hi)
    return np.where(ok, u1, 0.0), coef, lo, hi, ok


def _span(a: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, min and max of a over the positive-weight entries (0, 0 when there are none)."""
    lo = np.where(pos, a, np.inf).min(axis=1)
    hi = np.where(pos, a, -np.inf).max(axis=1)
    empty = ~pos.any(axis=1)
    return np.where(empty, 0.0, lo), np.where(empty, 0.0, hi)


def _between(s: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return (s >= lo - 1e-9) & (s <= hi + 1e-9)


def _tricube(dist: np.ndarray) -> np.ndarray:
    return np.clip(1.0 - dist**3, 0.0, None) ** 3


def _wls(design: np.ndarray, w: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Batched weighted least squares: design (R, n, k), weights (R, n) -> coefficients (R, k)."""
    xtw = (design * w[:, :, None]).transpose(0, 2, 1)  # (R, k, n)
    a = xtw @ design + RIDGE * np.eye(design.shape[2])  # batched BLAS, faster than einsum here
    return np.linalg.solve(a, (xtw @ loss)[:, :, None])[:, :, 0]


def _design(geom: CellGeometry, u: np.ndarray, v: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(R, n, k) design of the local model; u, v (R, n) in kernel units."""
    top = np.broadcast_to((y >= y.max() - 1e-9).astype(float), u.shape)  # the larger of two batches
    return _columns(geom, u, v, top)


def _design_at(geom: CellGeometry, u: np.ndarray, v: np.ndarray, top: np.ndarray) -> np.ndarray:
    """(R, k) design rows at one point per resample (top: 1 when at the larger of two batches)."""
    return _columns(geom, u[:, None], v[:, None], top[:, None])[:, 0, :]


def _columns(geom: CellGeometry, u, v, top) -> np.ndarray:
    one = np.ones_like(u)
    cols = {"2d": [one, u, v, u * u, u * v, v * v], "1d": [one, u, u * u],
            "1d+offset": [one, u, u * u, top]}[geom.model]
    return np.stack(cols + ([u**3] if geom.cubic else []), axis=-1)


def _minimum(geom: CellGeometry, c: np.ndarray):
    """Minimum of the local model: (u, v, is_minimum).

    Profiling out v (2d: v = -(c2 + c4 u) / (2 c5)) leaves dL/du = A u^2 + B u + C with A = 3 c_cubic;
    the minimum is the root where the profile curves upward, written in the form that stays
    stable as A -> 0 (the quadratic case): u = -2C / (B + sqrt(B^2 - 4AC)).
    """
    k = c.shape[1]
    a = 3 * c[:, k - 1] if geom.cubic else np.zeros(len(c))
    with np.errstate(divide="ignore", invalid="ignore"):
        if geom.model == "2d":
            convex_v = c[:, 5] > 0
            b = 2 * c[:, 3] - c[:, 4] ** 2 / (2 * c[:, 5])
            cc = c[:, 1] - c[:, 4] * c[:, 2] / (2 * c[:, 5])
        else:
            convex_v = np.ones(len(c), bool)
            b, cc = 2 * c[:, 2], c[:, 1]
        disc = b * b - 4 * a * cc
        root = np.sqrt(np.where(disc >= 0, disc, np.nan))
        us = -2 * cc / (b + root)
        vs = -(c[:, 2] + c[:, 4] * us) / (2 * c[:, 5]) if geom.model == "2d" else np.zeros_like(us)
        ok = convex_v & (disc >= 0) & (root > 0) & np.isfinite(us) & np.isfinite(vs)
    return np.where(ok, us, 0.0), np.where(ok, vs, 0.0), ok  # rejected rows: the centre, for finite math


def _lr_minimum_at_centre(geom: CellGeometry, c: np.ndarray):
    """Minimum in u of the 2-D local fit at v = 0: dL/du = 3 c6 u^2 + 2 c3 u + c1 = 0."""
    a = 3 * c[:, 6] if geom.cubic else np.zeros(len(c))
    b, cc = 2 * c[:, 3], c[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        disc = b * b - 4 * a * cc
        root = np.sqrt(np.where(disc >= 0, disc, np.nan))
        u = -2 * cc / (b + root)
        ok = (disc >= 0) & (root > 0) & np.isfinite(u)
    return np.where(ok, u, 0.0), ok


def fit_grid_cell(cell: Cell, near_optimal: float = 0.0025) -> CellOptimum:
    """Point estimate of a grid cell's optimum, with flags, law weights and the near-optimal band (any cell:
    calibration/fit/cell_fit.py fit_cell)."""
    geom = cell_geometry(cell)
    fits = local_optimum(cell, np.ones((1, cell.n_trials)), geom)
    # Repeated seeds are averaged first: the single luckiest seed must not decide edges or the band.
    mean_loss = _seed_means(cell, np.ones((1, cell.n_trials)))[0]
    i_best = int(np.argmin(mean_loss))
    best = float(mean_loss[i_best])
    near = mean_loss <= best * (1.0 + near_optimal)
    opt = CellOptimum(
        log_lr=float(fits.log_lr[0]), log_batch=float(fits.log_batch[0]), loss=float(fits.loss[0]),
        method=Method(int(fits.method[0])), geometry=geom, coef=fits.coef[0], slice_coef=fits.slice_coef[0],
        centre=(float(fits.centre[0, 0]), float(fits.centre[0, 1])), window=tuple(fits.window[0].tolist()),
        best_loss=best,
        near_optimal_lr=(float(np.exp(cell.log_lr[near].min())), float(np.exp(cell.log_lr[near].max()))),
        near_optimal_batch=(float(np.exp(cell.log_batch[near].min())),
                            float(np.exp(cell.log_batch[near].max()))),
    )
    _flag(cell, opt, i_best)
    return opt


def _flag(cell: Cell, opt: CellOptimum, i_best: int) -> None:
    """Record why a cell is weak and set its weights in the LR and batch law fits."""
    geom = opt.geometry
    if geom.n_lr < MIN_LR_VALUES:
        opt.flags.append(f"thin: only {geom.n_lr} LR value(s), LR optimum not identified; dropped")
        opt.weight_lr = opt.weight_batch = 0.0
        return
    same_batch = np.isclose(cell.log_batch, cell.log_batch[i_best])
    sliced = same_batch.sum() >= MIN_LR_VALUES
    lrs = cell.log_lr[same_batch] if sliced else cell.log_lr
    x = cell.log_lr[i_best]
    at_min, at_max = np.isclose(x, lrs.min()), np.isclose(x, lrs.max())
    if at_max and not at_min and _diverged_just_above(cell, x, lrs, cell.log_batch[i_best] if sliced else None):
        opt.flags.append("lr_below_divergence")
        opt.weight_lr *= BELOW_DIVERGENCE_WEIGHT
    elif at_min or at_max:
        opt.flags.append("lr_on_grid_edge")
        opt.weight_lr *= EDGE_WEIGHT
    if geom.n_batch == 1:
        opt.flags.append("batch_not_swept")
        opt.weight_batch = 0.0
    elif geom.n_batch == 2:
        opt.flags.append("thin_batch: only 2 batch sizes, batch optimum not identified")
        opt.weight_batch = 0.0
    else:
        same_lr = np.isclose(cell.log_lr, cell.log_lr[i_best])
        bs = cell.log_batch[same_lr] if same_lr.sum() >= 3 else cell.log_batch
        if np.isclose(cell.log_batch[i_best], bs.min()) or np.isclose(cell.log_batch[i_best], bs.max()):
            opt.flags.append("batch_on_grid_edge")
            opt.weight_batch *= EDGE_WEIGHT
    if opt.method is Method.ARGMIN:
        opt.flags.append("argmin_fallback: local fit not convex or its minimum off the samples")
        opt.weight_lr *= FALLBACK_WEIGHT
        opt.weight_batch *= FALLBACK_WEIGHT
    elif opt.method in (Method.LOCAL_FIT_LR, Method.LR_SLICE_FIT):
        opt.flags.append("batch_from_best_run: the local fit has no batch minimum inside the samples")
        opt.weight_batch *= FALLBACK_WEIGHT


def _diverged_just_above(cell: Cell, x: float, lrs: np.ndarray, log_batch: float | None) -> bool:
    """A diverged trial (at log_batch, or at any batch when None) lies above log LR x, no farther
    than DIVERGENCE_GAP_STEPS of the widest step between the ok LRs: no untried grid point in between."""
    d = cell.diverged_log_lr
    if log_batch is not None:
        d = d[np.isclose(cell.diverged_log_batch, log_batch)]
    above = d[d > x + 1e-9]
    steps = np.diff(distinct(lrs))
    return bool(above.size and steps.size and above.min() - x <= DIVERGENCE_GAP_STEPS * steps.max() + 1e-9)


def regret(cell: Cell, opt: CellOptimum, log_lr: float, log_batch: float) -> dict:
    """Loss at a setting over the cell's optimal loss, minus one, both read the same way: through the
    local fit (over its fitted optimum) or from the measured grid (over the best measured mean)."""
    value, outside, via_fit = read_loss(cell, opt, log_lr, log_batch)
    reference = opt.loss if via_fit else float(_grid_means(cell)[1].min())
    return {"loss_at_pred": value, "loss_ref": reference, "regret_pct": 100.0 * (value / reference - 1.0),
            "outside_grid": outside, "read_through": "local fit" if via_fit else "measured grid"}


def read_loss(cell: Cell, opt: CellOptimum, log_lr: float, log_batch: float) -> tuple[float, bool, bool]:
    """The cell's loss at a setting, read through the smooth fit.

    Within the trials a trusted local fit used: the local fit. Elsewhere: linear interpolation of the
    measured landscape (mean over repeats), clamped to the nearest measured point outside it.
    Returns (loss, outside_grid, read_through_the_fit).
    """
    geom = opt.geometry
    x_lo, x_hi = cell.log_lr.min(), cell.log_lr.max()
    y_lo, y_hi = cell.log_batch.min(), cell.log_batch.max()
    if geom.model != "2d":
        log_batch = opt.log_batch  # batch is not resolved: read the LR curve at the cell's batch
    outside = bool(log_lr < x_lo - 1e-9 or log_lr > x_hi + 1e-9 or
                   (geom.model == "2d" and (log_batch < y_lo - 1e-9 or log_batch > y_hi + 1e-9)))
    u = (log_lr - opt.centre[0]) / geom.hx
    v = (log_batch - opt.centre[1]) / geom.hy if np.isfinite(geom.hy) else 0.0
    lo_x, hi_x, lo_y, hi_y = opt.window
    in_window = lo_x - 1e-9 <= log_lr <= hi_x + 1e-9 and (geom.model != "2d" or lo_y - 1e-9 <= log_batch <= hi_y + 1e-9)
    sliced = opt.method is Method.LR_SLICE_FIT or (opt.method is Method.PROFILE and opt.slice_coef.any())
    if sliced and in_window:
        return float(opt.slice_coef @ [1.0, u, u * u]), outside, True
    if opt.method in (Method.LOCAL_FIT, Method.LOCAL_FIT_LR) and in_window:
        top = np.array([float(opt.centre[1] >= cell.log_batch.max() - 1e-9)])
        return float(_design_at(geom, np.array([u]), np.array([float(v)]), top)[0] @ opt.coef), outside, True
    return _interpolate(cell, opt, log_lr, log_batch, geom.model == "2d"), outside, False


def _interpolate(cell: Cell, opt: CellOptimum, log_lr: float, log_batch: float, two_d: bool) -> float:
    """Along LR within each measured batch (mean over repeats, clamped at the ends), then linearly in
    log batch between the two batches that bracket the query (clamped)."""
    batches = distinct(cell.log_batch)
    if not two_d:  # the LR curve at the cell's batch (a profile cell's: the tuned run's, where its LR profile lies)
        at = opt.centre[1] if opt.method is Method.PROFILE else opt.log_batch
        batches = batches[[np.argmin(np.abs(batches - at))]]
    values = []
    for b in batches:
        at = np.isclose(cell.log_batch, b)
        xs = distinct(cell.log_lr[at])
        means = np.array([cell.loss[at][np.isclose(cell.log_lr[at], x)].mean() for x in xs])
        values.append(np.interp(log_lr, xs, means))
    return float(np.interp(log_batch, batches, values))


def nearest_run_regret(cell: Cell, log_lr: float, log_batch: float) -> float:
    """Model-free regret in percent: the measured grid point nearest to (log LR, log batch) (mean over its
    seeds) against the best grid point. Coarse (a grid step can cost more than the prediction's error),
    but it reads no fit, so it is the plain check of a prediction against the sweep."""
    points, means = _grid_means(cell)
    nearest = np.argmin(np.hypot(points[:, 0] - log_lr, points[:, 1] - log_batch))
    return float(100.0 * (means[nearest] / means.min() - 1.0))


def _grid_means(cell: Cell) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (log LR, log batch) points of the cell and the mean loss at each."""
    uniq, inv = _grid_points(cell)
    return uniq, np.bincount(inv, weights=cell.loss) / np.bincount(inv)


def _seed_means(cell: Cell, counts: np.ndarray) -> np.ndarray:
    """(R, n): each trial's loss replaced by the count-weighted mean over the trials at its (LR, batch)
    grid point (seeds), per row of trial multiplicities."""
    _, inv = _grid_points(cell)
    member = np.eye(inv.max() + 1)[inv]  # (n, G)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = (counts * cell.loss[None, :]) @ member / (counts @ member)
    return means[:, inv]


def _grid_points(cell: Cell) -> tuple[np.ndarray, np.ndarray]:
    pts = np.round(np.stack([cell.log_lr, cell.log_batch], axis=1), 9)
    uniq, inv = np.unique(pts, axis=0, return_inverse=True)
    return uniq, inv.ravel()
