"""Per-optimizer laws and knob summaries from Marin's sweep, precomputed for the light advisor.

    python3 -m calibration.fit.optimizer_summary --write      # data/optimizers/marin.json

For each shipped `marin-*` source (arXiv 2509.02046; one optimizer each): the LR and batch laws
log y = a + α·ln N + β·ln D, fitted by weighted least squares on the cells whose 1-D profile measured the
optimum (calibration/fit/profiles.py; an edge optimum is a bound and weighs half). An optimizer gets its
own law when its measured cells span three sizes and at least two sizes span two budgets; otherwise
AdamW's exponents (from marin-adamw's own law) with the optimizer's measured offset, and the file says
which. Every other knob: the tuned and measured value per cell, and what one grid step away cost (in % of
loss). The LR profiles (loss excess by 2× step from the best LR) feed `advisor check`'s cost and its
divergence-cliff flag. The advisor reads only the JSON (no numpy at advice time).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from advisor.catalog import entries, entry_path
from advisor.paths import data_dir
from calibration.fit.profiles import ProfileCell, profile_cells, refined_lr, step_costs

SCHEMA = "scaling-advisor/optimizer-laws"
OUTPUT = Path("optimizers") / "marin.json"
SEQ_LEN = 4096  # Marin's sequence length (data/sources/marin-*/README.md): batch_seqs x 4096 tokens
GRID_SD = math.log(2) / math.sqrt(12)  # a 2x grid's rounding error (sd of a uniform over one step), in ln
EDGE_WEIGHT = 0.5
CLIFF_PCT = 5.0  # a 2x LR step costing this much loss (or diverging) is a cliff
MIN_SIZES = 3


def marin_sources() -> dict[str, Path]:
    """optimizer -> its shipped source table (catalog entries named marin-*)."""
    return {e["name"].removeprefix("marin-"): entry_path(e) for e in entries("source") if e["name"].startswith("marin-")}


def law_points(cells: list[ProfileCell], law: str) -> list[dict]:
    """The cells whose profile measured law's optimum: n_params, tokens, value (LR, or batch in tokens), edge."""
    knob = "lr" if law == "lr" else "batch_seqs"
    out = []
    for c in cells:
        p = c.profiles.get(knob)
        if p is None or p.best is None:
            continue
        value = refined_lr(p) if law == "lr" else p.optimum * SEQ_LEN
        out.append({"n_params": c.n_params, "tokens": c.tokens, "multiple": c.multiple, "value": value,
                    "edge": p.edge})
    return out


def fit_law(points: list[dict], exponents: tuple | None = None) -> dict | None:
    """ln value = a + α ln N + β ln D by weighted least squares (edge optima weigh EDGE_WEIGHT); with
    `exponents` (α, β) given, only the offset a. Returns coefficients, covariance and residual sd (at least
    the grid's rounding GRID_SD), or None when the points cannot determine it."""
    if not points:
        return None
    x = np.array([[1.0, math.log(p["n_params"]), math.log(p["tokens"])] for p in points])
    y = np.log([p["value"] for p in points])
    w = np.array([EDGE_WEIGHT if p["edge"] else 1.0 for p in points])
    if exponents is not None:
        offset = y - x[:, 1:] @ np.array(exponents)
        a = float(np.sum(w * offset) / w.sum())
        resid = offset - a
        dof = max(len(points) - 1, 1)
        sd = max(math.sqrt(float(np.sum(w * resid**2)) / dof) if len(points) > 1 else GRID_SD, GRID_SD)
        return {"coef": [a, *map(float, exponents)], "cov": [[sd**2 / w.sum(), 0, 0], [0, 0, 0], [0, 0, 0]],
                "resid_sd": sd, "n_cells": len(points)}
    if len(points) < 4 or np.linalg.matrix_rank(x) < 3:
        return None
    xtw = x.T * w
    coef = np.linalg.solve(xtw @ x, xtw @ y)
    resid = y - x @ coef
    sd = max(math.sqrt(float(np.sum(w * resid**2)) / (len(points) - 3)) if len(points) > 3 else GRID_SD, GRID_SD)
    cov = sd**2 * np.linalg.inv(xtw @ x)
    return {"coef": [float(c) for c in coef], "cov": cov.tolist(), "resid_sd": sd, "n_cells": len(points)}


def own_law_possible(points: list[dict], min_sizes: int = MIN_SIZES) -> bool:
    """min_sizes sizes (three), and two of them with two budgets: enough to separate N from D."""
    sizes = {p["n_params"] for p in points}
    budgets = [len({p["multiple"] for p in points if p["n_params"] == n}) for n in sizes]
    return len(sizes) >= min_sizes and sum(b >= 2 for b in budgets) >= 2


def fitted_law(points: list[dict], adamw_law: dict | None) -> dict | None:
    """The optimizer's own law where its cells allow, else AdamW's exponents with its offset (the "kind").
    AdamW itself (adamw_law None: nothing to borrow) takes its own law from two sizes when it must."""
    if own_law_possible(points, MIN_SIZES if adamw_law is not None else 2):
        law = fit_law(points)
        if law is not None:
            return {"kind": "own", **law, **_range(points)}
    if adamw_law is None or not points:
        return None
    law = fit_law(points, exponents=tuple(adamw_law["coef"][1:]))
    cov = np.array(adamw_law["cov"])
    cov[0, 0] += law["cov"][0][0]  # the exponents' uncertainty travels with them
    return {"kind": "adamw_exponents", **law, "cov": cov.tolist(), **_range(points)}


def _range(points: list[dict]) -> dict:
    return {"n_params": [min(p["n_params"] for p in points), max(p["n_params"] for p in points)],
            "tokens": [min(p["tokens"] for p in points), max(p["tokens"] for p in points)],
            "cells": [[p["n_params"], p["multiple"], round(p["value"], 8), p["edge"]] for p in points]}


def knob_summary(cells: list[ProfileCell], knob: str) -> dict:
    """A knob's tuned value and measured optimum per cell ([N, multiple, tuned, optimum, edge]; optimum
    None where the cell did not profile it) and what one grid step from the optimum cost."""
    by_cell = []
    for c in cells:
        p = c.profiles.get(knob)
        by_cell.append([c.n_params, c.multiple, c.tuned.get(knob), p.optimum if p else None, p.edge if p else None])
    grid = sorted({v for c in cells if knob in c.profiles for v in c.profiles[knob].values}, key=str)
    return {"by_cell": by_cell, "grid": grid, "step_cost": step_costs(cells, knob),
            "profiles": value_profiles(cells, knob)}


def value_profiles(cells: list[ProfileCell], knob: str) -> list[dict]:
    """A numeric knob's profiles as (value, loss excess % or None when diverged) per cell."""
    out = []
    for c in cells:
        p = c.profiles.get(knob)
        if p is None or p.best is None or not all(isinstance(v, float) for v in p.values):
            continue
        points = [[v, None if p.excess(i) == math.inf else round(p.excess(i), 4)]
                  for i, v in enumerate(p.values) if not math.isnan(p.excess(i))]
        out.append({"n_params": c.n_params, "multiple": c.multiple, "points": points})
    return out


def lr_profiles(cells: list[ProfileCell], knob: str = "lr") -> list[dict]:
    """Each cell's LR (or batch) profile as (log2 of the value over its best, loss excess % or None when it
    diverged), with the first 2x step above the best that cost CLIFF_PCT or diverged (the cliff; None when none)."""
    out = []
    for c in cells:
        p = c.profiles.get(knob)
        if p is None or p.best is None or len(p.usable) < 2:
            continue
        best = p.values[p.best]
        points = []
        for i, v in enumerate(p.values):
            e = p.excess(i)
            if math.isnan(e):
                continue
            points.append([round(math.log2(v / best), 4), None if e == math.inf else round(e, 4)])
        cliff = next((s for s, e in points if s > 0 and (e is None or e >= CLIFF_PCT)), None)
        out.append({"n_params": c.n_params, "multiple": c.multiple, "best": best, "edge": p.edge,
                    "points": points, "cliff_steps": cliff})
    return out


def summarize(name: str, df: pd.DataFrame, adamw_laws: dict | None) -> dict:
    cells = profile_cells(df)
    laws = {law: fitted_law(law_points(cells, law), (adamw_laws or {}).get(law)) for law in ("lr", "batch")}
    knobs = sorted({k for c in cells for k in c.profiles} - {"lr", "batch_seqs"})
    fixed = sorted({k for c in cells for k, v in c.tuned.items() if v is not None} - set(knobs) - {"lr", "batch_seqs"})
    return {
        "optimizer": name,
        "sizes": sorted({c.n_params for c in cells}),
        "cells": [{"n_params": c.n_params, "tokens": c.tokens, "multiple": c.multiple, "loss": _finite(c.loss),
                   "tuned": {k: v for k, v in c.tuned.items() if _plain(v)},
                   "profiled": sorted(c.profiles)} for c in cells],
        "laws": laws,
        "knobs": {k: knob_summary(cells, k) for k in knobs + fixed},
        "lr_profiles": lr_profiles(cells),
        "batch_profiles": lr_profiles(cells, "batch_seqs"),
        "batch_step_cost": step_costs(cells, "batch_seqs"),
    }


def _finite(x):
    return x if isinstance(x, float) and math.isfinite(x) else None


def _plain(v) -> bool:
    return isinstance(v, (str, bool)) or (isinstance(v, float) and math.isfinite(v))


def build(sources: dict[str, Path] | None = None, exclude_largest: bool = False) -> dict:
    """Every optimizer's summary (the others may borrow AdamW's exponents). exclude_largest drops each
    optimizer's largest size with a measured LR optimum (the held-out benchmark's refit), and the AdamW
    exponents it borrows are then fitted below that size too (nothing from the held-out size leaks in)."""
    sources = sources or marin_sources()
    tables = {name: pd.read_csv(path) for name, path in sources.items()}
    out = {}
    for name, table in sorted(tables.items()):
        cutoff = largest_measured_size(table) if exclude_largest else None
        adamw = None
        if name != "adamw" and "adamw" in tables:
            adamw = summarize("adamw", _below(tables["adamw"], cutoff), None)["laws"]
        out[name] = summarize(name, _below(table, cutoff), adamw)
    return {"schema": SCHEMA, "version": 1,
            "sources": {n: {"name": f"marin-{n}", "table_sha256": _sha(p)} for n, p in sorted(sources.items())},
            "method": __doc__.split("\n\n")[1].replace("\n", " "), "seq_len": SEQ_LEN,
            "created_by": "python3 -m calibration.fit.optimizer_summary --write",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "optimizers": out}


def _below(df: pd.DataFrame, cutoff: float | None) -> pd.DataFrame:
    return df if cutoff is None else df[df["n_params"] < cutoff]


def largest_measured_size(df: pd.DataFrame) -> float | None:
    """The largest n_params with an LR profile (at least two LRs run) in some cell."""
    sizes = [c.n_params for c in profile_cells(df) if "lr" in c.profiles]
    return max(sizes) if sizes else None


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description="Per-optimizer laws from Marin's sweep -> data/optimizers/marin.json")
    parser.add_argument("--write", action="store_true", help="write data/optimizers/marin.json (else print a summary)")
    args = parser.parse_args()
    doc = build()
    if args.write:
        path = data_dir() / OUTPUT
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    for name, s in doc["optimizers"].items():
        lr = s["laws"]["lr"]
        print(f"{name:9s} lr law: {lr['kind'] if lr else 'none':16s} "
              f"{'' if not lr else 'coef ' + ', '.join(f'{c:.3f}' for c in lr['coef'])}")


if __name__ == "__main__":
    main()
