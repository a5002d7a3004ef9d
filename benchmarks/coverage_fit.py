"""Interval coverage of `advisor fit` on synthetic sweeps drawn from a known law.

For each seed: a sweep (5 sizes x 2 tokens-per-parameter ratios, 7 LRs x 5 batches), the fit with
bootstrap intervals, and whether each 90% interval of the LR law (a*N^alpha*D^beta: 3 coefficients) and
the batch law (b*D^gamma: 2) covers the truth. Prints the coverage per coefficient and overall.
Run: python benchmarks/coverage_fit.py [--seeds 100] [--bootstrap 400] [--cell-scatter 0.15]
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--bootstrap", type=int, default=400)
    parser.add_argument("--cell-scatter", type=float, default=0.0,
                        help="sd (ln) of each cell's true optimum around the law (lack of fit)")
    args = parser.parse_args()

    from calibration.fit import ScaleLawFitter
    from calibration.fit.synthetic import SyntheticTruth, synthetic_trials

    truth = SyntheticTruth()
    targets = {"lr": ("a*N^alpha*D^beta", np.array(truth.lr_log_coef)),
               "batch": ("b*D^gamma", np.array(truth.batch_log_coef)[[0, 2]])}
    hits, t0 = [], time.perf_counter()
    for seed in range(args.seeds):
        df = synthetic_trials(seed=100 + seed, noise=0.002, tokens_per_param=(10, 40), lr_points=7,
                              cell_scatter=args.cell_scatter)
        art = ScaleLawFitter(n_boot=args.bootstrap, seed=seed, loss_surface=False).fit(df).artifact_.to_json()
        row = []
        for key, (form, true) in targets.items():
            law = next(f for f in [art["laws"][key]] + art["laws"][key]["alternatives"] if f["form"] == form)
            lo, hi = np.percentile(np.array(law["samples"]), [5, 95], axis=0)
            row += list((lo <= true) & (true <= hi))
        hits.append(row)
    cover = np.array(hits).mean(axis=0)
    names = ["lr log a", "lr exp N", "lr exp D", "batch log b", "batch exp D"]
    print(f"{args.seeds} sweeps, {args.bootstrap} resamples, cell scatter {args.cell_scatter}: "
          f"{time.perf_counter() - t0:.1f} s")
    print("coverage of 90% intervals: " + ", ".join(f"{n} {c:.2f}" for n, c in zip(names, cover))
          + f"; overall {np.array(hits).mean():.3f}")


if __name__ == "__main__":
    main()
