"""The loss surface L(N, D) = E + A/N^alpha + B/D^beta fitted to the cells' optimal losses.

As in Chinchilla's approach 3 (arXiv 2203.15556, appendix D.2): parameters E, A, B in log form,
a Huber loss (delta 1e-3) on log-loss residuals, and many starting points, keeping the best.
Bootstrap resamples start from the point fit (one local refit each), which is what keeps them cheap.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

PARAM_NAMES = ("E", "A", "alpha", "B", "beta")
HUBER_F_SCALE = 1e-3
MIN_CELLS = 6  # five parameters need more than five cells
EXP_BOUNDS = (0.01, 3.0)


@dataclass
class SurfaceFit:
    values: np.ndarray  # E, A, alpha, B, beta
    residual_sd: float  # in nats
    n_cells: int
    samples: np.ndarray | None = None


def surface(theta: np.ndarray, n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """L(N, D) for theta = (log E, log A, alpha, log B, beta)."""
    e, a, alpha, b, beta = theta
    return np.exp(e) + np.exp(a - alpha * np.log(n)) + np.exp(b - beta * np.log(d))


def _solve(theta0, n, d, loss, w):
    sw, log_n, log_d, log_loss = np.sqrt(w), np.log(n), np.log(d), np.log(loss)
    lo = [-20.0, -20.0, EXP_BOUNDS[0], -20.0, EXP_BOUNDS[0]]
    hi = [20.0, 60.0, EXP_BOUNDS[1], 60.0, EXP_BOUNDS[1]]
    theta0 = np.clip(theta0, np.array(lo) + 1e-6, np.array(hi) - 1e-6)

    def terms(t):
        return np.exp(t[0]) + 0 * log_n, np.exp(t[1] - t[2] * log_n), np.exp(t[3] - t[4] * log_d)

    def resid(t):
        return sw * (np.log(sum(terms(t))) - log_loss)

    def jac(t):  # analytic: d log S / d theta = (d S / d theta) / S
        e, tn, td = terms(t)
        cols = np.stack([e, tn, -log_n * tn, td, -log_d * td], axis=1)
        return (sw / (e + tn + td))[:, None] * cols

    return least_squares(resid, theta0, jac=jac, bounds=(lo, hi), loss="huber",
                         f_scale=HUBER_F_SCALE, max_nfev=200)


def _starts(n: np.ndarray, d: np.ndarray, loss: np.ndarray):
    """A grid of starting points: E a fraction of the best loss, the rest split between the terms."""
    lmin, nmid, dmid = loss.min(), np.exp(np.log(n).mean()), np.exp(np.log(d).mean())
    for e_frac, alpha, beta, split in itertools.product((0.2, 0.5, 0.8), (0.1, 0.35, 0.8),
                                                        (0.1, 0.35, 0.8), (0.25, 0.75)):
        rest = (1 - e_frac) * lmin
        yield np.array([np.log(e_frac * lmin), np.log(split * rest) + alpha * np.log(nmid), alpha,
                        np.log((1 - split) * rest) + beta * np.log(dmid), beta])


def unpack(theta: np.ndarray) -> np.ndarray:
    e, a, alpha, b, beta = theta
    return np.array([np.exp(e), np.exp(a), alpha, np.exp(b), beta])


def pack(values: np.ndarray) -> np.ndarray:
    e, a, alpha, b, beta = values
    return np.array([np.log(e), np.log(a), alpha, np.log(b), beta])


def fit_surface(n, d, loss, w) -> tuple[SurfaceFit | None, str | None]:
    """Point fit from many starts. Returns (fit, None) or (None, reason it was skipped)."""
    n, d, loss, w = (np.asarray(a, float) for a in (n, d, loss, w))
    use = w > 0
    if use.sum() < MIN_CELLS:
        return None, f"needs at least {MIN_CELLS} usable cells, has {int(use.sum())}"
    n, d, loss, w = n[use], d[use], loss[use], w[use]
    best = min((_solve(t0, n, d, loss, w) for t0 in _starts(n, d, loss)), key=lambda r: r.cost)
    resid = surface(best.x, n, d) - loss
    sd = float(np.sqrt((w * resid**2).sum() / w.sum() * len(n) / max(len(n) - 5, 1)))
    return SurfaceFit(unpack(best.x), sd, int(len(n))), None


def bootstrap_surface(fit: SurfaceFit, n, d, loss_samples: np.ndarray, w) -> np.ndarray:
    """Refit each row of loss_samples (R, m) from the point fit; returns (R, 5) parameter values."""
    n, d, w = (np.asarray(a, float) for a in (n, d, w))
    use = w > 0
    theta0 = pack(fit.values)
    return np.array([unpack(_solve(theta0, n[use], d[use], row[use], w[use]).x) for row in loss_samples])
