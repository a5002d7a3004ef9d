"""ScaleLawFitter: the whole fit, estimator-style (scikit-learn manner).

Settings go to the constructor; `fit(trials)` runs trial table -> cell optima -> laws (bootstrapped) and
the loss surface -> validation -> warnings and returns the fitter, whose learned state sits in
trailing-underscore attributes; `artifact_` is the fitted-model artifact (advisor/artifact.py,
docs/fitted-model.md), which `write(path)` saves and advisor/model.py reads. The same stages fit one setup
or several: the `setups` strategy (law_setups.py) says which.

    fitter = ScaleLawFitter(n_boot=1000, seed=0).fit("trials.csv")
    fitter.lr_law_.log_coef, fitter.warnings_[0].code
    fitter.write("model.json"); fitter.report("report/")
    ScaleLawFitter(setups=WithSources([("steplaw-dense", path)])).fit("mine.csv")   # joint.py
"""
from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from advisor.artifact import FittedModelArtifact, Laws
from calibration.fit.bootstrap import resample_optima
from calibration.fit.censored import apply_bounds
from calibration.fit.checks import fit_warnings
from calibration.fit.constrained_validate import end_to_end
from calibration.fit.law_setups import LawSetups, OneSetup
from calibration.fit.laws import BATCH_FORMS, LR_FORMS
from calibration.fit.loss_surface import bootstrap_surface, fit_surface
from calibration.fit.cell_fit import fit_cell
from calibration.fit.collinearity import nd_line
from calibration.fit.penalty import fit_penalty
from calibration.fit.provenance import build_provenance, record_decay_timescale
from calibration.fit.published import published_law_key, record_published_law
from calibration.fit.table import (ColumnMap, FitInputError, build_cells, check_one_optimizer, diverged_trials,
                                   mixed_setups, prepare_trials, read_table)
from calibration.fit.validate import CellTable
from calibration.fit.writer import cell_entries, fit_range, law_entry, loss_entry, readable_text, write_text

PENALTY_BOOT = 200  # bootstrap draws of the penalty model (each a refit over resampled cells)
E2E_BOOT = 50  # per left-out cell, for the end-to-end validation's risk flag


def _why_unusable(table: CellTable) -> str:
    """What a cell needs to give an LR optimum; for coordinate-descent cells, what their profiles gave."""
    kinds = [o.lr_profile.kind for o in table.optima if o.lr_profile is not None]
    if not kinds:
        return "cells need 3 or more LR values"
    counts = ", ".join(f"{kinds.count(k)} {k.replace('_', ' ')}" for k in dict.fromkeys(kinds))
    return (f"an LR profile needs an interior optimum or one next to a divergence; these {len(kinds)} gave "
            f"{counts}, and a bound alone cannot place a law: docs/fitting.md, Coordinate-descent sources")


class ScaleLawFitter:
    """Fit the optimal-LR and optimal-batch scale laws and the loss surface L(N, D) to a trial table.

    Parameters:
        n_boot: bootstrap resamples of the whole chain (0: none, no intervals).
        seed: seed of the bootstrap.
        near_optimal: near-optimal band, the runs within this fraction of a cell's best loss.
        same_setup: whether the table comes from the setup (data, tokenizer, architecture) the user will
            train; then the advisor's intervals carry no setup component. None: true for this project's
            calibrations, false for external tables.
        loss_surface: fit L(N, D) (the slowest step).
        loss_boot_max: cap on the loss-surface resamples (None: all of them).
        progress: show a progress bar during the bootstrap.
        setups: what the laws are fitted across (law_setups.py): OneSetup() (default: the table alone),
            WithSources(sources) (joint.py: the table anchored on sources) or AcrossSetups(tables)
            (cross_setup.py: a setup none of them is).

    Learned attributes (after `fit`): `artifact_` (FittedModelArtifact), its parts `lr_law_`, `batch_law_`
    (LawEntry; `batch_law_` None when no form could be fitted), `loss_law_` (LossEntry or None),
    `cells_` (CellEntry), `penalty_` (PenaltyModel or None), `validation_`, `provenance_`, `fit_range_`, `warnings_` (CodedWarning, each
    with its `.code`); and the numeric state behind them: `trials_` (the usable rows, canonical
    columns), `table_` (CellTable: cells and their optima), `lr_fits_`, `batch_fits_` (LawFit, chosen
    form first), `lr_skipped_`, `batch_skipped_` (SkippedForm: forms that could not be fitted, and
    why), `surface_` (SurfaceFit or None), `surface_skip_` (why none),
    `optima_samples_` (bootstrap optima per law), `mixed_setups_` (table.mixed_setups: what the table
    pools as one setup), `sources_` (joint.Source: the other setups, none for one), `stacks_` (laws.Stack
    per law: the cells the laws were fitted to).
    """

    def __init__(self, n_boot: int = 1000, seed: int = 0, near_optimal: float = 0.0025,
                 same_setup: bool | None = None, loss_surface: bool = True, loss_boot_max: int | None = None,
                 progress: bool = False, setups: LawSetups = OneSetup()) -> None:
        self.n_boot = n_boot
        self.seed = seed
        self.near_optimal = near_optimal
        self.same_setup = same_setup
        self.loss_surface = loss_surface
        self.loss_boot_max = loss_boot_max
        self.progress = progress
        self.setups = setups

    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in ("n_boot", "seed", "near_optimal", "same_setup", "loss_surface",
                                              "loss_boot_max", "progress", "setups")}

    def __repr__(self) -> str:
        return f"ScaleLawFitter({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    def fit(self, trials: pd.DataFrame | str | Path, columns: ColumnMap = ColumnMap(), *,
            table_name: str | None = None, table_sha256: str = "", notes=()) -> "ScaleLawFitter":
        """Fit a trial table (a DataFrame, or a CSV/Parquet file). `columns` maps the table's columns;
        `table_name` is what provenance records (default: the path as given); `notes` go to provenance.
        Raises FitInputError when the table cannot support the LR law."""
        decided = self.setups.same_setup  # with sources the strategy knows whose setup the model is of
        if decided is not None and self.same_setup is not None and self.same_setup != decided:
            raise FitInputError(f"same_setup={self.same_setup} contradicts the fit: a model fitted "
                                f"{self.setups.how} is {'of' if decided else 'not of'} the target's setup")
        self.sources_ = self.setups.load(self)  # a bad source fails before the table is read
        if isinstance(trials, (str, Path)):
            table_name = table_name or str(trials)
            table_sha256 = hashlib.sha256(Path(trials).read_bytes()).hexdigest() if Path(trials).is_file() else ""
            trials = read_table(trials)
        check_one_optimizer(trials)
        self.trials_, excluded = prepare_trials(trials, columns)
        self.mixed_setups_ = mixed_setups(trials)
        self._say(f"{len(self.trials_):,} usable trials: finding each cell's optimum")
        self.table_ = self._cell_table(diverged_trials(trials, columns))
        self._say(f"{len(self.table_.cells)} cells: fitting the laws")
        self._fit_laws()
        # the cost of being off: its own bootstrap over cells, at most PENALTY_BOOT draws (it is cheap to use)
        self._say("the penalty model")
        self.penalty_ = fit_penalty(self.table_, min(self.n_boot, PENALTY_BOOT), np.random.default_rng(self.seed + 2))
        self._say("the cost of a plan, end to end")
        self._validate_end_to_end()
        self._say("held-out validation")
        self.validation_ = self.setups.validate(self)
        self._build_artifact(trials, columns, excluded, table_name or "", table_sha256, notes)
        # numbers out of range: refused here, not in the advisor; the checked text is what `write` writes
        self._artifact_text = readable_text(self.artifact_.to_json())
        return self

    def _say(self, stage: str) -> None:
        """A progress line on stderr (with progress=True): a long fit shows where it is."""
        if self.progress:
            print(f"fit: {stage} ...", file=sys.stderr, flush=True)

    def to_artifact(self) -> FittedModelArtifact:
        self._check_fitted()
        return self.artifact_

    def write(self, path: str | Path, force: bool = False) -> Path:
        """Write the artifact as JSON; refuses to overwrite unless force (FitInputError)."""
        self._check_fitted()
        return write_text(self._artifact_text, path, force=force)

    def report(self, out_dir: str | Path) -> Path:
        """Write the figures and report.md into out_dir (calibration/fit/report.py); returns the report."""
        from calibration.fit.report import build_report

        self._check_fitted()
        return build_report(self, out_dir)

    # ------------------------------------------------------------------ the stages

    def _cell_table(self, diverged: pd.DataFrame) -> CellTable:
        """Cells (with their diverged LRs) and their optima; at least two sizes with a usable LR optimum,
        or FitInputError."""
        cells = build_cells(self.trials_, diverged)
        sizes = np.unique([c.n_params for c in cells])
        if len(sizes) < 2:
            raise FitInputError(f"need at least two model sizes (N) to fit a law, the table has {len(sizes)}")
        table = CellTable(cells, [fit_cell(c, self.near_optimal) for c in cells])
        self.active_bounds_ = {"lr": apply_bounds(table, "lr", LR_FORMS),  # profile edges (censored.py)
                               "batch": apply_bounds(table, "batch", BATCH_FORMS)}
        usable_sizes = np.unique(table.sizes[table.w("lr") > 0])
        if len(usable_sizes) < 2:
            raise FitInputError(f"need at least two sizes with a usable LR optimum, have {len(usable_sizes)} "
                                f"({_why_unusable(table)})")
        return table

    def _fit_laws(self) -> None:
        """The optima's bootstrap samples, every feasible form of each law (chosen form first, with its
        samples) and the loss surface."""
        table, rng = self.table_, np.random.default_rng(self.seed)
        self.optima_samples_ = {}
        if self.n_boot > 0:
            s_lr, s_b, s_loss = resample_optima(table.cells, table.optima, self.n_boot, rng, self.progress)
            self.optima_samples_ = {"lr": s_lr, "batch": s_b, "loss": s_loss}
        self.stacks_ = self.setups.stacks(table, self.optima_samples_, self.sources_)
        law_rng = self.setups.law_rng(rng, self.seed)
        self.lr_fits_, self.lr_skipped_ = self.setups.fit_forms(self.stacks_["lr"], LR_FORMS, law_rng)
        if not self.lr_fits_:
            reasons = "; ".join(f"{s.form}: {s.reason}" for s in self.lr_skipped_)
            how = f" {self.setups.how}" if self.setups.how else ""
            raise FitInputError(f"no LR law form can be fitted{how} ({reasons})")
        self.batch_fits_, self.batch_skipped_ = self.setups.fit_forms(self.stacks_["batch"], BATCH_FORMS, law_rng)
        self._fit_loss_surface()

    def _fit_loss_surface(self) -> None:
        """L(N, D) through the table's cells' best losses (when asked for; losses depend on the data and
        tokenizer, so never pooled across setups), bootstrapped: `surface_`, or why none in `surface_skip_`."""
        table = self.table_
        self.surface_, self.surface_skip_ = None, "not requested"
        if not self.loss_surface:
            return
        n, d = table.inputs["n_params"], table.inputs["tokens"]
        self.surface_, self.surface_skip_ = fit_surface(n, d, np.array([o.loss for o in table.optima]), table.w("lr"))
        if self.surface_ is not None and self.optima_samples_:
            self.surface_.samples = bootstrap_surface(self.surface_, n, d,
                                                      self.optima_samples_["loss"][: self.loss_boot_max], table.w("lr"))

    def _validate_end_to_end(self) -> None:
        """What a user gets from the penalty model, each cell predicted by a refit without it: `check`'s cost of
        each run against the predicted optimum, and the best LR at each batch (calibration/fit/constrained_validate.py)."""
        if self.penalty_ is None:
            return
        batch_form = self.batch_fits_[0].form if self.batch_fits_ else None
        self.penalty_.validation["end_to_end"] = end_to_end(self.table_, self.lr_fits_[0].form, batch_form,
                                                            self.penalty_, np.random.default_rng(self.seed + 3),
                                                            n_boot=min(self.n_boot, E2E_BOOT))

    def _build_artifact(self, raw: pd.DataFrame, columns: ColumnMap, excluded: dict, table_name: str,
                        table_sha256: str, notes) -> None:
        table = self.table_
        self.lr_law_ = law_entry(self.lr_fits_, self.lr_skipped_, table, "lr")
        self.batch_law_ = law_entry(self.batch_fits_, self.batch_skipped_, table, "batch")
        self.loss_law_ = loss_entry(self.surface_)
        self.cells_ = cell_entries(table, self.optima_samples_)
        self.fit_range_ = fit_range(table, self.trials_)
        loss_boot = len(self.surface_.samples) if self.surface_ is not None and self.surface_.samples is not None else 0
        same = self.same_setup if self.setups.same_setup is None else self.setups.same_setup
        settings = {**self.get_params(), "same_setup": same, "loss_bootstrap": loss_boot, "notes": notes}
        self.provenance_ = build_provenance(raw, self.trials_, columns, excluded, len(table.cells), settings,
                                            table_name, table_sha256)
        record_decay_timescale(self.provenance_.optimizer, table)
        self.artifact_ = FittedModelArtifact(
            provenance=self.provenance_, fit_range=self.fit_range_,
            laws=Laws(self.lr_law_, self.batch_law_, self.loss_law_), validation=self.validation_,
            cells=self.cells_, created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), penalty=self.penalty_,
            nd_line=self._nd_line())
        key = published_law_key(raw)
        if key:
            record_published_law(self.artifact_, key, raw, table)
        self.warnings_ = fit_warnings(self)
        self.artifact_.warnings = self.warnings_
        self.setups.record(self)

    def _nd_line(self):
        """The line of N and D the LR law's cells lie on, when the table cannot separate them."""
        used = self.table_.w("lr") > 0
        cells = [c for c, u in zip(self.table_.cells, used) if u]
        return nd_line(np.array([c.n_params for c in cells]), np.array([c.tokens for c in cells]))

    def _check_fitted(self) -> None:
        if not hasattr(self, "artifact_"):
            raise AttributeError("this ScaleLawFitter is not fitted yet: call fit(trials) first")
