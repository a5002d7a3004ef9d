"""Bootstrap of the whole chain: resample trials within each cell, re-estimate every cell's optimum,
then refit the laws on each resample's optima (laws_fit.huber_fit takes all resamples at once).

Resampling trials captures the noise of each cell's optimum, not how far real cells sit off a power
law. When the law's residuals are wider than that noise, the excess variance is added to each
resample's optima as independent per-cell normal draws (a random-effects view of lack of fit), so
the intervals also cover the law's misfit. Without it, on synthetic sweeps whose cells scatter
0.15 (ln) around the law, 90% intervals covered the truth only about half the time.

A resample of n trials drawn with replacement is the same as multinomial counts over the trials;
counts enter the local fit as weights, so one batched solve handles all resamples of a cell.
"""
from __future__ import annotations

import numpy as np

from calibration.fit.table import Cell
from calibration.fit.laws import LawFit, huber_fit
from calibration.fit.optimum import CellOptimum, Method, local_optimum
from calibration.fit.profile import profile_resample


def resample_optima(cells: list[Cell], optima: list[CellOptimum], n_boot: int,
                    rng: np.random.Generator, progress: bool = False):
    """Bootstrap optima: three (n_boot, n_cells) arrays of log LR, log batch and loss."""
    from tqdm import tqdm

    shape = (n_boot, len(cells))
    log_lr, log_b, loss = np.empty(shape), np.empty(shape), np.empty(shape)
    for j, (cell, opt) in enumerate(tqdm(list(zip(cells, optima)), desc="bootstrap", unit="cell",
                                         disable=not progress, leave=False)):
        if opt.method is Method.PROFILE:  # coordinate-descent cell: its own bootstrap (profile.py)
            log_lr[:, j], log_b[:, j], loss[:, j] = profile_resample(opt, n_boot, rng)
            continue
        counts = resample_counts(cell.n_trials, n_boot, rng)
        fits = local_optimum(cell, counts, opt.geometry)
        log_lr[:, j], log_b[:, j], loss[:, j] = fits.log_lr, fits.log_batch, fits.loss
    return log_lr, log_b, loss


def resample_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) multiplicities of n trials drawn with replacement (a multinomial, but faster)."""
    draws = rng.integers(0, n, size=(n_boot, n)) + n * np.arange(n_boot)[:, None]
    return np.bincount(draws.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(float)


def bootstrap_law(fit: LawFit, x: np.ndarray, y: np.ndarray, w: np.ndarray, y_samples: np.ndarray,
                  rng: np.random.Generator) -> None:
    """Fill fit.samples (R, k) from optima samples (R, m), adding between-cell scatter (module doc)."""
    use = w > 0
    within = float(np.mean(np.var(y_samples[:, use], axis=0)))
    extra = max(fit.residual_sd**2 - within, 0.0)
    fit.cell_scatter_sd = float(np.sqrt(extra))
    jitter = fit.cell_scatter_sd * rng.standard_normal(y_samples.shape) if extra > 0 else 0.0
    fit.samples = huber_fit(x, y_samples + jitter, w)
