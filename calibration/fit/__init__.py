"""Stage 3, fitting: trial table (table.py) -> cell optima (optimum.py) -> laws (laws.py) and the loss
surface (loss_surface.py) -> bootstrap (bootstrap.py) -> validation and interval coverage (validate.py,
coverage.py) -> warnings (checks.py) -> the fitted-model artifact (writer.py, provenance.py, published.py;
its types are advisor/artifact.py) and its report (report.py), all run by ScaleLawFitter (fitter.py), for
one setup or several (law_setups.py: your table alone, anchored on sources with joint.WithSources, or
across setups with cross_setup.AcrossSetups); synthetic sweeps with a known truth for tests and benchmarks
(synthetic.py). Needs numpy, pandas and matplotlib only.

Python API (what `advisor fit` runs), estimator-style:

    from calibration.fit import ColumnMap, ScaleLawFitter

    fitter = ScaleLawFitter(n_boot=1000, seed=0).fit("trials.csv")       # or a DataFrame
    fitter = ScaleLawFitter(n_boot=0).fit("sweep.parquet", columns=ColumnMap(n_params="N", tokens="D"))
    fitter.lr_law_.form, fitter.lr_law_.log_coef     # learned state: lr_law_, batch_law_, loss_law_, cells_,
    [w.code for w in fitter.warnings_]               # validation_, provenance_, warnings_, artifact_
    fitter.write("model.json")                       # the artifact (docs/fitted-model.md)
    fitter.report("report/")                         # figures and report.md
    fitter.artifact_.to_json()                       # the artifact's JSON, a dict to edit before write_artifact

Errors in the table raise FitInputError.
"""
from calibration.fit.fitter import ScaleLawFitter
from calibration.fit.table import ColumnMap, FitInputError
from calibration.fit.writer import write_artifact

__all__ = ["ScaleLawFitter", "ColumnMap", "FitInputError", "write_artifact"]
