"""Held-out validation: how well do the laws predict cells they were not fitted on?

Two views. Held-out largest: refit (form choice included) without the largest N and predict its
cells, which is the extrapolation the product sells. Leave-one-cell-out: refit the chosen forms
without each cell in turn and predict it. Both report the mean |log2 error| of LR and batch and the
loss regret: the held-out cell's loss at the predicted setting, read from its own landscape through
the smooth fit, over its optimal loss read the same way, minus one, in percent (optimum.regret).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor.artifact import HeldOutCell, HeldOutForms, HeldOutSummary
from calibration.fit.table import Cell
from calibration.fit.laws import (BATCH_FORMS, LR_FORMS, LawForm, Stack, design, fit_forms, huber_fit,
                                  infeasible_reason, predict)
from calibration.fit.optimum import CellOptimum, nearest_run_regret, regret

LN2 = np.log(2.0)


@dataclass
class CellTable:
    """Per-cell arrays the law fits work on."""

    cells: list[Cell]
    optima: list[CellOptimum]

    @property
    def inputs(self) -> dict[str, np.ndarray]:
        n = np.array([c.n_params for c in self.cells])
        d = np.array([c.tokens for c in self.cells])
        return {"n_params": n, "tokens": d, "flops": 6.0 * n * d}

    @property
    def sizes(self) -> np.ndarray:
        return self.inputs["n_params"]

    def y(self, law: str) -> np.ndarray:
        return np.array([o.log_lr if law == "lr" else o.log_batch for o in self.optima])

    def w(self, law: str) -> np.ndarray:
        return np.array([o.weight_lr if law == "lr" else o.weight_batch for o in self.optima])

    def stack(self, law: str, w: np.ndarray | None = None) -> Stack:
        """The law's cells as a stack of one setup (laws.Stack), weighted w (default: the optima's weights)."""
        return Stack.one(self.inputs, self.y(law), self.w(law) if w is None else w)


def held_out_largest(table: CellTable) -> HeldOutSummary:
    """Refit without the largest size (choosing forms again) and predict its cells."""
    sizes = table.sizes
    used = (table.w("lr") > 0)
    if len(np.unique(sizes[used])) < 3:
        return HeldOutSummary(n_params=float(sizes.max()), skipped="needs at least 3 sizes (2 to fit, 1 to hold out)")
    largest = sizes[used].max()
    train = sizes < largest
    laws = {}
    for law, forms in (("lr", LR_FORMS), ("batch", BATCH_FORMS)):
        fits, _ = fit_forms(table.stack(law, table.w(law) * train), forms)
        laws[law] = (fits[0].form, fits[0].log_coef) if fits else None
    if laws["lr"] is None:
        return HeldOutSummary(n_params=float(largest), skipped="the LR law cannot be fitted without the largest size")
    held = np.flatnonzero((sizes == largest) & used)
    cells = [predict_cell(table, i, laws["lr"], laws["batch"]) for i in held]
    return HeldOutSummary(n_params=float(largest), forms=HeldOutForms(**{k: (v[0].name if v else None) for k, v in laws.items()}),
                          **held_out_means(cells), cells=cells)


def leave_one_cell_out(table: CellTable, lr_form: LawForm, batch_form: LawForm | None) -> HeldOutSummary:
    """Refit the chosen forms without each cell in turn (batched) and predict that cell."""
    w_lr, w_b = table.w("lr"), table.w("batch")
    held = np.flatnonzero(w_lr > 0)
    coefs = {}
    for law, form, w in (("lr", lr_form, w_lr), ("batch", batch_form, w_b)):
        if form is None:
            continue
        rows = np.repeat(w[None, :], len(held), 0)
        rows[np.arange(len(held)), held] = 0.0
        st = table.stack(law)
        ok = np.array([infeasible_reason(st, form, w=r) is None for r in rows])
        coef = np.full((len(held), form.n_coef), np.nan)
        if ok.any():
            coef[ok] = huber_fit(design(st, form), np.broadcast_to(st.y, rows[ok].shape), rows[ok])
        coefs[law] = (form, coef)
    cells = []
    for k, i in enumerate(held):
        if np.isnan(coefs["lr"][1][k]).any():
            continue
        b = coefs.get("batch")
        batch = (b[0], b[1][k]) if b is not None and not np.isnan(b[1][k]).any() else None
        cells.append(predict_cell(table, i, (lr_form, coefs["lr"][1][k]), batch))
    if not cells:
        return HeldOutSummary(skipped="no cell could be left out with enough cells remaining")
    return HeldOutSummary(**held_out_means(cells), n_cells=len(cells))


def predict_cell(table: CellTable, i: int, lr_law, batch_law) -> HeldOutCell:
    """Cell i held out: the laws' (form, coefficients) LR and batch there, read against its own optimum."""
    cell, opt = table.cells[i], table.optima[i]
    one = {k: v[i:i + 1] for k, v in table.inputs.items()}
    log_lr = float(predict(lr_law[1], lr_law[0], one)[0])
    batch_known = batch_law is not None and opt.weight_batch > 0
    log_b = float(predict(batch_law[1], batch_law[0], one)[0]) if batch_known else opt.log_batch
    read = regret(cell, opt, log_lr, log_b)
    return HeldOutCell(
        n_params=cell.n_params, tokens=cell.tokens,
        lr_pred=float(np.exp(log_lr)), lr_opt=float(np.exp(opt.log_lr)),
        batch_pred=float(np.exp(log_b)), batch_opt=float(np.exp(opt.log_batch)),
        batch_predicted=bool(batch_known),
        loss_at_pred=read["loss_at_pred"], loss_opt=read["loss_ref"],
        regret_pct=read["regret_pct"], outside_grid=read["outside_grid"],
        nearest_run_regret_pct=nearest_run_regret(cell, log_lr, log_b),
        read_through=read["read_through"],
    )


def held_out_means(cells: list[HeldOutCell]) -> dict:
    """The held-out cells' mean |log2| LR and batch errors and mean regrets (HeldOutSummary's figures)."""
    lr_err = [abs(np.log(c.lr_pred / c.lr_opt)) / LN2 for c in cells]
    b_err = [abs(np.log(c.batch_pred / c.batch_opt)) / LN2 for c in cells if c.batch_predicted]
    return {
        "lr_log2_error": float(np.mean(lr_err)),
        "batch_log2_error": float(np.mean(b_err)) if b_err else None,
        "loss_regret_pct": float(np.mean([c.regret_pct for c in cells])),
        "nearest_run_regret_pct": float(np.mean([c.nearest_run_regret_pct for c in cells])),
        "any_outside_grid": any(c.outside_grid for c in cells),
    }
