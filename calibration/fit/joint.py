"""Joint fit: a small sweep of your own setup (MINE) with shipped or other public sweeps (sources).

Setups differ mostly in the prefactors of the optimal-LR and batch laws; if they share the exponents, one
or two small sizes of your own pin your prefactors and the exponents come from thousands of public runs
at larger scale. `JointFitter` is a ScaleLawFitter over MINE whose laws are fitted jointly
(joint_law.py: a prefactor per setup, exponents shared, each exponent MINE spans tested for consistency
and not pooled when it differs). What stays MINE's alone, and why:

- cell optima, flags, the bootstrap of MINE's optima: MINE's trials (each source gets the same treatment);
- the loss surface: MINE's own cells (losses depend on the tokenizer and data: pooling them means
  nothing); with too few cells there is none, and the usual `no_loss_surface` warning says why;
- the penalty model (the cost of being off): MINE's own landscapes, whose shape (steepness, asymmetry) is
  a property of the setup as much as the optimum is.

The artifact is MINE's: its laws are MINE's prefactor with the shared (or its own) exponents, so the
advisor reads it as any model; `provenance.joint` records the sources, every setup's prefactor, the
tests and which exponents were borrowed. The model is of MINE's setup (no setup component).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from advisor.artifact import Validation
from advisor.setup_record import CrossSetupRecord, JointRecord
from calibration.fit import joint_law
from calibration.fit.bootstrap import resample_optima
from calibration.fit.fitter import ScaleLawFitter
from calibration.fit.laws import BATCH_FORMS, LR_FORMS
from calibration.fit.loss_surface import bootstrap_surface
from calibration.fit.cell_fit import fit_cell
from calibration.fit.table import ColumnMap, FitInputError, build_cells, diverged_trials, prepare_trials, read_table
from calibration.fit.validate import CellTable

# warnings of a one-setup fit that do not hold for a joint one (the exponents come from every setup)
NOT_JOINT = {"few_sizes", "lr_form_without_cv", "held_out_skipped", "held_out_lr_error"}  # the last: joint_heldout_poor
INPUT_NAMES = {"n_params": "N", "tokens": "D", "flops": "C"}


@dataclass
class Source:
    """A source's cells and optima, and their bootstrap samples (lr, batch: (R, m))."""

    name: str
    table: CellTable
    samples: dict
    n_trials: int
    sha256: str = ""


def load_source(name: str, path: str | Path, near_optimal: float, n_boot: int, rng: np.random.Generator,
                columns: ColumnMap = ColumnMap()) -> Source:
    """Read a source's table (contract 1), check its units, find its cells' optima and resample them."""
    raw, trials = read_source(name, path, columns)
    sha = hashlib.sha256(Path(path).read_bytes()).hexdigest() if Path(path).is_file() else ""
    cells = build_cells(trials, diverged_trials(raw, columns))
    table = CellTable(cells, [fit_cell(c, near_optimal) for c in cells])
    if not (table.w("lr") > 0).any():
        raise FitInputError(f"source {name}: no cell with a usable LR optimum (cells need 3 or more LR values)")
    samples = {}
    if n_boot > 0:
        s_lr, s_b, _ = resample_optima(table.cells, table.optima, n_boot, rng)
        samples = {"lr": s_lr, "batch": s_b}
    return Source(name, table, samples, len(trials), sha)


def read_source(name: str, path: str | Path, columns: ColumnMap = ColumnMap()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A source's table and its usable trials, its columns and units checked (FitInputError naming the
    source): cheap enough to run before a sweep, so that a bad --with fails before any training."""
    raw = read_table(path)
    try:
        trials, _ = prepare_trials(raw, columns)
        check_units(raw, trials)
    except FitInputError as exc:
        raise FitInputError(f"source {name}: {exc}") from None
    return raw, trials


def check_units(raw: pd.DataFrame, trials: pd.DataFrame) -> None:
    """Refuse what cannot be reconciled with contract 1: a batch below one sequence (the batch column holds
    sequences, not tokens) or runs shorter than one batch (tokens in other units)."""
    if "seq_len" in raw.columns:
        seq = pd.to_numeric(raw.loc[raw.index.isin(trials.index), "seq_len"], errors="coerce")
        if len(seq) == len(trials) and (trials["batch_tokens"].to_numpy() < seq.to_numpy() * 0.999).any():
            raise FitInputError("its batch is smaller than one sequence in some rows: the batch column holds "
                                "sequences, not tokens (contract 1 wants batch_tokens)")
    if (trials["tokens"] < trials["batch_tokens"]).any():
        raise FitInputError("some runs train on fewer tokens than one batch: tokens and batch are not in the same "
                            "units")


def edge_bounds(table: CellTable, law: str) -> tuple[np.ndarray, np.ndarray]:
    """(sign, log bound) per cell: +1 an upper bound, -1 a lower bound (a coordinate-descent profile's edge,
    calibration/fit/profile.py), 0 for a value or no information."""
    sign, value = np.zeros(len(table.cells)), np.zeros(len(table.cells))
    for j, opt in enumerate(table.optima):
        support = opt.lr_profile if law == "lr" else opt.batch_profile
        if support is not None and support.is_bound:
            sign[j] = 1.0 if support.kind == "upper_bound" else -1.0
            value[j] = support.log_bound
    return sign, value


def stack(mine: CellTable, mine_samples: dict, sources: list[Source], law: str) -> joint_law.Stack:
    """MINE's and the sources' cells for one law, stacked (joint_law.Stack)."""
    tables = [mine] + [s.table for s in sources]
    inputs = {k: np.concatenate([t.inputs[k] for t in tables]) for k in mine.inputs}
    have = bool(mine_samples) and all(s.samples for s in sources)
    samples = np.hstack([mine_samples[law]] + [s.samples[law] for s in sources]) if have else None
    bounds = [edge_bounds(t, law) for t in tables]
    return joint_law.Stack(inputs, np.concatenate([t.y(law) for t in tables]),
                           np.concatenate([t.w(law) for t in tables]),
                           np.concatenate([np.full(len(t.cells), g) for g, t in enumerate(tables)]),
                           samples, ["mine"] + [s.name for s in sources],
                           np.concatenate([b[0] for b in bounds]), np.concatenate([b[1] for b in bounds]))


class JointFitter(ScaleLawFitter):
    """ScaleLawFitter whose LR and batch laws are fitted jointly with `sources` (a list of (name, table path)
    pairs; shipped sources resolved by the caller). Same settings and learned attributes, plus `sources_`
    (Source) and `joint_` (the provenance's joint section)."""

    def __init__(self, sources, n_boot: int = 1000, seed: int = 0, near_optimal: float = 0.0025,
                 loss_surface: bool = True, loss_boot_max: int | None = None, progress: bool = False) -> None:
        super().__init__(n_boot=n_boot, seed=seed, near_optimal=near_optimal, same_setup=True,
                         loss_surface=loss_surface, loss_boot_max=loss_boot_max, progress=progress)
        self.sources = list(sources)

    def get_params(self) -> dict:
        return {**super().get_params(), "sources": [name for name, _ in self.sources]}

    def fit(self, trials, columns: ColumnMap = ColumnMap(), **kw) -> "JointFitter":
        if not self.sources:
            raise FitInputError("a joint fit needs at least one source")
        rng = np.random.default_rng(self.seed + 7)
        self.sources_ = [load_source(name, path, self.near_optimal, self.n_boot, rng) for name, path in self.sources]
        return super().fit(trials, columns, **kw)

    def _fit_laws(self) -> None:
        """MINE's optima samples first (the joint laws need them for their tests), then both laws jointly
        and MINE's own loss surface."""
        table, rng = self.table_, np.random.default_rng(self.seed)
        self._mine_samples = {}
        if self.n_boot > 0:
            s_lr, s_b, s_loss = resample_optima(table.cells, table.optima, self.n_boot, rng, self.progress)
            self._mine_samples = {"lr": s_lr, "batch": s_b, "loss": s_loss}
        law_rng = np.random.default_rng(self.seed + 3)
        self.stacks_ = {law: stack(table, self._mine_samples, self.sources_, law) for law in ("lr", "batch")}
        from calibration.fit.cross_law import censored  # a coordinate-descent source's edge bounds, where crossed

        self.stacks_ = {law: censored(st, (LR_FORMS if law == "lr" else BATCH_FORMS)[-1 if law == "batch" else 0])
                        for law, st in self.stacks_.items()}
        self.lr_fits_, self.lr_skipped_ = joint_law.fit_forms(self.stacks_["lr"], LR_FORMS, law_rng)
        if not self.lr_fits_:
            reasons = "; ".join(f"{s.form}: {s.reason}" for s in self.lr_skipped_)
            raise FitInputError(f"no LR law form can be fitted jointly ({reasons})")
        self.batch_fits_, self.batch_skipped_ = joint_law.fit_forms(self.stacks_["batch"], BATCH_FORMS, law_rng)
        self._fit_loss_surface()  # from your cells only: losses depend on the data and tokenizer

    def _bootstrap(self) -> dict:
        """The laws were bootstrapped with their joint fits; here only MINE's loss surface."""
        samples = self._mine_samples
        if self.surface_ is not None and samples:
            self.surface_.samples = bootstrap_surface(self.surface_, self.table_.inputs["n_params"],
                                                      self.table_.inputs["tokens"],
                                                      samples["loss"][: self.loss_boot_max], self.table_.w("lr"))
        return samples

    def _validate(self) -> Validation:
        """MINE's cells predicted by joint refits without them: its largest size, and each cell in turn.
        (The interval coverage of a one-setup fit is not computed for a joint one.)"""
        from calibration.fit.joint_validate import held_out_mine

        return Validation(held_out_mine(self, largest=True), held_out_mine(self, largest=False))

    def _build_artifact(self, raw, columns, excluded, table_name, table_sha256, notes) -> None:
        super()._build_artifact(raw, columns, excluded, table_name, table_sha256, notes)
        from calibration.fit.joint_record import joint_section, joint_warnings, pooled_fit_range

        self.joint_ = joint_section(self)
        self.provenance_.joint = JointRecord.from_json(self.joint_)  # the artifact's type (advisor/setup_record.py)
        from calibration.fit.cross_setup import anchored_section

        anchored = anchored_section(self)
        if anchored is not None:  # the slopes' spread between setups belongs in your interval
            self.provenance_.cross_setup = CrossSetupRecord.from_json(anchored)
        self.fit_range_.update(pooled_fit_range(self))
        lr_tokens = self.joint_.get("laws", {}).get("lr", {}).get("exponents", {}).get("tokens", {})
        if lr_tokens.get("status") in ("borrowed", "pooled"):  # the sources' budgets separate N from D
            self.artifact_.nd_line = None
        self.warnings_ = [w for w in self.warnings_ if w.code not in NOT_JOINT and not (
            w.code == "n_d_collinear" and self.artifact_.nd_line is None)] + joint_warnings(self)
        self.artifact_.warnings = self.warnings_

