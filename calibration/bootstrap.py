"""Bootstrap of the whole chain: resample trials within each cell, re-estimate every cell's optimum,
then refit the laws on each resample's optima (laws_fit.huber_fit takes all resamples at once).

A resample of n trials drawn with replacement is the same as multinomial counts over the trials;
counts enter the local fit as weights, so one batched solve handles all resamples of a cell.
"""
from __future__ import annotations

import numpy as np

from calibration.fit_table import Cell
from calibration.optimum import CellOptimum, local_optimum


def resample_optima(cells: list[Cell], optima: list[CellOptimum], n_boot: int,
                    rng: np.random.Generator, progress: bool = False):
    """Bootstrap optima: three (n_boot, n_cells) arrays of log LR, log batch and loss."""
    from tqdm import tqdm

    shape = (n_boot, len(cells))
    log_lr, log_b, loss = np.empty(shape), np.empty(shape), np.empty(shape)
    for j, (cell, opt) in enumerate(tqdm(list(zip(cells, optima)), desc="bootstrap", unit="cell",
                                         disable=not progress, leave=False)):
        counts = resample_counts(cell.n_trials, n_boot, rng)
        x, y, c, _, _, _ = local_optimum(cell, counts, opt.geometry)
        log_lr[:, j], log_b[:, j], loss[:, j] = x, y, c
    return log_lr, log_b, loss


def resample_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) multiplicities of n trials drawn with replacement (a multinomial, but faster)."""
    draws = rng.integers(0, n, size=(n_boot, n)) + n * np.arange(n_boot)[:, None]
    return np.bincount(draws.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(float)
