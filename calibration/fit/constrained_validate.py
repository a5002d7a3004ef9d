"""End-to-end validation of what a user gets from the penalty surface: each cell left out in turn, the laws
(chosen forms) and the penalty model refitted on the others, and the held-out cell read from the predicted
optimum alone, as `check` and `recommend --batch` read a target.

- **The plan's cost** (`plan_cost`): `check` each of the cell's runs against the predicted optimum and
  compare the predicted penalty with the run's measured excess over the cell's best run (both capped at
  CAP_PCT; diverged runs count as the cap), for runs within 2× and 4× of the cell's own optimum; and how
  many runs costing more than RISKY_PCT were flagged (the 90% upper bound of a bootstrap of the refit).
- **The LR at a fixed batch** (`constrained`): each of the cell's batch rows (runs at one batch, at least
  three LRs) has a measured best LR, the vertex of a parabola in log LR through its three best runs; the
  surface's answer (advisor/constrained.py) and the fixed rules (√, linear, constant LR, each anchored at
  the predicted joint optimum) predict it; |log2| errors for rows within 2× and 4× of the cell's optimal
  batch, and the error of the predicted cost of the constraint (the row's best loss over the cell's best
  row, in percent).
"""
from __future__ import annotations

import numpy as np

from advisor.constrained import RULES, best_offset
from advisor.penalty import CAP_PCT, RAY_STEPS, RISKY_PCT, PenaltyModel, features
from calibration.fit.laws import design, huber_fit, infeasible_reason, predict
from calibration.fit.penalty import bootstrap_fits, in_fit_region, design as penalty_design, huber_lstsq, run_offsets
from calibration.fit.validate import CellTable

LN2 = np.log(2.0)
MIN_ROW_LRS = 3
SPANS = (2, 4)
N_BOOT = 50  # bootstrap draws per left-out cell, for the risk flag


def row_optima(cell) -> list[dict]:
    """Per batch value with at least MIN_ROW_LRS distinct LRs: the best log LR (vertex of the parabola in log
    LR through the three best runs, clipped to their span; the best run where the three are not convex) and
    the row's best loss (the vertex's, never above the best run's)."""
    rows = []
    for lb in np.unique(cell.log_batch):
        at = cell.log_batch == lb
        x, y = cell.log_lr[at], cell.loss[at]
        if len(np.unique(x)) < MIN_ROW_LRS:
            continue
        order = np.argsort(y)[:3]
        bx, by = x[order], y[order]
        best_x, best_y = bx[0], by[0]
        if len(np.unique(bx)) == 3:
            a, b, c = np.polyfit(bx, by, 2)
            if a > 0:
                best_x = float(np.clip(-b / (2 * a), bx.min(), bx.max()))
                best_y = min(float(np.polyval([a, b, c], best_x)), by[0])
        rows.append({"log_batch": float(lb), "log_lr": float(best_x), "loss": float(best_y)})
    return rows


def _loco_laws(table: CellTable, lr_form, batch_form, held: np.ndarray) -> dict:
    """Per held cell: the predicted log LR and log batch from the chosen forms refitted without it."""
    inputs, out = table.inputs, {}
    for law, form in (("lr", lr_form), ("batch", batch_form)):
        st, w = table.stack(law), table.w(law)
        pred = np.full(len(held), np.nan)
        for k, i in enumerate(held):
            row = w.copy()
            row[i] = 0.0
            if form is None or infeasible_reason(st, form, w=row) is not None:
                continue
            coef = huber_fit(design(st, form), st.y[None, :], row[None, :])[0]
            pred[k] = float(predict(coef, form, {key: v[i:i + 1] for key, v in inputs.items()})[0])
        out[law] = pred
    return out


def end_to_end(table: CellTable, lr_form, batch_form, model: PenaltyModel, rng, n_boot: int = N_BOOT) -> dict:
    """The plan-cost and constrained-LR validations (module doc), as the dict stored in penalty.validation;
    n_boot bootstrap refits per left-out cell flag its costly runs (0: the point alone flags them)."""
    runs = run_offsets(table)
    near = in_fit_region(runs)
    x = penalty_design(runs, model.ref)
    held = np.array([c for c in np.unique(runs["cell"][near]).astype(int)])
    laws = _loco_laws(table, lr_form, batch_form, held)
    plan = {s: [] for s in SPANS}
    rows = []
    costly = flagged = 0
    for k, j in enumerate(held):
        if np.isnan(laws["lr"][k]):
            continue
        cell, opt = table.cells[j], table.optima[j]
        log_lr, log_b = laws["lr"][k], laws["batch"][k] if not np.isnan(laws["batch"][k]) else opt.log_batch
        train = near & (runs["cell"] != j)
        pm = PenaltyModel(tuple(huber_lstsq(x[train], runs["pct"][train])), [], model.ref, model.fit_range)
        boots = bootstrap_fits(runs, x, train, n_boot, rng)
        c, f = _plan_cell(cell, opt, pm, boots, log_lr, log_b, plan)
        costly, flagged = costly + c, flagged + f
        rows += _constrained_cell(cell, opt, pm, log_lr, log_b)
    return {"plan_cost": _plan_summary(plan, costly, flagged), "constrained": _constrained_summary(rows)}


def _ray_penalties(pm: PenaltyModel, coefs: np.ndarray, cell, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The penalty model's predictions (advisor/penalty.py PenaltyModel.point: the running maximum along the ray
    from the optimum, clipped to [0, CAP_PCT]) of every run under each row of `coefs`: (len(coefs), runs)."""
    ln_n, ln_d, _ = pm._shape_point(cell.n_params, cell.tokens)
    rays = np.array([[features(a * t, b * t, ln_n, ln_d) for a, b in zip(u, v)] for t in RAY_STEPS])
    return np.clip((rays @ np.asarray(coefs).T).max(axis=0).T, 0.0, CAP_PCT)


def _plan_cell(cell, opt, pm, boots, log_lr, log_b, plan: dict) -> tuple[int, int]:
    """Adds the cell's runs' |predicted − measured| to plan[span]; returns (costly runs, of them flagged)."""
    best = float(cell.loss.min())
    lr = np.concatenate([cell.log_lr, cell.diverged_log_lr])
    batch = np.concatenate([cell.log_batch, cell.diverged_log_batch])
    measured = np.minimum(np.concatenate([100 * (cell.loss / best - 1), np.full(len(cell.diverged_log_lr), CAP_PCT)]),
                          CAP_PCT)
    u, v = (lr - log_lr) / LN2, (batch - log_b) / LN2
    pred = _ray_penalties(pm, [pm.coef], cell, u, v)[0]
    upper = np.percentile(_ray_penalties(pm, boots, cell, u, v), 95, axis=0) if len(boots) else pred
    du, dv = np.abs(lr - opt.log_lr) / LN2, np.abs(batch - opt.log_batch) / LN2
    for span in SPANS:
        within = (du <= np.log2(span)) & (dv <= np.log2(span))
        plan[span] += list(np.abs(pred - measured)[within])
    in4 = (du <= 2) & (dv <= 2) & (measured > RISKY_PCT)
    return int(in4.sum()), int((in4 & (np.maximum(upper, pred) >= RISKY_PCT)).sum())


def _constrained_cell(cell, opt, pm: PenaltyModel, log_lr: float, log_b: float) -> list[dict]:
    rows = row_optima(cell)
    if not rows:
        return []
    ref = min(r["loss"] for r in rows)
    ln_n, ln_d, _ = pm._shape_point(cell.n_params, cell.tokens)
    out = []
    for r in rows:
        v = (r["log_batch"] - log_b) / LN2
        u = best_offset(pm.coef, ln_n, ln_d, "batch", v)
        preds = {"surface": log_lr + u * LN2, **{name: log_lr + slope * v * LN2 for name, slope in RULES.items()}}
        out.append({"batch_log2_from_opt": abs(r["log_batch"] - opt.log_batch) / LN2,
                    "errors": {name: abs(p - r["log_lr"]) / LN2 for name, p in preds.items()},
                    "cost_error_pp": abs(pm.point(cell.n_params, cell.tokens, u, v) - 100 * (r["loss"] / ref - 1)),
                    "n_params": cell.n_params, "tokens": cell.tokens, "log2_lr_ratio": (r["log_lr"] - log_lr) / LN2,
                    "v": v})
    return out


def _plan_summary(plan: dict, costly: int, flagged: int) -> dict:
    out = {f"within_{s}x": {"n": len(e), "median_abs_pp": float(np.median(e)), "mean_abs_pp": float(np.mean(e))}
           for s, e in plan.items() if e}
    return {**out, "costly_runs": costly, "costly_flagged": flagged, "cap_pct": CAP_PCT}


def _constrained_summary(rows: list[dict]) -> dict:
    out = {}
    for span in SPANS:
        mine = [r for r in rows if r["batch_log2_from_opt"] <= np.log2(span)]
        if not mine:
            continue
        out[f"within_{span}x"] = {
            "n": len(mine), **{f"median_log2_{name}": float(np.median([r["errors"][name] for r in mine]))
                               for name in ("surface", *RULES)},
            "median_cost_error_pp": float(np.median([r["cost_error_pp"] for r in mine]))}
    return out
