"""Joint fit: a small sweep of your own setup (MINE) with shipped or other public sweeps (sources).

Setups differ mostly in the prefactors of the optimal-LR and batch laws; if they share the exponents, one
or two small sizes of your own pin your prefactors and the exponents come from thousands of public runs
at larger scale. `WithSources` is the ScaleLawFitter strategy (law_setups.py) whose laws are fitted jointly
(joint_law.py: a prefactor per setup, exponents shared, each exponent MINE spans tested for consistency
and not pooled when it differs): `ScaleLawFitter(setups=WithSources(sources)).fit(mine)`. What stays MINE's
alone, and why:

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
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from advisor.setup_record import CrossSetupRecord, JointRecord
import calibration.fit.joint_law as joint_law
from calibration.fit.bootstrap import resample_optima
from calibration.fit.cell_fit import fit_cell
from calibration.fit.cross_law import anchored_record, censored
from calibration.fit.joint_record import joint_section, joint_warnings, pooled_fit_range
from calibration.fit.law_setups import StackedSetups
from calibration.fit.laws import BATCH_FORMS, LR_FORMS, Stack, fit_forms
from calibration.fit.table import ColumnMap, FitInputError, build_cells, diverged_trials, prepare_trials, read_table
from calibration.fit.validate import CellTable

# warnings of a one-setup fit that do not hold for a joint one (the exponents come from every setup)
NOT_JOINT = {"few_sizes", "lr_form_without_cv", "held_out_skipped", "held_out_lr_error"}  # the last: joint_heldout_poor


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


def sources_stack(mine: CellTable, mine_samples: dict, sources: list[Source], law: str) -> Stack:
    """MINE's and the sources' cells for one law, stacked (laws.Stack)."""
    tables = [mine] + [s.table for s in sources]
    inputs = {k: np.concatenate([t.inputs[k] for t in tables]) for k in mine.inputs}
    have = bool(mine_samples) and all(s.samples for s in sources)
    samples = np.hstack([mine_samples[law]] + [s.samples[law] for s in sources]) if have else None
    bounds = [edge_bounds(t, law) for t in tables]
    return Stack(inputs, np.concatenate([t.y(law) for t in tables]), np.concatenate([t.w(law) for t in tables]),
                 np.concatenate([np.full(len(t.cells), g) for g, t in enumerate(tables)]),
                 samples, ["mine"] + [s.name for s in sources],
                 np.concatenate([b[0] for b in bounds]), np.concatenate([b[1] for b in bounds]))


@dataclass(frozen=True)
class WithSources(StackedSetups):
    """Your table anchored on `sources` (a list of (name, table path) pairs; shipped sources resolved by the
    caller): each law fitted jointly (joint_law.py); the fitter also learns `sources_` (Source) and
    `joint_` (the provenance's joint section)."""

    sources: tuple = ()  # (name, table path) pairs

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))  # a list is fine: kept as a tuple (hashable)
    how = "jointly"  # how the laws were fitted, for the error when none can be
    same_setup = True  # the model is of your setup

    def get_params(self) -> dict:
        return {"sources": [name for name, _ in self.sources]}

    def load(self, fitter) -> list[Source]:
        if not self.sources:
            raise FitInputError("a joint fit needs at least one source")
        rng = np.random.default_rng(fitter.seed + 7)
        return [load_source(name, path, fitter.near_optimal, fitter.n_boot, rng) for name, path in self.sources]

    def stacks(self, table: CellTable, samples: dict, sources: list) -> dict[str, Stack]:
        """Every setup's cells; a coordinate-descent source's edge bounds used where the law crosses them."""
        return {law: censored(sources_stack(table, samples, sources, law), form)
                for law, form in (("lr", LR_FORMS[0]), ("batch", BATCH_FORMS[-1]))}

    def fit_forms(self, stack: Stack, forms, rng: np.random.Generator):
        return fit_forms(stack, forms, partial(joint_law.fit_form, rng=rng))

    def record(self, fitter) -> None:
        """provenance.joint, the anchored setup part (provenance.cross_setup), the pooled range, the warnings."""
        record_joint(fitter, anchored=True)


def record_joint(fitter, anchored: bool) -> None:
    """What a fit of several setups adds to the artifact: provenance.joint; with `anchored`, the setup part
    of your interval (the slopes' spread between setups); the range the exponents were measured over; the
    N-D line only when your cells set the D exponent; the joint warnings in place of a one-setup fit's."""
    fitter.joint_ = joint_section(fitter)
    fitter.provenance_.joint = JointRecord.from_json(fitter.joint_)  # the artifact's type (advisor/setup_record.py)
    if anchored:  # the slopes' spread between setups belongs in your interval
        fitter.provenance_.cross_setup = CrossSetupRecord.from_json(anchored_section(fitter))
    fitter.fit_range_.update(pooled_fit_range(fitter))
    lr_tokens = fitter.joint_.get("laws", {}).get("lr", {}).get("exponents", {}).get("tokens", {})
    if lr_tokens.get("status") in ("borrowed", "pooled"):  # the sources' budgets separate N from D
        fitter.artifact_.nd_line = None
    fitter.warnings_ = [w for w in fitter.warnings_ if w.code not in NOT_JOINT and not (
        w.code == "n_d_collinear" and fitter.artifact_.nd_line is None)] + joint_warnings(fitter)
    fitter.artifact_.warnings = fitter.warnings_


# An anchor pins your prefactor, not the slopes you borrow: their spread between the sources, carried from your
# cells to the target. Published C-only laws (DeepSeek's) imply no slope in N at fixed D that anyone measured:
# they are left out here (with them the anchored 7B/2T widths reached 1e2-1e5x; docs/fitting.md)
ANCHORED_RULE = ("the sources' own slopes, for each exponent your fit borrowed, carried from your cells' geometric "
                 "centre to the target, around the pooled law: 1.645 * sqrt(1 + 1/k) * their sd (k sources)")


def anchored_section(fitter) -> dict:
    """provenance.cross_setup of a joint fit (your cells pin your prefactor): each source's own slopes, whose
    spread around the pooled exponents, pinned at your cells' geometric centre, is the setup part of your
    interval (advisor/setups.py, mode `anchored`)."""
    laws = {law: anchored_record(fitter.stacks_[law], fits[0].form, fits[0], np.random.default_rng(fitter.seed + 5))
            for law, fits in (("lr", fitter.lr_fits_), ("batch", fitter.batch_fits_)) if fits}
    return {"mode": "anchored", "setups": [{"name": s.name} for s in fitter.sources_],
            "published_setups": [], "spread_rule": ANCHORED_RULE, "laws": laws}
