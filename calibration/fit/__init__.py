"""Stage 3, fitting: trial table (table.py) -> cell optima (optimum.py) -> laws (laws.py) and the loss
surface (loss_surface.py) -> bootstrap (bootstrap.py) -> validation and interval coverage (validate.py,
coverage.py) -> the fitted-model artifact (pipeline.py) and its report (report.py); synthetic sweeps
with a known truth for tests and benchmarks (synthetic.py). Needs numpy, pandas and matplotlib only.

Python API (what `advisor fit` runs):

    from calibration.fit import FitOptions, fit_file, write_artifact
    result = fit_file("trials.csv", opts=FitOptions(n_boot=1000))
    write_artifact(result.artifact, "model.json")
"""
from calibration.fit.pipeline import FitOptions, FitResult, fit_file, fit_trials, write_artifact
from calibration.fit.table import ColumnMap, FitInputError

__all__ = ["FitOptions", "FitResult", "fit_file", "fit_trials", "write_artifact", "ColumnMap", "FitInputError"]
