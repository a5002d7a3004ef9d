"""Validation of a joint fit on MINE's own cells: refit jointly without some of MINE's cells (its largest
size, or one cell at a time) and predict them. With two sizes of MINE, holding out the larger leaves one
size to pin MINE's prefactor: the check of the joint fit's claim that the borrowed exponents carry MINE's
optimum to sizes it did not measure."""
from __future__ import annotations

import numpy as np

from advisor.artifact import HeldOutForms, HeldOutSummary
import calibration.fit.joint_law as joint_law
from calibration.fit.laws import design, huber_fit, infeasible_reason
from calibration.fit.validate import held_out_means, predict_cell


def held_out_mine(fitter, largest: bool) -> HeldOutSummary:
    """largest: hold out MINE's largest usable size (one fold); else each usable MINE cell in turn."""
    table = fitter.table_
    used = table.w("lr") > 0
    sizes = table.sizes
    if largest:
        folds = [(sizes == sizes[used].max()) & used]
    else:
        folds = [np.arange(len(sizes)) == i for i in np.flatnonzero(used)]
    cells, forms = [], {}
    for held in folds:
        laws = {law: _refit(fitter, law, held) for law in ("lr", "batch")}
        if laws["lr"] is None:
            continue
        forms = {law: (v[0].name if v else None) for law, v in laws.items()}
        cells += [predict_cell(table, i, laws["lr"], laws["batch"]) for i in np.flatnonzero(held)]
    if not cells:
        return HeldOutSummary(skipped="no joint refit without your held-out cells was possible")
    extra = {"n_params": float(sizes[used].max()), "forms": HeldOutForms(**forms)} if largest else {"n_cells": len(cells)}
    return HeldOutSummary(**extra, **held_out_means(cells), cells=cells if largest else None)


def _refit(fitter, law: str, held: np.ndarray):
    """(form, MINE's log coefficients) of the chosen joint form refitted without MINE's held-out cells (MINE's
    own exponents kept where still fittable), or None."""
    fits = fitter.lr_fits_ if law == "lr" else fitter.batch_fits_
    if not fits:
        return None
    st, form = fitter.stacks_[law], fits[0].form
    own = tuple(n for n, e in fits[0].joint["exponents"].items() if e["status"] == "own")
    w = st.w.copy()
    w[: len(held)][held] = 0.0
    for candidate in (own, ()):
        if infeasible_reason(st, form, candidate, w) is None:
            coef = huber_fit(design(st, form, candidate), st.y[None, :], w[None, :])[0]
            return form, joint_law.mine_coef(coef, form, candidate, len(st.present()))[0]
    return None
