"""Fitting the penalty model (advisor/penalty.py): the loss excess of every run over its cell's optimum,
against the run's LR and batch offsets from that optimum, pooled over cells.

Each run gives u = log2(LR / LR*), v = log2(B / B*) (the cell's smooth-fit optimum) and its penalty
100·(loss / L* − 1), L* the lower of the fitted optimum's loss and the best measured one. Diverged runs
count as CAP_PCT. The model's coefficients come from a robust (Huber) least-squares fit to the runs within
FIT_REGION_LOG2 of the optimum in both LR and batch (where the cost is smooth; further out runs spike),
the interval from a bootstrap over cells (a cell's runs share its optimum's error), and the validation
leaves one cell out: the model refitted on the others predicts each held-out run within 2× and 4× of
the optimum, beside a symmetric quadratic pooled over the same runs (the naive baseline).
"""
from __future__ import annotations

import numpy as np

from advisor.penalty import CAP_PCT, FEATURES, RISKY_PCT, PenaltyModel, features
from calibration.fit.validate import CellTable

FIT_REGION_LOG2 = 1.0  # runs within 2× of the optimum shape the model
MIN_RUNS = 3 * len(FEATURES)  # fewer runs near the optimum: no penalty model
HUBER_DELTA = 1.345
MIN_SCALE = 0.05  # percentage points: residuals below this are never down-weighted
NAIVE = ("u2", "v2", "uv")  # the symmetric quadratic baseline
LOCO_BOOT = 100  # bootstrap draws per held-out cell for its risk flags (fewer when --bootstrap asks for fewer)


def run_offsets(table: CellTable) -> dict[str, np.ndarray]:
    """Per run (usable cells only): cell index, u, v (log2 offsets), ln N, ln D, penalty %."""
    cols = {k: [] for k in ("cell", "u", "v", "n_params", "tokens", "pct")}
    for j, (cell, opt) in enumerate(zip(table.cells, table.optima)):
        if opt.weight_lr <= 0:
            continue
        ref = min(opt.loss, float(cell.loss.min()))
        lr = np.concatenate([cell.log_lr, cell.diverged_log_lr])
        batch = np.concatenate([cell.log_batch, cell.diverged_log_batch])
        pct = np.concatenate([100.0 * (cell.loss / ref - 1.0), np.full(len(cell.diverged_log_lr), CAP_PCT)])
        cols["cell"] += [j] * len(lr)
        cols["u"] += list((lr - opt.log_lr) / np.log(2))
        cols["v"] += list((batch - opt.log_batch) / np.log(2))
        cols["n_params"] += [cell.n_params] * len(lr)
        cols["tokens"] += [cell.tokens] * len(lr)
        cols["pct"] += list(np.minimum(np.maximum(pct, 0.0), CAP_PCT))
    return {k: np.asarray(v, float) for k, v in cols.items()}


def design(runs: dict, ref: dict) -> np.ndarray:
    ln_n, ln_d = np.log(runs["n_params"] / ref["n_params"]), np.log(runs["tokens"] / ref["tokens"])
    return np.array([features(u, v, a, b) for u, v, a, b in zip(runs["u"], runs["v"], ln_n, ln_d)]).reshape(-1, len(FEATURES))


def huber_lstsq(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Robust least squares (iteratively reweighted, Huber weights, scale from the MAD)."""
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    for _ in range(10):
        r = y - x @ coef
        scale = max(1.4826 * np.median(np.abs(r)), MIN_SCALE)
        root_w = np.sqrt(np.minimum(1.0, HUBER_DELTA * scale / np.maximum(np.abs(r), 1e-12)))
        coef = np.linalg.lstsq(x * root_w[:, None], y * root_w, rcond=None)[0]
    return coef


def in_fit_region(runs: dict) -> np.ndarray:
    """The runs the model is fitted on: within FIT_REGION_LOG2 of the optimum in LR and batch, under CAP_PCT."""
    return (np.abs(runs["u"]) <= FIT_REGION_LOG2) & (np.abs(runs["v"]) <= FIT_REGION_LOG2) & (runs["pct"] < CAP_PCT)


def fit_penalty(table: CellTable, n_boot: int, rng: np.random.Generator,
                loco_boot: int | None = None) -> PenaltyModel | None:
    """The penalty model of a table's cells, or None when too few runs lie near the optima. loco_boot: the
    draws per held-out cell for its risk flags (default: n_boot, at most LOCO_BOOT)."""
    runs = run_offsets(table)
    near = in_fit_region(runs)
    if near.sum() < MIN_RUNS or len(np.unique(runs["cell"][near])) < 2:
        return None
    ref = {k: float(np.exp(np.log(np.unique(runs[k])).mean())) for k in ("n_params", "tokens")}
    x = design(runs, ref)
    coef = huber_lstsq(x[near], runs["pct"][near])
    samples = bootstrap_fits(runs, x, near, n_boot, rng)
    ranges = {k: [float(runs[k][near].min()), float(runs[k][near].max())] for k in ("n_params", "tokens")}
    ranges.update({k: [float(runs[k].min()), float(runs[k].max())] for k in ("u", "v")})
    model = PenaltyModel(tuple(float(c) for c in coef), [tuple(float(f"{c:.5g}") for c in s) for s in samples], ref,
                         {k: tuple(v) for k, v in ranges.items()}, int(near.sum()),
                         len(np.unique(runs["cell"][near])))
    # --bootstrap bounds the held-out risk flags too: `--bootstrap 0` (fast, no intervals) runs no draws
    loco_boot = min(n_boot, LOCO_BOOT) if loco_boot is None else loco_boot
    model.validation = leave_one_cell_out(runs, x, near, ref, rng, n_boot=loco_boot)
    return model


def bootstrap_fits(runs: dict, x: np.ndarray, near: np.ndarray, n_boot: int, rng) -> list[np.ndarray]:
    """Refits on resampled cells (each drawn cell brings all its runs)."""
    cells = np.unique(runs["cell"][near])
    out = []
    for _ in range(n_boot):
        pick = rng.choice(cells, len(cells))
        rows = np.concatenate([np.flatnonzero(near & (runs["cell"] == c)) for c in pick])
        out.append(huber_lstsq(x[rows], runs["pct"][rows]))
    return out


def leave_one_cell_out(runs: dict, x: np.ndarray, near: np.ndarray, ref: dict, rng,
                       n_boot: int = LOCO_BOOT) -> dict:
    """Each cell held out in turn: predicted against measured penalty for its runs within 2× and 4× of
    the optimum (penalties capped at CAP_PCT), for this model and the naive symmetric quadratic, and how
    many of its runs that cost more than RISKY_PCT were flagged risky (95th percentile of the bootstrap;
    with n_boot 0 no flags are counted and the keys are left out)."""
    naive_cols = [FEATURES.index(f) for f in NAIVE]
    rows = {"model": {2: [], 4: []}, "naive": {2: [], 4: []}}
    costly = flagged = false_alarms = cheap = 0
    for c in np.unique(runs["cell"][near]):
        train, test = near & (runs["cell"] != c), runs["cell"] == c
        model = np.maximum(x[test] @ huber_lstsq(x[train], runs["pct"][train]), 0)
        naive = np.maximum(x[test][:, naive_cols] @ huber_lstsq(x[train][:, naive_cols], runs["pct"][train]), 0)
        draws = [np.maximum(x[test] @ s, 0) for s in bootstrap_fits(runs, x, train, n_boot, rng)]
        upper = np.percentile(draws, 95, axis=0) if draws else np.full(int(test.sum()), np.nan)
        measured, u, v = runs["pct"][test], runs["u"][test], runs["v"][test]
        for span in (2, 4):
            within = (np.abs(u) <= np.log2(span)) & (np.abs(v) <= np.log2(span))
            rows["model"][span] += list(np.abs(np.minimum(model, CAP_PCT) - measured)[within])
            rows["naive"][span] += list(np.abs(np.minimum(naive, CAP_PCT) - measured)[within])
        in4 = (np.abs(u) <= 2) & (np.abs(v) <= 2)
        costly += int((in4 & (measured > RISKY_PCT)).sum())
        flagged += int((in4 & (measured > RISKY_PCT) & (upper >= RISKY_PCT)).sum())
        cheap += int((in4 & (measured <= RISKY_PCT)).sum())
        false_alarms += int((in4 & (measured <= RISKY_PCT) & (upper >= RISKY_PCT)).sum())
    summary = {name: {f"within_{span}x": {"n": len(errs), "median_abs_pp": float(np.median(errs)),
                                          "mean_abs_pp": float(np.mean(errs))}
                      for span, errs in spans.items() if errs}
               for name, spans in rows.items()}
    if not n_boot:
        return {**summary, "cap_pct": CAP_PCT}
    return {**summary, "costly_runs": costly, "costly_flagged": flagged, "cheap_runs": cheap,
            "cheap_flagged": false_alarms, "cap_pct": CAP_PCT}
