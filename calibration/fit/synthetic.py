"""Synthetic trial tables drawn from a known law plus noise, for tests and the fitting benchmark.

Each (N, D) cell gets an LR x batch grid around the true optimum; a trial's loss is the loss surface
L(N, D) = E + A/N^alpha + B/D^beta times a bowl in (log LR, log batch) centred on the true optimum,
times multiplicative noise. The default truth is Step Law's LR and batch laws (arXiv 2503.04715)
and a loss surface of Chinchilla's form (arXiv 2203.15556), so fitted numbers can be checked.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from advisor.laws import STEP_LAW_COEF

STEP_A, STEP_N_EXP, STEP_D_EXP, STEP_B, STEP_B_D_EXP = map(float, STEP_LAW_COEF)


@dataclass(frozen=True)
class SyntheticTruth:
    """The law the synthetic trials are drawn from (natural logs; inputs are n_params and tokens)."""

    lr_log_coef: tuple[float, float, float] = (math.log(STEP_A), STEP_N_EXP, STEP_D_EXP)  # log a, N exp, D exp
    batch_log_coef: tuple[float, float, float] = (math.log(STEP_B), 0.0, STEP_B_D_EXP)  # log b, N exp, D exp
    # E A alpha B beta: Chinchilla's form with made-up values giving byte-level-like losses (~1.5-3)
    loss: tuple[float, float, float, float, float] = (1.2, 60.0, 0.35, 60.0, 0.30)

    def lr_opt(self, n, d):
        a, en, ed = self.lr_log_coef
        return np.exp(a + en * np.log(n) + ed * np.log(d))

    def batch_opt(self, n, d):
        b, en, ed = self.batch_log_coef
        return np.exp(b + en * np.log(n) + ed * np.log(d))

    def best_loss(self, n, d):
        e, a, alpha, b, beta = self.loss
        return e + a / np.power(n, alpha) + b / np.power(d, beta)


DEFAULT_SIZES = (2e5, 5e5, 1.2e6, 3e6, 8e6)
# Shaped like the quick preset (calibration/sweep/presets/quick.toml): 4 sizes x 2 budgets, 5 LRs x 3 batches.
QUICK_SHAPE = dict(sizes=(1e4, 2.5e4, 5e4, 1e5), tokens=(50_000, 150_000), lr_points=5, batch_points=3,
                   seq_len=64, noise=0.004)


def synthetic_trials(
    truth: SyntheticTruth = SyntheticTruth(),
    sizes=DEFAULT_SIZES,
    tokens_per_param=(10.0, 20.0, 40.0),
    tokens=None,
    lr_points: int = 9,
    lr_factor: float = 2.0,
    batch_points: int = 5,
    batch_factor: float = 2.0,
    seq_len: int = 128,
    lr_curvature: float = 0.01,
    batch_curvature: float = 0.006,
    high_lr_skew: float = 0.0,
    noise: float = 0.002,
    repeats: int = 1,
    diverged_above: float | None = None,
    grid_offset: float | None = None,
    cell_scatter: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """A trial table (docs/architecture.md, contract 1) for a sweep of `sizes` x `tokens_per_param`
    (or x fixed token budgets `tokens`, as the quick preset does).

    lr_curvature / batch_curvature: relative loss increase per (ln-distance from the optimum)^2.
    high_lr_skew: extra relative curvature on the high-LR side (real landscapes are steeper there).
    noise: relative sd of the loss noise. repeats: seeds per grid point.
    diverged_above: trials with LR above this multiple of the optimum are marked diverged (loss NaN).
    grid_offset: where the true optimum sits between grid points, in grid steps (None: random in
    [-0.5, 0.5) per cell, like a real sweep).
    cell_scatter: sd (natural log) of each cell's deviation of its true LR and batch optima from the law
    (real cells do not sit exactly on a power law).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        budgets = tokens if tokens is not None else [float(n) * r for r in tokens_per_param]
        for d in budgets:
            rows += _cell_rows(truth, float(n), float(d), lr_points, lr_factor, batch_points,
                               batch_factor, seq_len, lr_curvature, batch_curvature, high_lr_skew,
                               noise, repeats, diverged_above, grid_offset, cell_scatter, seed, rng)
    return pd.DataFrame(rows)


def _cell_rows(truth, n, d, lr_points, lr_factor, batch_points, batch_factor, seq_len, lr_curv,
               b_curv, skew, noise, repeats, diverged_above, grid_offset, cell_scatter, seed, rng) -> list[dict]:
    jitter = np.exp(cell_scatter * rng.standard_normal(2)) if cell_scatter > 0 else np.ones(2)
    lr_star, b_star = float(truth.lr_opt(n, d)) * jitter[0], float(truth.batch_opt(n, d)) * jitter[1]
    off_lr = rng.uniform(-0.5, 0.5) if grid_offset is None else grid_offset
    lr_grid = lr_star * lr_factor ** (np.arange(lr_points) - (lr_points - 1) / 2 + off_lr)
    # batch grid: whole sequences, powers of batch_factor around the optimum
    centre = round(math.log(b_star / seq_len, batch_factor))
    seqs = np.unique(np.maximum(1, np.round(
        batch_factor ** (centre + np.arange(batch_points) - (batch_points - 1) // 2)).astype(int)))
    best = float(truth.best_loss(n, d))
    rows = []
    for lr in lr_grid:
        for s in seqs:
            bt = int(s) * seq_len
            steps = max(1, int(d // bt))
            dx, dy = math.log(lr / lr_star), math.log(bt / b_star)
            curv = lr_curv * (1.0 + (skew if dx > 0 else 0.0))
            mean = best * (1.0 + curv * dx * dx + b_curv * dy * dy)
            for rep in range(repeats):
                diverged = diverged_above is not None and lr > diverged_above * lr_star
                loss = float("nan") if diverged else mean * (1.0 + noise * rng.standard_normal())
                key = f"{seed}:{n}:{d}:{lr!r}:{bt}:{rep}"
                rows.append({
                    "trial_id": hashlib.sha256(key.encode()).hexdigest()[:16],
                    "status": "diverged" if diverged else "ok",
                    "n_params": int(n), "n_params_total": int(n) + 2 * 256 * 64,
                    "seq_len": seq_len, "tokens": steps * bt, "lr": float(lr),
                    "batch_tokens": bt, "batch_seqs": int(s), "steps": steps,
                    "warmup_steps": max(1, round(0.05 * steps)), "schedule": "cosine",
                    "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95, "grad_clip": 1.0,
                    "seed": rep, "loss": loss, "flops": 6.0 * n * steps * bt,
                    "data_id": "synthetic", "code_version": "synthetic",
                })
    return rows
