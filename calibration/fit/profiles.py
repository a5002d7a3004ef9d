"""Coordinate-descent data (Marin's sweep): per cell, a tuned configuration and 1-D profiles around it.

A profile is the runs of one cell that differ from the tuned run in one knob (the `ablated` column), plus
the tuned run itself. Its optimum is the best value on it; an optimum on the profile's edge is a bound
(`edge` = "low" or "high"), and the grid step is the resolution (docs/fitting.md). For the LR, an interior
optimum is refined by a parabola in log LR through its two neighbours (kept within half a step).

    cells = profile_cells(pd.read_csv("data/sources/marin-muon/trials.csv"))
    cells[0].profiles["lr"].optimum, cells[0].profiles["lr"].edge
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

CELL_COLUMNS = ("n_params", "chinchilla_multiple")
# Columns of a marin-* table that are not the run's settings (the rest are: lr, batch_seqs, weight_decay, ...)
NOT_SETTINGS = {"trial_id", "status", "n_params", "n_params_total", "n_layer", "d_model", "n_head", "d_ff",
                "vocab_size", "seq_len", "tokens", "batch_tokens", "steps", "seed", "loss", "train_loss", "flops",
                "wall_s", "device", "data_id", "code_version", "finished_at", "error", "n_params_active",
                "optimizer", "setup", "source", "tokenizer", "chinchilla_multiple", "ablated", "upstream_file",
                "upstream_commit", "upstream_run"}


@dataclass
class Profile:
    """One knob's 1-D profile in one cell: values ascending, their losses (nan: failed) and statuses."""

    knob: str
    values: list
    losses: list
    statuses: list
    tuned: float  # the value of the tuned (baseline) run

    @property
    def usable(self) -> list[int]:
        return [i for i, (l, s) in enumerate(zip(self.losses, self.statuses)) if s == "ok" and math.isfinite(l)]

    @property
    def best(self) -> int | None:
        ok = self.usable
        return min(ok, key=lambda i: self.losses[i]) if ok else None

    @property
    def optimum(self) -> float | None:
        i = self.best
        return None if i is None else self.values[i]

    @property
    def edge(self) -> str | None:
        """'low' / 'high' when the best value is the profile's smallest / largest tried (a bound)."""
        i = self.best
        if i is None or len(self.values) < 2:
            return None
        return "low" if i == 0 else "high" if i == len(self.values) - 1 else None

    def excess(self, i: int) -> float:
        """Loss of value i over the profile's best, in percent (inf when it diverged or failed)."""
        b = self.best
        if b is None:
            return math.nan
        if self.statuses[i] == "diverged":
            return math.inf
        if self.statuses[i] != "ok" or not math.isfinite(self.losses[i]):
            return math.nan
        return 100.0 * (self.losses[i] / self.losses[b] - 1.0)


@dataclass
class ProfileCell:
    n_params: float
    tokens: float
    multiple: float
    tuned: dict  # knob -> the tuned run's value
    loss: float  # the tuned run's loss (nan when it failed)
    profiles: dict = field(default_factory=dict)  # knob -> Profile (knobs with at least two values run)


def profile_cells(df: pd.DataFrame) -> list[ProfileCell]:
    """The table's cells (by n_params and Chinchilla multiple), each with its tuned run and profiles."""
    knobs = sorted(df["ablated"].dropna().astype(str).unique())
    settings = [c for c in df.columns if c not in NOT_SETTINGS]
    cells = []
    for (n, mult), g in df.groupby(list(CELL_COLUMNS), sort=True):
        base = g[g["ablated"].isna()]
        if base.empty:
            continue
        b = base.iloc[0]
        cell = ProfileCell(float(n), float(b["tokens"]), float(mult), {k: _value(b[k]) for k in settings},
                           float(b["loss"]) if b["status"] == "ok" else math.nan)
        for knob in knobs:
            rows = pd.concat([base.iloc[:1], g[g["ablated"] == knob]])
            rows = rows[pd.notna(rows[knob])]
            rows = rows.sort_values(knob) if pd.api.types.is_numeric_dtype(rows[knob]) else rows
            if rows[knob].nunique() >= 2:
                cell.profiles[knob] = Profile(knob, [_value(v) for v in rows[knob]],
                                              [float(x) for x in pd.to_numeric(rows["loss"], errors="coerce")],
                                              rows["status"].astype(str).tolist(), _value(b[knob]))
        cells.append(cell)
    return cells


def _value(v):
    """A plain JSON-able value: float, bool, str, or None for a missing one."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v) if math.isfinite(float(v)) else None
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def refined_lr(p: Profile) -> float | None:
    """The LR optimum: a parabola in log LR through the best value and its neighbours (interior optima),
    its vertex kept within half a step of the best; the best value itself on an edge."""
    i = p.best
    if i is None or p.edge is not None:
        return p.optimum
    ok = p.usable
    if i - 1 not in ok or i + 1 not in ok:
        return p.optimum
    x = np.log([p.values[i - 1], p.values[i], p.values[i + 1]])
    y = np.array([p.losses[i - 1], p.losses[i], p.losses[i + 1]])
    a, b, _ = np.polyfit(x, y, 2)
    if a <= 0:
        return p.optimum
    half = 0.5 * min(x[1] - x[0], x[2] - x[1])
    return float(math.exp(min(max(-b / (2 * a), x[1] - half), x[1] + half)))


def step_costs(cells: list[ProfileCell], knob: str) -> dict:
    """One grid step below and above each cell's best value of knob: the loss excess in percent (median,
    range and count over cells; a diverged neighbour counts as a cliff)."""
    down, up, cliffs = [], [], 0
    for c in cells:
        p = c.profiles.get(knob)
        if p is None or p.best is None:
            continue
        i = p.best
        for j, out in ((i - 1, down), (i + 1, up)):
            if 0 <= j < len(p.values):
                e = p.excess(j)
                if e == math.inf:
                    cliffs += 1
                elif math.isfinite(e):
                    out.append(e)
    return {"down": _spread(down), "up": _spread(up), "diverged_neighbours": cliffs}


def _spread(xs: list) -> dict | None:
    if not xs:
        return None
    return {"median": round(float(np.median(xs)), 4), "min": round(min(xs), 4), "max": round(max(xs), 4),
            "n": len(xs)}
