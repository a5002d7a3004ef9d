"""The loss surface L(N, D) = E + A/N^alpha + B/D^beta fitted to the cells' optimal losses.

As in Chinchilla's approach 3 (arXiv 2203.15556, appendix D.2): parameters E, A, B in log form,
a Huber loss (delta 1e-3) on log-loss residuals, and many starting points, keeping the best.
The solver is a Levenberg-Marquardt batched over independent problems (the starting points, or the
bootstrap resamples, which start from the point fit), so all of them cost a few numpy calls.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

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


LM_ITERS = 200


def _huber(r: np.ndarray) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= HUBER_F_SCALE, 0.5 * r * r, HUBER_F_SCALE * (a - 0.5 * HUBER_F_SCALE))


def fit_batched(theta0: np.ndarray, n, d, log_loss: np.ndarray, w) -> tuple[np.ndarray, np.ndarray]:
    """Levenberg-Marquardt with Huber IRLS weights, one independent problem per row.

    theta0 (R, 5) starts; log_loss (m,) or (R, m) targets. Returns (theta (R, 5), Huber cost (R,)).
    Internally the prefactors are taken at the geometric-mean N and D (a - alpha * mean log N) so that
    prefactor and exponent are not nearly collinear.
    """
    log_n, log_d, w = np.log(n), np.log(d), np.asarray(w, float)
    mu_n, mu_d = log_n.mean(), log_d.mean()
    ln, ld = log_n - mu_n, log_d - mu_d
    target = np.broadcast_to(log_loss, (len(theta0), len(ln)))
    lo = np.array([-20.0, -60.0, EXP_BOUNDS[0], -60.0, EXP_BOUNDS[0]])
    hi = np.array([20.0, 60.0, EXP_BOUNDS[1], 60.0, EXP_BOUNDS[1]])
    t = np.array(theta0, float)
    t[:, 1] -= t[:, 2] * mu_n
    t[:, 3] -= t[:, 4] * mu_d
    t = np.clip(t, lo, hi)

    def parts(t):
        e = np.exp(t[:, 0])[:, None] * np.ones_like(ln)
        tn = np.exp(t[:, 1:2] - t[:, 2:3] * ln)
        td = np.exp(t[:, 3:4] - t[:, 4:5] * ld)
        return e, tn, td

    def cost(t):
        e, tn, td = parts(t)
        return (w * _huber(np.log(e + tn + td) - target)).sum(axis=1)

    c = cost(t)
    lam = np.full(len(t), 1e-3)
    for _ in range(LM_ITERS):
        e, tn, td = parts(t)
        s = e + tn + td
        r = np.log(s) - target
        jac = np.stack([e, tn, -ln * tn, td, -ld * td], axis=2) / s[:, :, None]
        ww = w * np.minimum(1.0, HUBER_F_SCALE / np.maximum(np.abs(r), 1e-300))
        g = np.einsum("rmk,rm->rk", jac, ww * r)
        h = np.einsum("rmk,rm,rml->rkl", jac, ww, jac)
        diag = np.einsum("rkk->rk", h) + 1e-12 * (1.0 + np.einsum("rkk->rk", h).max(axis=1, keepdims=True))
        step = np.linalg.solve(h + lam[:, None, None] * diag[:, :, None] * np.eye(5), -g[:, :, None])[:, :, 0]
        trial = np.clip(t + step, lo, hi)
        c_new = cost(trial)
        better = c_new < c
        t[better], lam = trial[better], np.where(better, np.maximum(lam / 3, 1e-9), np.minimum(lam * 4, 1e8))
        done = np.abs(c - c_new) <= 1e-12 * np.maximum(c, 1e-30)
        c = np.where(better, c_new, c)
        if (done | (lam >= 1e8)).all():
            break
    t[:, 1] += t[:, 2] * mu_n
    t[:, 3] += t[:, 4] * mu_d
    return t, c


def _starts(n: np.ndarray, d: np.ndarray, loss: np.ndarray):
    """A grid of starting points: E a fraction of the best loss, the rest split between the terms."""
    lmin, nmid, dmid = loss.min(), np.exp(np.log(n).mean()), np.exp(np.log(d).mean())
    for e_frac, alpha, beta, split in itertools.product((0.2, 0.5, 0.8), (0.1, 0.35, 0.8),
                                                        (0.1, 0.35, 0.8), (0.25, 0.75)):
        rest = (1 - e_frac) * lmin
        yield np.array([np.log(e_frac * lmin), np.log(split * rest) + alpha * np.log(nmid), alpha,
                        np.log((1 - split) * rest) + beta * np.log(dmid), beta])


def at_bounds(values: np.ndarray, samples: np.ndarray | None, min_loss: float) -> list[str]:
    """Parameters the data do not determine: E driven to ~0 or an exponent on its search bound, in the
    point fit or in more than a fifth of the bootstrap resamples."""
    def stuck(v: np.ndarray) -> np.ndarray:  # rows of (E, A, alpha, B, beta) -> (rows, 3) E, alpha, beta
        v = np.atleast_2d(v)
        exps = v[:, [2, 4]]
        edge = (exps <= EXP_BOUNDS[0] * 1.001) | (exps >= EXP_BOUNDS[1] * 0.999)
        return np.column_stack([v[:, 0] < 0.01 * min_loss, edge])

    out = []
    point = stuck(values)[0]
    frac = stuck(samples).mean(axis=0) if samples is not None and len(samples) else np.zeros(3)
    for k, name in enumerate(("E", "alpha", "beta")):
        if point[k] or frac[k] > 0.2:
            what = "near zero" if k == 0 else "on its search bound"
            out.append(f"{name} {what} in the point fit" if point[k] else
                       f"{name} {what} in {100 * frac[k]:.0f}% of bootstrap resamples")
    return out


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
    for name, values in (("model sizes (N)", n), ("token budgets (D)", d)):
        distinct = len(np.unique(np.round(np.log(values) / np.log1p(0.05))))
        if distinct < 3:
            return None, f"needs at least 3 distinct {name} to determine its exponent, has {distinct}"
    thetas, costs = fit_batched(np.array(list(_starts(n, d, loss))), n, d, np.log(loss), w)
    best = thetas[np.argmin(costs)]
    resid = surface(best, n, d) - loss
    sd = float(np.sqrt((w * resid**2).sum() / w.sum() * len(n) / max(len(n) - 5, 1)))
    return SurfaceFit(unpack(best), sd, int(len(n))), None


def bootstrap_surface(fit: SurfaceFit, n, d, loss_samples: np.ndarray, w) -> np.ndarray:
    """Refit each row of loss_samples (R, m) from the point fit; returns (R, 5) parameter values."""
    n, d, w = (np.asarray(a, float) for a in (n, d, w))
    use = w > 0
    theta0 = np.repeat(pack(fit.values)[None, :], len(loss_samples), 0)
    thetas, _ = fit_batched(theta0, n[use], d[use], np.log(loss_samples[:, use]), w[use])
    return np.array([unpack(t) for t in thetas])
