"""Replay a calibration design on a recorded sweep: does a law fitted on a fraction of the runs predict as well?

A design picks cells (proxy sizes x token budgets) and a search with a budget of points per cell. On a
recorded sweep (Step Law dense: 17 cells, 1,911 runs) each chosen cell's search is replayed
(replay.py: every proposal answered by the nearest recorded run), the runs it used are fitted as a
calibration would be (ScaleLawFitter, or its WithSources strategy borrowing exponents from shipped sources: `--with`),
and the fit is scored against the fit on all the data:

- LR and batch error at the held-out largest size: the design's runs below the sweep's largest size are
  fitted and predict that size's cells, scored by |log2| against each cell's full-grid optimum (the
  fitter's local fit). The reference is the same test for the full data: every run but the largest size's.
- interval at the target (7B params, 2T tokens by default): the width (log of high/low) of the 90% LR
  interval of the design's fit (all its sizes) over the full-data fit's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from calibration.studies.replay import RecordedCell, recorded_cells, replay_runs

TARGET = (7e9, 2e12)  # (N, D) at which interval widths are compared


@dataclass(frozen=True)
class Design:
    """Which cells a design trains and how: sizes (indices into the sweep's sizes, None for all), budgets per
    size ("ends": its smallest and largest D, "all"), and the search per cell ("full": every recorded run)."""

    name: str
    sizes: tuple | None = None
    budgets: str = "ends"
    method: str = "coord"
    points: int = 12


@dataclass
class LawScore:
    design: str
    borrow: str  # "" or the sources borrowed from
    runs: int
    share: float  # of the sweep's runs
    lr_err: float  # mean |log2| at the held-out largest size
    batch_err: float
    width: float  # log(high/low) of the LR interval at TARGET
    seeds: list = field(default_factory=list)


def design_cells(cells: list[RecordedCell], design: Design) -> list[RecordedCell]:
    """The cells a design trains: its sizes and their budgets."""
    sizes = sorted({c.n_params for c in cells})
    chosen = sizes if design.sizes is None else [sizes[i] for i in design.sizes]
    out = []
    for n in chosen:
        own = sorted((c for c in cells if c.n_params == n), key=lambda c: c.tokens)
        out += own if design.budgets == "all" else [own[0], own[-1]] if len(own) > 1 else own
    return out


def design_table(table: pd.DataFrame, cells: list[RecordedCell], design: Design, seed: int) -> pd.DataFrame:
    """The recorded rows a design's searches use (the full grid of each cell when design.method is 'full')."""
    labels = []
    for c in design_cells(cells, design):
        used = range(len(c.rows)) if design.method == "full" else replay_runs(c, design.method, design.points, seed)
        labels += [c.rows[i] for i in used]
    return table.loc[labels].reset_index(drop=True)


def fit(table: pd.DataFrame, borrow: tuple = (), n_boot: int = 100, seed: int = 0):
    """A fitted model (advisor.model.FittedModel) of the table, alone or jointly with shipped sources."""
    from advisor.model import FittedModel
    from calibration.fit.fitter import ScaleLawFitter
    from calibration.fit.joint import WithSources

    if borrow:
        fitter = ScaleLawFitter(n_boot=n_boot, seed=seed, loss_surface=False, setups=WithSources(list(borrow)))
    else:
        fitter = ScaleLawFitter(n_boot=n_boot, seed=seed, loss_surface=False)
    return FittedModel.from_artifact(fitter.fit(table).artifact_)


def held_out_errors(model, held: list[RecordedCell]) -> tuple[float, float]:
    """Mean |log2| error of the model's LR and batch at the held-out cells, against their full-grid optima."""
    lr = [abs(math.log(model.predict_lr(c.n_params, c.tokens).value) - c.optimum.log_lr) / math.log(2) for c in held]
    batch = [abs(math.log(model.predict_batch(c.n_params, c.tokens).value) - c.optimum.log_batch) / math.log(2)
             for c in held]
    return float(np.mean(lr)), float(np.mean(batch))


def width(model, target: tuple = TARGET) -> float:
    """log(high / low) of the model's 90% LR interval at the target."""
    return math.log(model.predict_lr(*target).ratio)


def score_design(table: pd.DataFrame, cells: list, design: Design, seeds, borrow: tuple = (),
                 n_boot: int = 100) -> LawScore:
    """The design replayed at each seed, fitted, and scored; figures are means over the seeds."""
    largest = max(c.n_params for c in cells)
    held = [c for c in cells if c.n_params == largest]
    per_seed = []
    for seed in seeds:
        sub = design_table(table, cells, design, seed)
        below = fit(sub[sub["n_params"] < largest], borrow, n_boot, seed)
        per_seed.append((len(sub), *held_out_errors(below, held), width(fit(sub, borrow, n_boot, seed))))
    runs, lr_err, batch_err, w = (float(np.mean([s[i] for s in per_seed])) for i in range(4))
    n_ok = int((table["status"] == "ok").sum())
    return LawScore(design.name, "+".join(name for name, _ in borrow), round(runs), runs / n_ok, lr_err, batch_err, w,
                    per_seed)


def reference(table: pd.DataFrame, cells: list, borrow: tuple = (), n_boot: int = 100) -> LawScore:
    """The full data: held-out error from every run below the largest size, width from every run."""
    largest = max(c.n_params for c in cells)
    held = [c for c in cells if c.n_params == largest]
    below = fit(table[table["n_params"] < largest], borrow, n_boot)
    lr_err, batch_err = held_out_errors(below, held)
    full = fit(table, borrow, n_boot)
    n_ok = int((table["status"] == "ok").sum())
    return LawScore("full data", "+".join(name for name, _ in borrow), n_ok, 1.0, lr_err, batch_err, width(full))


def load(path) -> tuple[pd.DataFrame, list[RecordedCell]]:
    table = pd.read_csv(path)
    return table, recorded_cells(table)
