"""Cell optima of a coordinate-descent source (Marin's sweep: a tuned configuration and 1-D ablations of each
hyperparameter around it on a 2x grid, the `ablated` column naming the one changed), for the cross-setup fit.

Per (N, D) cell and per law, the profile is the baseline run and the runs that changed only that
hyperparameter (LR at the baseline batch; batch at the baseline LR). Its optimum is the best run's value:
- interior when a worse run (or a diverged one, above) lies on both sides: the optimum lies within the
  bracket; with three finite losses the parabola's vertex in log x refines it (kept within half a step);
- an edge otherwise (the best run is the smallest or largest value tried, or the only one): the optimum is
  a bound, not a value: below half a step above the best run when that is the smallest value tried (its
  neighbour above was worse or diverged), above half a step below it when it is the largest. Edge cells
  carry weight 0 and their bound (`bounds`); the cross-setup fit uses a bound only where the law would
  cross it (cross_law.censored). Lone runs say nothing. All are still predicted and scored, the sweep's
  tuned value being the best its authors found.
The resolution is the grid step: the bootstrap draws each interior optimum uniformly within half a step.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd

BLOWN_UP = 1.5  # a run whose loss is this many times the cell's best failed (Marin's diverged runs: 7 and more)
LAW_COLUMN = {"lr": ("lr", "lr"), "batch": ("batch_seqs", "batch_tokens")}  # ablated label, value column


def is_profile_table(raw: pd.DataFrame) -> bool:
    return {"ablated", "status", "n_params", "tokens", "lr", "batch_tokens", "loss"} <= set(raw.columns)


def profile_optimum(values, losses, failed) -> tuple[float, bool, float, int] | None:
    """(log optimum, interior, log grid step, bound) of one 1-D profile, bound +1 when the best run is the
    lowest value tried (the optimum lies below half a step above it), -1 when it is the highest, 0 when
    interior or alone (no side known); None without a finite loss."""
    order = np.argsort(values)
    x, loss, bad = np.log(np.asarray(values, float)[order]), np.asarray(losses, float)[order], np.asarray(failed)[order]
    ok = ~bad & np.isfinite(loss)
    if not ok.any():
        return None
    ux = np.unique(np.round(x, 9))
    step = float(np.median(np.diff(ux))) if len(ux) > 1 else math.log(2.0)
    best = int(np.flatnonzero(ok)[np.argmin(loss[ok])])
    lower = [i for i in range(len(x)) if x[i] < x[best] - 1e-9 and ok[i] and loss[i] > loss[best]]
    upper = [i for i in range(len(x)) if x[i] > x[best] + 1e-9 and (bad[i] or loss[i] > loss[best])]
    if not (lower and upper):
        return float(x[best]), False, step, (1 if upper else -1 if lower else 0)
    lo, hi = max(lower, key=lambda i: x[i]), min(upper, key=lambda i: x[i])
    if ok[hi]:
        xs, ys = x[[lo, best, hi]], loss[[lo, best, hi]]
        a, b, _ = np.polyfit(xs - x[best], ys, 2)
        if a > 0:
            return float(x[best] + np.clip(-b / (2 * a), -step / 2, step / 2)), True, step, 0
    return float(x[best]), True, step, 0


def _failed(rows: pd.DataFrame) -> np.ndarray:
    loss = pd.to_numeric(rows["loss"], errors="coerce").to_numpy(float)
    best = np.nanmin(loss) if np.isfinite(loss).any() else np.nan
    return (rows["status"].astype(str) != "ok").to_numpy() | ~np.isfinite(loss) | (loss > BLOWN_UP * best)


def profile_cells(raw: pd.DataFrame) -> list[SimpleNamespace]:
    """One record per (N, D) cell with a baseline run: its LR and batch profiles' optima."""
    df = raw[raw["status"].astype(str).isin(["ok", "diverged"])]
    out = []
    for (n, d), rows in df.groupby(["n_params", "tokens"]):
        base = rows[rows["ablated"].isna()]
        if base.empty:
            continue
        b0, lr0 = float(base["batch_tokens"].iloc[0]), float(base["lr"].iloc[0])
        cell = SimpleNamespace(n_params=float(n), tokens=float(d))
        for law, (label, col) in LAW_COLUMN.items():
            other, fixed = ("batch_tokens", b0) if law == "lr" else ("lr", lr0)
            prof = rows[(rows["ablated"].isna() | (rows["ablated"] == label)) & np.isclose(rows[other], fixed)]
            setattr(cell, law, profile_optimum(prof[col if law == "lr" else "batch_tokens"].to_numpy(float),
                                               pd.to_numeric(prof["loss"], errors="coerce"), _failed(prof)))
            setattr(cell, f"log_{law}", np.log(prof[col if law == "lr" else "batch_tokens"].to_numpy(float)))
        if cell.lr is not None:
            out.append(cell)
    return out


class ProfileTable:
    """Duck-types validate.CellTable for joint_law.Stack: cells, inputs, y(law), w(law) (interior optima
    weigh 1, edges 0) and `scored(law)` (every cell with a value: what validation predicts)."""

    def __init__(self, cells: list[SimpleNamespace]) -> None:
        self.cells = cells

    @property
    def inputs(self) -> dict[str, np.ndarray]:
        n = np.array([c.n_params for c in self.cells])
        d = np.array([c.tokens for c in self.cells])
        return {"n_params": n, "tokens": d, "flops": 6.0 * n * d}

    def y(self, law: str) -> np.ndarray:
        return np.array([getattr(c, law)[0] if getattr(c, law) else 0.0 for c in self.cells])  # 0: weight 0, unscored

    def w(self, law: str) -> np.ndarray:
        return np.array([1.0 if getattr(c, law) and getattr(c, law)[1] else 0.0 for c in self.cells])

    def scored(self, law: str) -> np.ndarray:
        return np.array([getattr(c, law) is not None for c in self.cells])

    def steps(self, law: str) -> np.ndarray:
        return np.array([getattr(c, law)[2] if getattr(c, law) else math.log(2.0) for c in self.cells])

    def bounds(self, law: str) -> tuple[np.ndarray, np.ndarray]:
        """(sign, log value) of each edge optimum's bound: +1 an upper bound half a step above the best run,
        -1 a lower bound half a step below; 0 for interior optima and lone runs."""
        sign = np.array([getattr(c, law)[3] if getattr(c, law) else 0 for c in self.cells])
        return sign, self.y(law) + sign * self.steps(law) / 2

    def samples(self, law: str, n_boot: int, rng: np.random.Generator) -> np.ndarray:
        """(n_boot, m): each optimum drawn uniformly within half its grid step (the profile's resolution)."""
        y = self.y(law)
        return y[None, :] + (rng.random((n_boot, len(y))) - 0.5) * self.steps(law)[None, :]
