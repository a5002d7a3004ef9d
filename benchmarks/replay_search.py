"""Replay the project's search methods on recorded sweeps: runs per cell against regret (docs/search.md).

    python3 benchmarks/replay_search.py                       # Step Law dense and MoE, 5 seeds
    python3 benchmarks/replay_search.py --sources steplaw-dense --seeds 3 --budgets 8,12,16

Each method (grid, sobol, tpe, coord) runs with `budget` points per cell on every cell of each source, per
seed; every proposal is answered by the nearest recorded run (calibration/studies/replay.py). Printed per
method and budget: the mean distinct runs used, the median and 90th percentile over cells x seeds of the
regret (%) of the fitter's estimated optimum against the full grid's smooth optimum, and the share of
cells within 0.03%. Pruning (asha) is reported as not replayable: these sources keep no loss curves.
The goal (issue 22): <= 12 runs per cell reach a median regret <= 0.03% on Step Law dense.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibration.fit.optimum import regret  # noqa: E402
from calibration.studies.replay import NOT_REPLAYABLE, recorded_cells, replay  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("grid", "sobol", "tpe", "coord")
GOAL_PCT = 0.03


def curve(cells, method: str, budgets, seeds) -> list[dict]:
    """One row per budget: runs used and the regret distribution over cells x seeds."""
    rows = []
    for budget in budgets:
        results = [replay(c, method, budget, s) for c in cells for s in seeds]
        regret = np.array([r.regret_pct for r in results])
        rows.append({"method": method, "budget": budget, "runs": float(np.mean([r.runs for r in results])),
                     "median": float(np.median(regret)), "p90": float(np.percentile(regret, 90)),
                     "within": float(np.mean(regret <= GOAL_PCT)), "n": len(results)})
    return rows


def _argmin_regret(cell) -> float:
    """Regret of the full grid's best run against the full grid's smooth optimum (the grid's resolution)."""
    i = int(np.argmin(cell.loss))
    r = regret(cell.full, cell.optimum, float(np.log(cell.lr[i])), float(np.log(cell.batch_seqs[i] * cell.seq_len)))
    return max(r["regret_pct"], 0.0)


def print_curves(source: str, rows: list[dict], n_cells: int, runs_per_cell: float) -> None:
    print(f"\n## {source}: {n_cells} cells, {runs_per_cell:.0f} recorded runs per cell on average\n")
    print("| method | points/cell | runs used/cell | median regret % | p90 regret % | cells <= 0.03% | replays |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['budget']} | {r['runs']:.1f} | {r['median']:.3f} | {r['p90']:.3f} | "
              f"{100 * r['within']:.0f}% | {r['n']} |")
    for method in dict.fromkeys(r["method"] for r in rows):
        first = next((r for r in rows if r["method"] == method and r["median"] <= GOAL_PCT), None)
        reach = f"{first['runs']:.1f} runs per cell" if first else "not within the budgets replayed"
        print(f"- {method}: median regret <= {GOAL_PCT}% first at {reach}")
    for name, why in NOT_REPLAYABLE.items():
        print(f"- tpe + {name}: not replayed ({why})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", default="steplaw-dense,steplaw-moe")
    ap.add_argument("--seeds", type=int, default=5, help="search seeds 0..N-1 per cell")
    ap.add_argument("--budgets", default="8,10,12,16,20,24,32")
    ap.add_argument("--methods", default=",".join(METHODS))
    args = ap.parse_args(argv)
    budgets = [int(b) for b in args.budgets.split(",")]
    t0 = time.time()
    for source in args.sources.split(","):
        table = pd.read_csv(ROOT / "data" / "sources" / source / "trials.csv")
        cells = recorded_cells(table)
        rows = [r for m in args.methods.split(",") for r in curve(cells, m, budgets, range(args.seeds))]
        print_curves(source, rows, len(cells), len(table) / len(cells))
        argmin = np.array([_argmin_regret(c) for c in cells])
        print(f"- reference: each cell's best recorded run (the full grid's argmin) has a median regret of "
              f"{np.median(argmin):.3f}%, p90 {np.percentile(argmin, 90):.3f}%")
    print(f"\n({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
