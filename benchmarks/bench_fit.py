"""Benchmark: fit a synthetic table of ~10,000 trials with 1,000 bootstrap resamples of the whole chain.

Target (issue 4): <= 10 s on 2 CPU cores. Prints the total wall time, then the main stages timed again
one by one. Run: python benchmarks/bench_fit.py [--bootstrap 1000] [--repeats 5]
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

    from calibration.fit import ScaleLawFitter
    from calibration.fit.synthetic import SyntheticTruth, synthetic_trials

    sizes = (1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7)
    t0 = time.perf_counter()
    df = synthetic_trials(sizes=sizes, tokens_per_param=(5, 10, 20, 40, 80), lr_points=10, batch_points=5,
                          repeats=args.repeats, noise=0.003, seed=0)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    fitter = ScaleLawFitter(n_boot=args.bootstrap, seed=0).fit(df)
    t_fit = time.perf_counter() - t0
    stages = _stages(df, args.bootstrap)
    art = fitter.artifact_.to_json()
    truth = SyntheticTruth()
    lr = art["laws"]["lr"]
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"cores available: {os.cpu_count()}  (OMP_NUM_THREADS={threads})")
    print(f"trials: {len(df)}  cells: {len(fitter.table_.cells)}  bootstrap: {args.bootstrap} "
          f"(loss surface: {art['provenance']['loss_bootstrap']})")
    print(f"generate table: {t_gen:.2f} s")
    print(f"fit (optima, laws, loss surface, bootstrap, validation): {t_fit:.2f} s   target <= 10 s")
    print("stages, timed separately: " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))
    print(f"LR law {lr['form']}: log_coef {np.round(lr['log_coef'], 3).tolist()}  "
          f"truth {np.round(truth.lr_log_coef, 3).tolist()}")


def _stages(df, n_boot: int) -> dict:
    """Wall time of the main stages, run one by one through the same functions ScaleLawFitter uses."""
    from calibration.fit.bootstrap import resample_optima
    from calibration.fit.table import build_cells, prepare_trials
    from calibration.fit.laws import LR_FORMS, Stack, design, huber_fit
    from calibration.fit.loss_surface import bootstrap_surface, fit_surface
    from calibration.fit.cell_fit import fit_cell

    out = {}
    t = time.perf_counter()
    cells = build_cells(prepare_trials(df)[0])
    optima = [fit_cell(c) for c in cells]
    out["point optima"] = time.perf_counter() - t
    t = time.perf_counter()
    s_lr, _, s_loss = resample_optima(cells, optima, n_boot, np.random.default_rng(0))
    out["bootstrap optima"] = time.perf_counter() - t
    n = np.array([c.n_params for c in cells])
    d = np.array([c.tokens for c in cells])
    t = time.perf_counter()
    huber_fit(design(Stack.one({"n_params": n, "tokens": d}), LR_FORMS[0]), s_lr, np.ones(len(cells)))
    out["one law form x resamples"] = time.perf_counter() - t
    t = time.perf_counter()
    fit, _ = fit_surface(n, d, np.array([o.loss for o in optima]), np.ones(len(cells)))
    bootstrap_surface(fit, n, d, s_loss, np.ones(len(cells)))
    out["loss surface + resamples"] = time.perf_counter() - t
    return out


if __name__ == "__main__":
    main()
