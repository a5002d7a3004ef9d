"""The functional API of earlier versions, as thin wrappers over ScaleLawFitter (calibration/fit/fitter.py):
`fit_trials(df, cols, FitOptions(...))` and `fit_file(path, ...)` return a FitResult whose `artifact` is
the artifact's JSON (a dict to edit, e.g. provenance notes, before `write_artifact`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from calibration.fit.fitter import ScaleLawFitter
from calibration.fit.table import ColumnMap


@dataclass
class FitOptions:
    """ScaleLawFitter's constructor parameters, as one value."""

    n_boot: int = 1000
    same_setup: bool | None = None
    seed: int = 0
    near_optimal: float = 0.0025
    loss_boot_max: int | None = None
    loss_surface: bool = True
    progress: bool = False


@dataclass
class FitResult:
    fitter: ScaleLawFitter
    artifact: dict = field(repr=False)  # fitter.artifact_.to_json()

    @property
    def table(self):
        return self.fitter.table_

    @property
    def trials(self) -> pd.DataFrame:
        return self.fitter.trials_


def fit_trials(raw: pd.DataFrame, cols: ColumnMap = ColumnMap(), opts: FitOptions = FitOptions(),
               table_name: str = "", table_sha256: str = "") -> FitResult:
    """Fit a table; raises FitInputError when it cannot support the LR law."""
    fitter = ScaleLawFitter(**asdict(opts)).fit(raw, cols, table_name=table_name, table_sha256=table_sha256)
    return FitResult(fitter, fitter.artifact_.to_json())


def fit_file(path: str | Path, cols: ColumnMap = ColumnMap(), opts: FitOptions = FitOptions(),
             table_name: str | None = None) -> FitResult:
    """Fit a table file; `table_name` is what provenance records (default: the path as given)."""
    fitter = ScaleLawFitter(**asdict(opts)).fit(path, cols, table_name=table_name)
    return FitResult(fitter, fitter.artifact_.to_json())
