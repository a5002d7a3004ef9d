"""Advice per optimizer, from Marin's sweep (Wen et al., arXiv 2509.02046): 11 optimizers tuned at
130M-1.2B and 1-16x Chinchilla by coordinate descent, shipped as data/sources/marin-*.

The laws and knob summaries are precomputed by `python3 -m calibration.fit.optimizer_summary --write` into
data/optimizers/marin.json (method there); this module only reads that file (pure Python):

- LR and batch at a target: ln y = a + α·ln N + β·ln D, the optimizer's own law ("own") or AdamW's
  exponents with the optimizer's measured offset ("adamw_exponents"), with a 90% interval from the
  coefficients' covariance and the cells' scatter (at least a 2x grid's rounding);
- every other knob: the measured optimum of the nearest tuned cell (in ln N, ln D), how it moved across
  the cells, and what one grid step away cost in loss (1-D ablations);
- `check`: the loss cost of a planned LR from the cells' LR profiles, and the divergence cliff.
"""
from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

from advisor.paths import data_dir
from advisor.errors import AdvisorError

LAWS_FILE = Path("optimizers") / "marin.json"
Z90 = 1.6449  # two-sided 90% normal quantile
FAR_EXTRAPOLATION = 10.0
LAW_KINDS = {"own": "its own law (fitted on its cells)",
             "adamw_exponents": "AdamW's exponents with this optimizer's measured offset (its cells cannot "
                                "separate N from D)"}
MB = 2**20


@lru_cache(maxsize=2)
def load(path: str | None = None) -> dict:
    p = Path(path) if path else data_dir() / LAWS_FILE
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AdvisorError(f"cannot read the optimizer laws {p}: {exc}") from None
    if doc.get("schema") != "scaling-advisor/optimizer-laws":
        raise AdvisorError(f"{p} is not an optimizer-laws file")
    return doc


def names(doc: dict | None = None) -> list[str]:
    return sorted((doc or load())["optimizers"])


def summary(name: str, doc: dict | None = None) -> dict:
    """One optimizer's summary; an unknown name is bad input (one line)."""
    doc = doc or load()
    if name not in doc["optimizers"]:
        raise AdvisorError(f"unknown optimizer {name!r} (known: {', '.join(names(doc))})")
    return doc["optimizers"][name]


def predict(law: dict, n: float, d: float) -> dict:
    """The law's value at (N, D) with its 90% interval and how far (N, D) lies beyond the fitted range."""
    x = [1.0, math.log(n), math.log(d)]
    mu = sum(c * xi for c, xi in zip(law["coef"], x))
    var = sum(x[i] * law["cov"][i][j] * x[j] for i in range(3) for j in range(3)) + law["resid_sd"] ** 2
    sd = math.sqrt(max(var, 0.0))
    return {"value": math.exp(mu), "low": math.exp(mu - Z90 * sd), "high": math.exp(mu + Z90 * sd),
            "sd_ln": sd, "kind": law["kind"], "beyond_n": _beyond(n, law["n_params"]),
            "beyond_d": _beyond(d, law["tokens"])}


def _beyond(x: float, span: list) -> float:
    """How many times x lies outside [lo, hi] (1 inside)."""
    lo, hi = span
    return max(x / hi, lo / x, 1.0)


def nearest_cell(cells: list, n: float, d_per_n: float) -> list:
    """The [N, multiple, ...] row nearest the target in ln N and ln(Chinchilla multiple)."""
    multiple = d_per_n / 20.0
    return min(cells, key=lambda c: abs(math.log(c[0] / n)) + abs(math.log(c[1] / multiple)))


def knob_answer(knob: dict, n: float, d: float) -> dict:
    """A knob's value for the target: the measured optimum of the nearest cell that profiled it (else the
    nearest cell's tuned value), with its movement across cells and the cost of one grid step."""
    measured = [row for row in knob["by_cell"] if row[3] is not None]
    rows = measured or [row for row in knob["by_cell"] if row[2] is not None]
    if not rows:
        return {"value": None}
    row = nearest_cell(rows, n, d / n)
    value = row[3] if measured else row[2]
    ran = [r for r in knob["by_cell"] if r[2] is not None]
    nearest_run = nearest_cell(ran, n, d / n) if ran else None
    return {"value": value, "cell": row[:2], "edge": row[4] if measured else None, "measured": bool(measured),
            "moves": movement(knob["by_cell"]), "step_cost": knob["step_cost"],
            "same_everywhere": _same_everywhere(knob["by_cell"]),
            "marin_ran": None if nearest_run is None or nearest_run[2] == value else
            {"value": nearest_run[2], "cell": nearest_run[:2]}}


def movement(by_cell: list) -> str:
    """Per size, the optimum (measured, else tuned) at each budget: '134M: 0.95 0.98≥ | 537M: 0.95'."""
    sizes: dict = {}
    for n, mult, tuned, optimum, edge in by_cell:
        v = optimum if optimum is not None else tuned
        if v is None:
            continue
        mark = {"low": "≤", "high": "≥"}.get(edge, "") if optimum is not None else "*"
        sizes.setdefault(n, []).append(f"{_fmt(v)}{mark}@{mult:g}×")
    return " | ".join(f"{_count(n)}: {' '.join(vs)}" for n, vs in sorted(sizes.items()))


def _same_everywhere(by_cell: list) -> int | None:
    """The number of cells when every cell's value (measured, else tuned) is one and the same, else None."""
    values = [r[3] if r[3] is not None else r[2] for r in by_cell]
    values = [v for v in values if v is not None]
    return len(values) if values and all(v == values[0] for v in values) else None


def _fmt(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _count(n: float) -> str:
    return f"{n / 1e9:.3g}B" if n >= 1e9 else f"{n / 1e6:.3g}M"


def lr_cost(profiles: list, steps_above: float) -> dict:
    """Loss excess (%) at `steps_above` 2x steps above the optimum LR, per cell by linear interpolation in
    log2 LR (None: past a diverged point or outside the profile); median and range over the cells."""
    values = []
    for p in profiles:
        v = _interpolate(p["points"], steps_above)
        if v is not None:
            values.append(v)
    if not values:
        return {"n": 0}
    values.sort()
    return {"n": len(values), "median": values[len(values) // 2] if len(values) % 2 else
            0.5 * (values[len(values) // 2 - 1] + values[len(values) // 2]), "min": values[0], "max": values[-1]}


TOLERANCES = (0.25, 1.0)  # % of loss, as the AdamW answer's tolerance lines


def tolerance(profiles: list, pct: float, step: float = 0.05, reach: float = 4.0) -> tuple[float, float] | None:
    """The range of 2x steps around the optimum over which the cells' median loss excess stays within pct
    (walking out from 0 while the profiles measure it); None without profiles."""
    bounds = []
    for direction in (-1.0, 1.0):
        s, last = 0.0, 0.0
        while abs(s) <= reach:
            cost = lr_cost(profiles, s)
            if not cost.get("n") or cost["median"] > pct:
                break
            last, s = s, s + direction * step
        bounds.append(last)
    return None if not profiles else (bounds[0], bounds[1])


def value_cost(profiles: list, value: float) -> dict:
    """Loss excess (%) at a knob's value (e.g. a weight decay), interpolated linearly in the value on each
    cell's profile; median and range over the cells whose profile spans it."""
    return lr_cost([{"points": p["points"]} for p in profiles], value)


def _interpolate(points: list, s: float) -> float | None:
    if not points or s < points[0][0] or s > points[-1][0]:
        return None
    for (s0, e0), (s1, e1) in zip(points, points[1:]):
        if s0 <= s <= s1:
            if e0 is None or e1 is None:
                return math.inf if (e1 is None and s > s0) or (e0 is None and s == s0) else e0
            return e0 + (e1 - e0) * (s - s0) / (s1 - s0) if s1 > s0 else e0
    return points[-1][1] if points[-1][0] == s else None


def cliff(profiles: list) -> dict | None:
    """The nearest divergence cliff above the optimum over the cells: the fewest 2x steps at which a cell's
    LR profile lost 5% or more (or diverged), and the cells that show it."""
    cells = [p for p in profiles if p.get("cliff_steps") is not None]
    if not cells:
        return None
    nearest = min(p["cliff_steps"] for p in cells)
    return {"steps": nearest, "cells": [[p["n_params"], p["multiple"]] for p in cells if p["cliff_steps"] == nearest],
            "of": len(profiles)}


def tuned_lr_ratio(numerator: str, denominator: str, doc: dict | None = None) -> list[float]:
    """Marin's measured LR optimum of one optimizer over another's, at the cells both measured."""
    a = {(c[0], c[1]): c[2] for c in (summary(numerator, doc)["laws"]["lr"] or {}).get("cells", [])}
    b = {(c[0], c[1]): c[2] for c in (summary(denominator, doc)["laws"]["lr"] or {}).get("cells", [])}
    return [round(a[k] / b[k], 3) for k in sorted(a) if k in b]
