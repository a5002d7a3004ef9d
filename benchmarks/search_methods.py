"""Benchmark: the compute a search saves against the full grid, at what cost in each cell's optimum.

One tiny CPU preset (the quick preset's 2 smallest-but-one sizes x 2 budgets, its LR box with 7 points, its
batch grid) runs with the grid (the reference, training seed 0) and with each search method over a few
seeds (training seed and search seed s = 1, 2, ...). Per method it prints the trial compute (sum of steps
trained x batch tokens), its ratio to the reference grid's, and the mean |log2| error of each cell's
optimum LR and batch (calibration.fit.optimum.fit_cell) against the reference grid's. The grid run again at
seeds 1, 2, ... gives the grid's own seed noise: the error floor a method is held to. Goal (issue 15):
the grid's accuracy within its seed noise at no more than half its compute.

Run: python3 benchmarks/search_methods.py [--seeds 2] [--workers 2] [--out DIR] [--budget 10]
(about 10 minutes on 2 cores; the stores stay in DIR, a temporary folder by default).
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
# The row with early stopping: a search that prunes hopeless trials (issue 15 item 2). Run only where this
# checkout's spec accepts the key (pruning_available); otherwise the table says it was left out.
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


def pruning_available() -> bool:
    from calibration.sweep.spec import SpecError

    try:
        bench_spec(1, {"method": "tpe", "trials_per_cell": 10, **PRUNING})
        return True
    except SpecError:
        return False


def run_one(spec, out: Path, workers: int) -> dict:
    """Run (or resume) one sweep; its compute, trials per cell and cell optima {(N, D): (log2 lr, log2 batch)}."""
    from calibration.sweep.run import run_sweep
    from calibration.sweep.store import TrialStore

    start = time.time()
    run_sweep(spec, out, workers=workers, progress=False)
    with TrialStore.open(out, readonly=True) as store:
        rows = [r for r in store.trials() if r["status"] in ("ok", "diverged", "failed")]
        optima = cell_optima(store)
    compute = sum(_steps_trained(r) * r["config"].batch_tokens for r in rows)
    return {"compute": compute, "trials": len(rows), "cells": len(optima), "optima": optima,
            "wall_s": time.time() - start}


def _steps_trained(row) -> int:
    """Steps a trial trained: its config's, or fewer where it stopped early (diverged, pruned)."""
    result = row["result"]
    return result.steps_done if result and result.steps_done else row["config"].steps


def cell_optima(store) -> dict:
    """Each cell's optimum from the fitter's local fit, in log2 LR and log2 batch (tokens)."""
    from calibration.fit.optimum import fit_cell
    from calibration.fit.table import build_cells, diverged_trials, prepare_trials
    from calibration.sweep.export import trial_table

    table = trial_table(store)
    trials, _ = prepare_trials(table)
    out = {}
    for cell in build_cells(trials, diverged_trials(table)):
        opt = fit_cell(cell)
        budget = min(BUDGETS, key=lambda b: abs(math.log(b / cell.tokens)))  # trials train whole steps only
        out[(cell.n_params, budget)] = (opt.log_lr / math.log(2), opt.log_batch / math.log(2))
    return out


def errors(optima: dict, reference: dict) -> tuple[float, float]:
    """Mean |log2| error of the LR and batch optima over the cells both runs have."""
    common = sorted(set(optima) & set(reference))
    lr = [abs(optima[c][0] - reference[c][0]) for c in common]
    batch = [abs(optima[c][1] - reference[c][1]) for c in common]
    return sum(lr) / len(lr), sum(batch) / len(batch)


def methods(budget: int, with_pruning: bool) -> list[tuple[str, dict | None]]:
    rows = [("grid (seed noise)", None), ("sobol", {"method": "sobol", "trials_per_cell": budget}),
            ("tpe", {"method": "tpe", "trials_per_cell": budget})]
    if with_pruning:
        rows.append(("tpe + asha", {"method": "tpe", "trials_per_cell": budget, **PRUNING}))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds per method (1..N); the reference is seed 0")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget", type=int, default=10, help="trials_per_cell of the searches")
    parser.add_argument("--out", default=None, help="folder for the stores (default: a temporary one)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = Path(args.out or tempfile.mkdtemp(prefix="search-bench-"))
    started = time.time()
    reference = run_one(bench_spec(0, None), out / "grid-0", args.workers)
    with_pruning = pruning_available()
    lines = [f"preset: quick, sizes {SIZES} x budgets {BUDGETS}, LR box [2e-3, 3.2e-2] ({LR_POINTS} grid points) x "
             f"batch [4, 8, 16]; reference: grid, seed 0 ({reference['trials']} trials, {reference['cells']} cells)",
             "| method | seeds | trials/cell | trial compute (tokens) | ratio to grid | LR error (log2) | batch error (log2) |",
             "|---|---|---|---|---|---|---|"]
    for label, search in methods(args.budget, with_pruning):
        runs = [run_one(bench_spec(s, search), out / f"{label.split()[0]}{'-asha' if 'asha' in label else ''}-{s}",
                        args.workers) for s in range(1, args.seeds + 1)]
        compute = sum(r["compute"] for r in runs) / len(runs)
        errs = [errors(r["optima"], reference["optima"]) for r in runs]
        lines.append(f"| {label} | {args.seeds} | {sum(r['trials'] for r in runs) / len(runs) / reference['cells']:.1f} | "
                     f"{compute:.3g} | {compute / reference['compute']:.2f} | {sum(e[0] for e in errs) / len(errs):.3f} | "
                     f"{sum(e[1] for e in errs) / len(errs):.3f} |")
        print(lines[-1], flush=True)
    if not with_pruning:
        lines.append(f"(no 'tpe + asha' row: this checkout's spec does not take [search] {PRUNING})")
    lines.append(f"errors: mean over cells and seeds of |log2 optimum - reference grid's optimum|; "
                 f"{time.time() - started:.0f} s on {args.workers} worker(s); stores in {out}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
