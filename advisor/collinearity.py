"""N and D that the calibration moved together: what a fitted model can and cannot separate.

A table with one token budget per size, or a fixed tokens-per-parameter ladder (D = 20·N at every size),
puts every cell on one line log D = intercept + slope·log N. Along that line the laws are measured;
across it they are not: the data cannot tell N's effect from D's, so an LR law in N and D (or in C) fitted
to them may put any share of the effect on either, and its prediction for a target off the line (7B
trained on 2T tokens from a 20-tokens-per-parameter ladder) is not evidence but an artefact of the form.
The fitter records the line (`calibration/fit/collinearity.py`); the model refuses targets off it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

MIN_TOLERANCE = math.log(2.0)  # a target within 2x of the line's D is on it


@dataclass
class NDLine:
    """log D = intercept + slope·log N over the fit's cells, within `max_residual` (natural log)."""

    slope: float
    intercept: float
    max_residual: float
    n_cells: int
    reason: str  # "one token budget per size" or "tokens move with N"

    def tokens_on_line(self, n_params: float) -> float:
        return math.exp(self.intercept + self.slope * math.log(n_params))

    def tolerance(self) -> float:
        return max(MIN_TOLERANCE, 1.5 * self.max_residual)

    def off_line_reason(self, n_params: float, tokens: float) -> str | None:
        """Why (N, D) is a target the data cannot answer, or None when it lies on the measured line."""
        on_line = self.tokens_on_line(n_params)
        if abs(math.log(tokens / on_line)) <= self.tolerance():
            return None
        return (f"the model's calibration table has {self.reason} (its cells lie on D ~ "
                f"{math.exp(self.intercept):.3g}*N^{self.slope:.3g}), so it cannot tell N's effect from D's; "
                f"at N = {n_params:.3g} it supports D near {on_line:.3g} tokens, not {tokens:.3g}: give a target "
                "on that line, or fit a table with several token budgets per size")

    def to_json(self) -> dict:
        return {"slope": self.slope, "intercept": self.intercept, "max_residual": self.max_residual,
                "n_cells": self.n_cells, "reason": self.reason}

    @classmethod
    def from_json(cls, d) -> "NDLine | None":
        """None for null or absent (N and D separable); ValueError for anything malformed."""
        if d is None:
            return None
        numbers = ("slope", "intercept", "max_residual")
        if not isinstance(d, dict) or not all(isinstance(d.get(k), (int, float)) and not isinstance(d.get(k), bool)
                                              and math.isfinite(d[k]) for k in numbers):
            raise ValueError("nd_line must be an object with finite slope, intercept and max_residual")
        n_cells = d.get("n_cells")
        return cls(float(d["slope"]), float(d["intercept"]), abs(float(d["max_residual"])),
                   n_cells if isinstance(n_cells, int) and not isinstance(n_cells, bool) else 0,
                   str(d.get("reason", "N and D moving together")))
