"""Interval coverage, measured rather than assumed: refit without held-out cells, predict their optima
with the very interval code the advisor uses (advisor/intervals.py), and count how many measured
optima fall inside the 90% intervals.

Two views, as for the point errors (validate.py): without the largest size (forms chosen again), and
leaving one cell out at a time. The refits reuse the bootstrap's optima samples of the training cells
(resampling is within cells, so the held-out cell never enters them). The intervals carry the sampling
and law-form components; the setup component is left out (train and test share one setup), and so is
a published law of the same data (it was fitted on the held-out cells too).
"""
from __future__ import annotations

import numpy as np

from advisor.artifact import IntervalCoverage
from advisor.model import FittedLaw
from calibration.fit.bootstrap import bootstrap_law
from calibration.fit.laws import BATCH_FORMS, LR_FORMS, design, fit_forms
from calibration.fit.validate import CellTable
from calibration.fit.writer import law_entry

NOMINAL = 0.9


def interval_coverage(table: CellTable, samples: dict, rng: np.random.Generator) -> IntervalCoverage:
    """{'held_out_largest': ..., 'leave_one_cell_out': ...}, each per law with inside / n / fraction."""
    used = table.w("lr") > 0
    sizes = table.sizes
    out = {"nominal": NOMINAL, "components": ["sampling", "law_form"]}
    if len(np.unique(sizes[used])) >= 3:
        largest = sizes[used].max()
        out["held_out_largest"] = _fold_coverage(table, samples, [sizes == largest], rng, keep_cells=True)
    else:
        out["held_out_largest"] = {"skipped": "needs at least 3 sizes (2 to fit, 1 to hold out)"}
    folds = [np.arange(len(sizes)) == i for i in np.flatnonzero(used)]
    out["leave_one_cell_out"] = _fold_coverage(table, samples, folds, rng, keep_cells=False)
    return IntervalCoverage.from_json(out, "validation.coverage")


def _fold_coverage(table: CellTable, samples: dict, folds: list[np.ndarray], rng, keep_cells: bool) -> dict:
    result = {}
    for law, forms in (("lr", LR_FORMS), ("batch", BATCH_FORMS)):
        rows = []
        for held in folds:
            rows += _predict_held_out(table, law, forms, samples[law], held, rng)
        if not rows:
            result[law] = {"skipped": "no fold could be refitted"}
            continue
        inside = sum(r["inside"] for r in rows)
        result[law] = {"inside": inside, "n": len(rows), "fraction": inside / len(rows),
                       "median_width_ratio": float(np.median([r["high"] / r["low"] for r in rows]))}
        if keep_cells:
            result[law]["cells"] = rows
    return result


def _predict_held_out(table: CellTable, law: str, forms, y_samples: np.ndarray, held: np.ndarray,
                      rng) -> list[dict]:
    """Refit `law` without the held-out cells and predict each of them with its 90% interval."""
    w = table.w(law)
    test = np.flatnonzero(held & (w > 0))
    w_train = np.where(held, 0.0, w)
    st = table.stack(law, w_train)
    fits, _ = fit_forms(st, forms)
    if not fits or not len(test):
        return []
    for f in fits:
        bootstrap_law(f, design(st, f.form), st.y, w_train, y_samples, rng)
    # validated as the advisor reads it: failed draws dropped
    fitted = FittedLaw.from_json(law_entry(fits, [], table, law).to_json())
    train = w_train > 0
    fit_range = {k: (float(v[train].min()), float(v[train].max())) for k, v in table.inputs.items()}
    rows = []
    for i in test:
        point = {k: float(v[i]) for k, v in table.inputs.items()}
        pred = fitted.predict(point, fit_range)
        measured = float(np.exp(table.y(law)[i]))
        rows.append({"n_params": point["n_params"], "tokens": point["tokens"], "measured": measured,
                     "point": pred.value, "low": pred.low, "high": pred.high,
                     "inside": bool(pred.low <= measured <= pred.high), "form": fits[0].form.name})
    return rows

