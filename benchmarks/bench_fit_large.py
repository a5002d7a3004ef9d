"""Benchmark (issue 25, item 9): `advisor fit --bootstrap 0` on a large table, 100 cells.

--bootstrap 0 promises a fast fit without intervals; the penalty model's leave-one-cell-out used to run
100 bootstrap refits per cell whatever it said. Prints the wall time of the whole fit (as `advisor fit`
runs it, with the progress lines on stderr) and the table size.
Run: python benchmarks/bench_fit_large.py [--repeats 50]   (50 -> 500,000 trials in 100 cells)
"""
from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50, help="seeds per grid point (50 -> 500,000 trials)")
    parser.add_argument("--bootstrap", type=int, default=0)
    args = parser.parse_args()

    from calibration.fit import ScaleLawFitter
    from calibration.fit.synthetic import synthetic_trials

    sizes = (1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8)
    t0 = time.perf_counter()
    df = synthetic_trials(sizes=sizes, tokens_per_param=(5, 8, 10, 14, 20, 28, 40, 56, 80, 112), lr_points=10,
                          batch_points=10, repeats=args.repeats, noise=0.003, seed=0)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    fitter = ScaleLawFitter(n_boot=args.bootstrap, seed=0, progress=True).fit(df)
    t_fit = time.perf_counter() - t0
    print(f"cores available: {os.cpu_count()}  (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})")
    print(f"trials: {len(df):,}  cells: {len(fitter.table_.cells)}  bootstrap: {args.bootstrap}")
    print(f"generate table: {t_gen:.1f} s   fit: {t_fit:.1f} s")


if __name__ == "__main__":
    main()
