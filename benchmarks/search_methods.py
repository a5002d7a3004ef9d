"""Benchmark: the compute a search saves against the full grid, at what cost in each cell's optimum.

One tiny CPU preset (the quick preset's sizes 1e4 and 5e4 x budgets 30k and 60k tokens, its LR box at 7 points, its
batch grid) runs with the grid (the reference, training seed 0) and with each search method over a few
seeds (training seed and search seed s = 1, 2, 3). Per method it prints the trial compute (sum of steps
trained x batch tokens), its ratio to the reference grid's, and the mean |log2| error of each cell's
optimum LR and batch (calibration.fit.cell_fit.fit_cell) against the reference grid's. The grid run again at
seeds 1, 2, ... gives the grid's own seed noise: the error floor a method is held to. Goal (issue 15):
the grid's accuracy within its seed noise at no more than half its compute.

Run: python3 benchmarks/search_methods.py [--seeds 3] [--workers 2] [--out DIR] [--budget 10]
(about 15 minutes on 2 shared cores; the stores stay in DIR, a temporary folder by default).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

SIZES = [1e4, 5e4]
BUDGETS = [30_000, 60_000]
LR_POINTS = 7  # the quick preset's LR box [2e-3, 3.2e-2] at half-octave steps
# The row with early stopping: a search that prunes hopeless trials (issue 15 item 2).
PRUNING = {"prune": "asha"}


def bench_spec(seed: int, search: dict | None):
    """The benchmark's spec: the quick preset cut to SIZES x BUDGETS, training seed `seed`, and a search."""
    import tomllib

    from calibration.sweep.spec import PRESET_DIR, parse_spec

    raw = tomllib.loads((PRESET_DIR / "quick.toml").read_text(encoding="utf-8"))
    raw.update(name="search-bench", seeds=[seed], sizes={"n_params": SIZES}, budget={"tokens": BUDGETS})
    raw["lr"]["points"] = LR_POINTS
    if search:
        raw["search"] = {**search, "seed": seed}
    return parse_spec(raw)


def run_one(spec, out: Path, workers: int) -> dict:
    """Run (or resume) one sweep; its compute, trials per cell and cell optima {(N, D): (log2 lr, log2 batch)}."""
    from calibration.sweep.run import run_sweep
    from calibration.sweep.store import TrialStore

    start = time.time()
    run_sweep(spec, out, workers=workers, progress=False)
    with TrialStore.open(out, readonly=True) as store:
        rows = [r for r in store.trials() if r["status"] not in ("pending", "running")]  # pruned ones too
        optima = cell_optima(store)
    compute = sum(_steps_trained(r) * r["config"].batch_tokens for r in rows)
    return {"compute": compute, "trials": len(rows), "cells": len(optima), "optima": optima,
            "wall_s": time.time() - start}


def _steps_trained(row) -> int:
    """Steps a finished trial trained (steps_done: fewer than its config's where it stopped early, diverged,
    pruned or failed)."""
    return row["result"].steps_done if row["result"] else 0


def cell_optima(store) -> dict:
    """Each cell's optimum from the fitter's local fit, in log2 LR and log2 batch (tokens)."""
    from calibration.fit.cell_fit import fit_cell
    from calibration.fit.optimum import Method
    from calibration.fit.table import build_cells, diverged_trials, prepare_trials
    from calibration.sweep.export import trial_table

    table = trial_table(store)
    trials, _ = prepare_trials(table)
    out = {}
    for cell in build_cells(trials, diverged_trials(table)):
        opt = fit_cell(cell)
        budget = min(BUDGETS, key=lambda b: abs(math.log(b / cell.tokens)))  # trials train whole steps only
        out[(cell.n_params, budget)] = (opt.log_lr / math.log(2), opt.log_batch / math.log(2),
                                        opt.method is Method.ARGMIN)
    return out


def errors(runs: list, reference: dict) -> tuple[float, float, float, float]:
    """|log2| errors of the LR and batch optima over the cells and runs: (LR mean, its standard error,
    batch mean, share of cells whose optimum fell back to the best run)."""
    lr, batch, argmin = [], [], []
    for optima in runs:
        for c in sorted(set(optima) & set(reference)):
            lr.append(abs(optima[c][0] - reference[c][0]))
            batch.append(abs(optima[c][1] - reference[c][1]))
            argmin.append(optima[c][2])
    mean = sum(lr) / len(lr)
    se = math.sqrt(sum((e - mean) ** 2 for e in lr) / (len(lr) - 1) / len(lr)) if len(lr) > 1 else math.nan
    return mean, se, sum(batch) / len(batch), sum(argmin) / len(argmin)


def methods(budget: int) -> list[tuple[str, dict | None]]:
    return [("grid (seed noise)", None), ("sobol", {"method": "sobol", "trials_per_cell": budget}),
            ("tpe", {"method": "tpe", "trials_per_cell": budget}),
            ("tpe + asha", {"method": "tpe", "trials_per_cell": budget, **PRUNING})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per method (1..N); the reference is seed 0")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget", type=int, default=10, help="trials_per_cell of the searches")
    parser.add_argument("--out", default=None, help="folder for the stores (default: a temporary one)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = Path(args.out or tempfile.mkdtemp(prefix="search-bench-"))
    started = time.time()
    reference = run_one(bench_spec(0, None), out / "grid-0", args.workers)
    lines = [f"preset: quick, sizes {SIZES} x budgets {BUDGETS}, LR box [2e-3, 3.2e-2] ({LR_POINTS} grid points) x "
             f"batch [4, 8, 16]; reference: grid, seed 0 ({reference['trials']} trials, {reference['cells']} cells)",
             "| method | seeds | trials/cell | trial compute (tokens) | ratio to grid | LR error (log2) ± se | "
             "batch error (log2) | argmin cells |",
             "|---|---|---|---|---|---|---|---|"]
    for label, search in methods(args.budget):
        runs = [run_one(bench_spec(s, search), out / f"{label.split()[0]}{'-asha' if 'asha' in label else ''}-{s}",
                        args.workers) for s in range(1, args.seeds + 1)]
        compute = sum(r["compute"] for r in runs) / len(runs)
        lr, se, batch, argmin = errors([r["optima"] for r in runs], reference["optima"])
        lines.append(f"| {label} | {args.seeds} | {sum(r['trials'] for r in runs) / len(runs) / reference['cells']:.1f} | "
                     f"{compute:.3g} | {compute / reference['compute']:.2f} | {lr:.2f} ± {se:.2f} | {batch:.2f} | "
                     f"{argmin:.0%} |")
        print(lines[-1], flush=True)
    lines.append(f"errors: mean over cells and seeds of |log2 optimum - reference grid's optimum| (se: its "
                 "standard error); argmin cells: optima the local fit could not place (the best run kept); "
                 f"{time.time() - started:.0f} s on {args.workers} worker(s); stores in {out}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
