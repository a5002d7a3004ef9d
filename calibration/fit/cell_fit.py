"""One cell's optimum, whatever the shape of its runs: a grid's smooth fit (calibration/fit/optimum.py) or,
for a coordinate-descent source, the fit of its 1-D profiles (calibration/fit/profile.py, which builds on
optimum.py). The one entry point the stages call, so that neither estimator imports the other."""
from __future__ import annotations

from calibration.fit.optimum import CellOptimum, fit_grid_cell
from calibration.fit.profile import profile_optimum
from calibration.fit.table import Cell


def fit_cell(cell: Cell, near_optimal: float = 0.0025) -> CellOptimum:
    """Point estimate of the cell's optimum, with flags, law weights and the near-optimal band; a
    coordinate-descent cell's from its profiles."""
    if cell.profile_centre is not None:
        return profile_optimum(cell, near_optimal)
    return fit_grid_cell(cell, near_optimal)


__all__ = ["fit_cell"]
