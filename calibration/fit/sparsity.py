"""How a mixture of experts enters the dense laws: an effective size N_eff = N_total^(1-w) · N_active^w.

w = 0 reads an MoE as a dense model of its total size, w = 1 as one of its active size; for a dense model
N_active = N_total, so N_eff = N whatever w. Optionally each law's prefactor carries an MoE offset (log
space). w and the offsets are fitted by weighted least squares of the MoE cells' log optima (LR and batch
together, or one w per law, the cells' law weights) against the dense model's chosen laws at N_eff. The
dense prediction is tabulated on a grid of w once; every refit (leave-one-cell-out, bootstrap)
is then a few numpy operations.

With one total size (Step Law's sweep: 2.15B) only the slope along N_active is measured; how the optimum
moves with the total at a fixed active count is the dense law's, through (1-w), an assumption the data
cannot test.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from advisor.laws import PowerLaw
from advisor.model import FittedLaw, FittedModel
from advisor.sparsity import LAWS, Alternative, Sparsity
from calibration.fit.cell_fit import fit_cell
from calibration.fit.table import ColumnMap, build_cells, prepare_trials, read_table
from calibration.fit.validate import CellTable

W_GRID = np.round(np.linspace(-0.5, 1.5, 801), 6)  # steps of 0.0025


@dataclass
class MoeCells:
    """MoE cells keyed on the active N (two sparsities share one total), with each cell's total N."""

    table: CellTable
    n_total: np.ndarray
    n_active: np.ndarray
    tokens: np.ndarray


def moe_cells(trials: str | Path | pd.DataFrame, near_optimal: float = 0.0025) -> MoeCells:
    """The cells of an MoE trial table (columns n_params = total, n_params_active) and their optima."""
    raw = read_table(trials) if not isinstance(trials, pd.DataFrame) else trials
    usable, _ = prepare_trials(raw, ColumnMap(n_params="n_params_active"))
    cells = build_cells(usable)
    total_of = raw.groupby("n_params_active")["n_params"].first()
    table = CellTable(cells, [fit_cell(c, near_optimal) for c in cells])
    active = np.array([c.n_params for c in cells])
    return MoeCells(table, total_of.loc[active].to_numpy(float), active, np.array([c.tokens for c in cells]))


def dense_log_point(law: FittedLaw, n: float, d: float) -> float:
    """The dense model's chosen law at (N, D): the alternative stores exactly this law, offset added."""
    return law.law.log_predict({"n_params": n, "tokens": d, "flops": 6.0 * n * d})


def n_eff(n_total, n_active, w: float):
    return np.exp((1.0 - w) * np.log(n_total) + w * np.log(n_active))


class SparsityFit:
    """w (and the MoE offsets) of N_eff for one set of MoE cells and one dense model."""

    def __init__(self, cells: MoeCells, dense: FittedModel) -> None:
        self.cells, self.dense = cells, dense
        self.y = {law: cells.table.y(law) for law in LAWS}
        self.weight = {law: cells.table.w(law) for law in LAWS}
        self.grid = {law: np.array([self.predict_law(law, w) for w in W_GRID]) for law in LAWS}  # (W, cells)

    def predict_law(self, law: str, w: float, offset: float = 0.0) -> np.ndarray:
        fitted = self.dense.lr_ if law == "lr" else self.dense.batch_
        n = n_eff(self.cells.n_total, self.cells.n_active, w)
        return np.array([dense_log_point(fitted, a, d)
                         for a, d in zip(n, self.cells.tokens)]) + offset

    def fit(self, keep: np.ndarray | None = None, offset: bool = True, counts: np.ndarray | None = None,
            per_law: bool = False) -> dict:
        """Weighted least squares over the grid of w (one for both laws, or one per law); offsets (when
        asked) are each law's weighted mean residual at that w. `keep` masks cells out; `counts` reweights
        them (bootstrap). Returns w, lr_w, batch_w, lr_offset, batch_offset."""
        m = len(self.cells.tokens)
        factor = (np.ones(m) if keep is None else keep.astype(float)) * (np.ones(m) if counts is None else counts)
        loss, offsets = {}, {}
        for law in LAWS:
            wt = self.weight[law] * factor
            resid = self.y[law][None, :] - self.grid[law]
            off = (resid * wt).sum(1) / max(wt.sum(), 1e-12) if offset else np.zeros(len(W_GRID))
            loss[law] = ((resid - off[:, None]) ** 2 * wt).sum(1)
            offsets[law] = off
        joint = int(np.argmin(loss["lr"] + loss["batch"]))
        best = {law: int(np.argmin(loss[law])) if per_law else joint for law in LAWS}
        out = {f"{law}_{k}": float(v) for law in LAWS
               for k, v in (("w", W_GRID[best[law]]), ("offset", offsets[law][best[law]]))}
        edge = any(b in (0, len(W_GRID) - 1) for b in best.values())
        return {"w": float(W_GRID[joint]), **out, "offset": offset, "per_law": per_law, "at_grid_edge": edge}

    def bootstrap(self, n_boot: int, seed: int, **options) -> list[dict]:
        """Refits (fit's options) over cells resampled with replacement."""
        rng = np.random.default_rng(seed)
        m = len(self.cells.tokens)
        return [self.fit(counts=np.bincount(rng.integers(0, m, m), minlength=m).astype(float), **options)
                for _ in range(n_boot)]

    def predictions(self, fit: dict) -> dict[str, np.ndarray]:
        """Log LR and log batch of every cell under a fit."""
        return {law: self.predict_law(law, fit[f"{law}_w"], fit[f"{law}_offset"]) for law in LAWS}


ALTERNATIVE = ("the dense laws at N_eff = N_total^(1-w)·N_active^w, w and an MoE offset fitted per law on the MoE "
               "cells: it moves with the total as the dense laws move with N, through (1-w)")


def sparsity_record(fit: SparsityFit, main_w: float, validation: dict, dense_name: str, notes=()) -> Sparsity:
    """The artifact's `sparsity` record: how N enters the model (main_w; 1 = the active count), the sizes
    the MoE cells span, and the N_eff reading of the dense model (w per law, with offsets) as the
    alternative the advice's interval reaches beyond the measured total."""
    per_law = fit.fit(offset=True, per_law=True)
    laws = {}
    for law in LAWS:
        dense_law = (fit.dense.lr_ if law == "lr" else fit.dense.batch_).law
        coef = (dense_law.log_coef[0] + per_law[f"{law}_offset"], *dense_law.log_coef[1:])
        laws[law] = (per_law[f"{law}_w"], PowerLaw(dense_law.inputs, tuple(float(c) for c in coef), dense_law.form))
    cells = fit.cells
    return Sparsity(w=main_w, n_total_range=(float(cells.n_total.min()), float(cells.n_total.max())),
                    n_active_range=(float(cells.n_active.min()), float(cells.n_active.max())),
                    alternative=Alternative(laws, f"{dense_name}: {ALTERNATIVE}"), validation=validation,
                    notes=tuple(notes))
