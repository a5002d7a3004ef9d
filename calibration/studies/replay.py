"""Replay a search against a recorded sweep: what would a calibration with fewer runs have found?

A recorded full LR x batch grid (Step Law's, data/sources/steplaw-*) is an oracle. A search method of
this project (calibration/sweep/search.py: grid, sobol, tpe, coord) proposes (LR, batch) points round by
round, each answered by the measured loss of the recorded run nearest to it (in grid steps of log LR and
log batch), exactly as a sweep of the same spec would feed its rounds. The cell's optimum is then
estimated from the runs used, by the fitter's own local fit (calibration/fit/optimum.py), and scored by
its **regret**: the loss at the estimated optimum over the loss at the full grid's smooth optimum, both
read through the full grid's local fit (optimum.regret), minus one, in percent.

Pruning (`prune = "asha"`) cannot be replayed on these sources: they record final losses only, no loss
curves for the rungs to read.

The grid at a budget of n points is a coarser grid over the same box: n_lr x n_batch recorded values at
an even stride, its phase set by the seed (so that seeds see different coarse grids).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from calibration.fit.cell_fit import fit_cell
from calibration.fit.optimum import CellOptimum, regret
from calibration.fit.table import Cell
from calibration.sweep.adaptive import PointResult
from calibration.sweep.spec import parse_spec

NOT_REPLAYABLE = {"asha": "the recorded sweeps keep final losses only, no loss curves for the rungs to read"}


@dataclass
class RecordedCell:
    """One (N, D) cell of a recorded sweep: its runs, the full grid's local fit, and the box a spec sees."""

    name: str
    n_params: float
    tokens: float
    seq_len: int
    lr: np.ndarray
    batch_seqs: np.ndarray
    loss: np.ndarray
    full: Cell
    optimum: CellOptimum
    rows: np.ndarray  # the runs' index labels in the table they came from

    @property
    def lr_values(self) -> tuple:
        return tuple(sorted(set(self.lr.tolist())))

    @property
    def batch_values(self) -> tuple:
        return tuple(sorted(set(int(b) for b in self.batch_seqs)))

    def nearest(self, lr: float, batch: int) -> int:
        """Index of the recorded run nearest (lr, batch), in grid steps (LR: the cell's step, batch: x2)."""
        step = math.log(self.lr_values[-1] / self.lr_values[0]) / max(len(self.lr_values) - 1, 1)
        du = np.abs(np.log(self.lr / lr)) / step
        dv = np.abs(np.log(self.batch_seqs / batch)) / math.log(2.0)
        return int(np.lexsort((np.arange(len(du)), du + dv))[0])


def recorded_cells(df: pd.DataFrame) -> list[RecordedCell]:
    """The ok runs of a trial table (contract 1) grouped into cells; a cell's full grid is fitted once."""
    df = df[df["status"].astype(str) == "ok"] if "status" in df.columns else df
    keys = ["n_params"] + (["n_params_active"] if "n_params_active" in df.columns else []) + ["tokens"]
    cells = []
    for key, g in df.groupby(keys, sort=True, dropna=False):
        lr, batch, loss = (g[c].to_numpy(float) for c in ("lr", "batch_seqs", "loss"))
        seq_len = int(g["seq_len"].iloc[0])
        full = _cell(float(key[0]), float(key[-1]), lr, batch * seq_len, loss)
        name = " ".join(f"{k}={v:.3g}" for k, v in zip(keys, key))
        cells.append(RecordedCell(name, float(key[0]), float(key[-1]), seq_len, lr, batch, loss, full, fit_cell(full),
                                  g.index.to_numpy()))
    return cells


def _cell(n_params: float, tokens: float, lr, batch_tokens, loss) -> Cell:
    return Cell(n_params, tokens, np.log(np.asarray(lr, float)), np.log(np.asarray(batch_tokens, float)),
                np.asarray(loss, float))


def replay_spec(cell: RecordedCell, search: dict):
    """The spec a user would write for this cell's box, with the given [search] table (validated as any)."""
    raw = {"name": "replay", "sizes": {"n_params": [1e4]}, "budget": {"tokens": [int(cell.tokens)]},
           "lr": {"values": list(cell.lr_values)}, "batch": {"seqs": list(cell.batch_values)},
           "trial": {"seq_len": cell.seq_len},
           "adaptive": {"lr_min": min(cell.lr_values), "lr_max": max(cell.lr_values),
                        "batch_min": min(cell.batch_values), "batch_max": max(cell.batch_values)},
           "search": dict(search)}
    return parse_spec(raw)


@dataclass
class ReplayResult:
    runs: int  # distinct recorded runs the search used
    log_lr: float
    log_batch: float
    regret_pct: float
    method: str  # how the local fit placed the optimum (optimum.Method label)


def replay(cell: RecordedCell, method: str, budget: int, seed: int) -> ReplayResult:
    """Run `method` with `budget` points on the cell, answered by its recorded runs; score the estimate."""
    return score(cell, replay_runs(cell, method, budget, seed))


def replay_runs(cell: RecordedCell, method: str, budget: int, seed: int) -> list[int]:
    """The distinct recorded runs (indices into the cell's arrays) `method` uses with `budget` points."""
    used = (_coarse_grid(cell, budget, seed) if method == "grid"
            else _search_runs(cell, {"method": method, "trials_per_cell": budget, "seed": seed}))
    return sorted(set(used))


def score(cell: RecordedCell, used: list) -> ReplayResult:
    """The optimum the fitter's local fit places from the runs `used` (indices), and its regret."""
    idx = np.array(used, int)
    sub = _cell(cell.n_params, cell.tokens, cell.lr[idx], cell.batch_seqs[idx] * cell.seq_len, cell.loss[idx])
    est = fit_cell(sub)
    r = regret(cell.full, cell.optimum, est.log_lr, est.log_batch)
    return ReplayResult(len(idx), est.log_lr, est.log_batch, max(r["regret_pct"], 0.0), est.method.label)


def _search_runs(cell: RecordedCell, search: dict) -> list[int]:
    """The recorded runs a search's rounds use, each round reading the answers to the rounds before it."""
    from calibration.sweep.search import first_round, next_round, round_sizes

    spec = replay_spec(cell, search)
    key = f"replay:{cell.name}"
    used: list[int] = []
    points: list[PointResult] = []
    for k, size in enumerate(round_sizes(spec.search)):
        ordered = sorted(points, key=lambda p: (p.batch_seqs, p.lr, p.seed))
        proposals = first_round(spec, key) if k == 0 else next_round(spec, key, ordered, size, k)
        for lr, batch in proposals:
            i = cell.nearest(lr, batch)
            used.append(i)
            points.append(PointResult(float(cell.lr[i]), int(cell.batch_seqs[i]), 0, "ok", float(cell.loss[i])))
    return used


def grid_shape(budget: int) -> tuple[int, int]:
    """(LR values, batch values) of a coarse grid of about `budget` points: 3 batches up to 20 points, 4
    beyond (the local fit's 2-D model needs 3), the rest in LR."""
    n_batch = 3 if budget < 20 else 4
    return max(budget // n_batch, 2), n_batch


def _coarse_grid(cell: RecordedCell, budget: int, seed: int) -> list[int]:
    """The recorded runs of a coarse n_lr x n_batch grid at an even stride over the cell's values."""
    n_lr, n_batch = grid_shape(budget)
    lrs = _strided(cell.lr_values, n_lr, seed)
    batches = _strided(cell.batch_values, n_batch, seed // 3)
    return [cell.nearest(lr, b) for lr in lrs for b in batches]


def _strided(values: tuple, n: int, seed: int) -> list:
    """n of the values at an even stride spanning them, shifted by up to one stride with the seed."""
    if n >= len(values):
        return list(values)
    stride = (len(values) - 1) / (n - 1)
    shift = (seed % 3 - 1) * 0.5 * min(stride - 1, 1.0) if stride > 1 else 0.0
    return [values[min(max(int(round(i * stride + shift)), 0), len(values) - 1)] for i in range(n)]
