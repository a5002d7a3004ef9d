"""Detect a table whose N and D move together (advisor/collinearity.py says why it matters): every size
has one token budget, or log D follows log N within a few percent across the cells the LR law used."""
from __future__ import annotations

import numpy as np

from advisor.collinearity import NDLine

LINE_TOLERANCE = 0.1  # natural-log residual below which log D is a function of log N (10%)


def nd_line(n_params: np.ndarray, tokens: np.ndarray) -> NDLine | None:
    """The line the cells (N and D, one entry per cell used by the laws) lie on, or None when the table
    varies D at some size (several budgets per size, spread beyond LINE_TOLERANCE)."""
    log_n, log_d = np.log(np.asarray(n_params, float)), np.log(np.asarray(tokens, float))
    sizes = np.unique(log_n)
    if len(sizes) < 2:
        return None
    one_budget = all(np.ptp(log_d[log_n == s]) <= LINE_TOLERANCE for s in sizes)
    slope, intercept = np.polyfit(log_n, log_d, 1)
    residual = np.abs(log_d - (intercept + slope * log_n))
    if not one_budget:
        return None
    ratio = np.exp(log_d - log_n)
    fixed_ratio = np.ptp(np.log(ratio)) <= LINE_TOLERANCE
    reason = (f"a fixed {np.median(ratio):.3g} tokens per parameter at every size" if fixed_ratio
              else "one token budget per size")
    return NDLine(float(slope), float(intercept), float(residual.max()), int(len(log_n)), reason)
