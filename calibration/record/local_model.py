"""The local model the fit puts through one cell's trials (calibration/fit/optimum.py), as much of it as a
sweep must know to plan a cell the fit can read: which model a cell's batch values give, its coefficients,
the LR values its cubic term needs, and so the fewest trials a cell's fit trusts. The fit applies it and a
search sizes its budget by it (calibration/sweep/search.py); it sits below both so the sweep does not import
the fit.
"""
from __future__ import annotations

CUBIC = True  # model the LR asymmetry with a u^3 term (optimum._minimum)
MIN_LR_VALUES_CUBIC = 5  # distinct LRs before the cubic term is fitted
COEFFICIENTS = {"2d": 6, "1d": 3, "1d+offset": 4}  # of each local model, without the cubic term


def model_for(n_batch: int) -> str:
    """"2d": quadratic in (log LR, log batch) from 3 batch values; "1d+offset": in log LR plus a batch offset
    with 2; "1d": in log LR only with one."""
    return "2d" if n_batch >= 3 else "1d+offset" if n_batch == 2 else "1d"


def n_coefficients(model: str, cubic: bool) -> int:
    return COEFFICIENTS[model] + int(cubic)


def min_trials(n_batch: int) -> int:
    """The fewest trials one cell's local fit can rest on: its coefficients + 1 (the fit is trusted only with
    more trials than coefficients) and MIN_LR_VALUES_CUBIC LR values."""
    return max(n_coefficients(model_for(n_batch), cubic=True) + 1, MIN_LR_VALUES_CUBIC)
