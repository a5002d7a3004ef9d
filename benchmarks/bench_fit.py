"""Benchmark: fit a synthetic table of ~10,000 trials with 1,000 bootstrap resamples of the whole chain.

Target (issue 4): <= 10 s on 2 CPU cores. Prints the wall time of each stage and the total.
Run: python benchmarks/bench_fit.py [--trials-scale 1.0] [--bootstrap 1000]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5, help="seeds per grid point (5 -> 10,000 trials)")
    args = parser.parse_args()

    from calibration.fit import FitOptions, fit_trials
    from calibration.synthetic import SyntheticTruth, synthetic_trials

    sizes = (1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7)
    t0 = time.perf_counter()
    df = synthetic_trials(sizes=sizes, tokens_per_param=(5, 10, 20, 40, 80), lr_points=10, batch_points=5,
                          repeats=args.repeats, noise=0.003, seed=0)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = fit_trials(df, opts=FitOptions(n_boot=args.bootstrap, seed=0))
    t_fit = time.perf_counter() - t0
    art = result.artifact
    truth = SyntheticTruth()
    lr = art["laws"]["lr"]
    print(f"cores available: {os.cpu_count()}  (numpy threads per OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})")
    print(f"trials: {len(df)}  cells: {len(result.table.cells)}  bootstrap: {args.bootstrap} "
          f"(loss surface: {art['provenance']['loss_bootstrap']})")
    print(f"generate table: {t_gen:.2f} s")
    print(f"fit (optima, laws, loss surface, bootstrap, validation): {t_fit:.2f} s   target <= 10 s")
    print(f"LR law {lr['form']}: log_coef {np.round(lr['log_coef'], 3).tolist()}  "
          f"truth {np.round(truth.lr_log_coef, 3).tolist()}")


if __name__ == "__main__":
    main()
