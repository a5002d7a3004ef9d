"""Edge optima of coordinate-descent profiles as bounds (censored cells) in the LR and batch law fits.

A profile whose best value is its smallest says only that the optimum lies below a bound (profile.py);
fitting its best value as if it were the optimum would pull the law towards the grid's edge. So a bound
cell starts with weight 0 (left out of the point fit), and the law is then fitted with the bounds as
one-sided constraints by an active-set loop: fit the chosen form to the value cells; every bound the fitted
law passes (an LR predicted above an upper bound, below a lower bound) becomes active, i.e. enters the fit
at its bound with ACTIVE_WEIGHT, the nearest value consistent with both its profile and the law; refit, until
no inactive bound is passed. That is a squared hinge loss on the bounds, solved by adding active
constraints one round at a time (monotone: an active bound stays active). Bounds the law respects cost
nothing and move nothing. Tables without profile cells are untouched.
"""
from __future__ import annotations

import math

from calibration.fit.laws import fit_forms, predict
from calibration.fit.optimum import CellOptimum
from calibration.fit.validate import CellTable

ACTIVE_WEIGHT = 1.0  # an active bound weighs as a value: the law wants to pass it, the data say it may not


def _support(opt: CellOptimum, law: str):
    return opt.lr_profile if law == "lr" else opt.batch_profile


def _weight(opt: CellOptimum, law: str) -> float:
    return opt.weight_lr if law == "lr" else opt.weight_batch


def bound_cells(table: CellTable, law: str) -> list[int]:
    """Indices of the cells whose optimum for this law is a bound (a profile's edge)."""
    return [j for j, o in enumerate(table.optima) if _support(o, law) is not None and _support(o, law).is_bound]


def apply_bounds(table: CellTable, law: str, forms) -> int:
    """Fit the law's chosen form with the cells' bounds as constraints (module doc); the active bounds are
    written into their cells' optima (value, weight, flag). Returns how many bounds became active."""
    bounded = bound_cells(table, law)
    active = 0
    for _ in range(len(bounded)):
        fits, _ = fit_forms(table.stack(law), forms)
        if not fits:
            break
        pred = predict(fits[0].log_coef, fits[0].form, table.inputs)
        passed = [j for j in bounded if _weight(table.optima[j], law) == 0
                  and _support(table.optima[j], law).violated_by(float(pred[j]))]
        if not passed:
            break
        for j in passed:
            _activate(table.optima[j], law, float(pred[j]))
        active += len(passed)
    return active


def _activate(opt: CellOptimum, law: str, log_pred: float) -> None:
    support = _support(opt, law)
    side = "above" if support.kind == "upper_bound" else "below"
    opt.flags.append(f"{law}_bound_active: the law fitted without this cell put the optimum at "
                     f"{math.exp(log_pred):.4g}, {side} its bound {math.exp(support.log_bound):.4g}; the bound "
                     "enters the fit as a value")
    if law == "lr":
        opt.log_lr, opt.weight_lr = support.log_bound, ACTIVE_WEIGHT
    else:
        opt.log_batch, opt.weight_batch = support.log_bound, ACTIVE_WEIGHT
