"""Synthetic fitted-model artifacts (docs/fitted-model.md, version 1) for the advisor's tests.

The laws are chosen to look like a small-proxy calibration: lr = a·N^-0.3·D^0.05 (≈3e-3 at 1M params),
batch = b·D^0.5 tokens (≈16k tokens at 2e7 tokens), L = 1.0 + 50/N^0.35 + 200/D^0.3, with seeded
bootstrap draws around them.
"""
from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path

LR_COEF = [math.log(0.082), -0.3, 0.05]
BATCH_COEF = [math.log(3.66), 0.5]
LOSS_VALUES = [1.0, 50.0, 0.35, 200.0, 0.3]


def _samples(center, sds, n, rng):
    return [[c + rng.gauss(0.0, s) for c, s in zip(center, sds)] for _ in range(n)]


def synthetic_model_doc(seed: int = 0, n_samples: int = 200) -> dict:
    rng = random.Random(seed)
    cells = []
    for n in (1e5, 3e5, 1e6, 5e6):
        for d in (2e6, 2e7, 2e8):
            lr = math.exp(LR_COEF[0]) * n ** LR_COEF[1] * d ** LR_COEF[2]
            batch = math.exp(BATCH_COEF[0]) * d ** BATCH_COEF[1]
            loss = LOSS_VALUES[0] + LOSS_VALUES[1] / n ** LOSS_VALUES[2] + LOSS_VALUES[3] / d ** LOSS_VALUES[4]
            cells.append({"n_params": n, "tokens": d, "flops": 6 * n * d, "lr_opt": lr, "batch_opt": batch,
                          "loss_opt": loss, "n_trials": 20, "weight": 1.0, "flags": [],
                          "near_optimal_lr": [lr / 1.5, lr * 1.5], "near_optimal_batch": [batch / 2, batch * 2]})
    lr_law = {
        "form": "a*N^alpha*D^beta", "inputs": ["n_params", "tokens"], "log_coef": LR_COEF,
        "samples": _samples(LR_COEF, [0.25, 0.02, 0.015], n_samples, rng),
        "residual_sd": 0.12, "cv_log2_error": 0.25, "n_cells": len(cells),
        "alternatives": [{"form": "a*C^alpha", "inputs": ["flops"], "log_coef": [0.5, -0.15],
                          "samples": [], "residual_sd": 0.3, "cv_log2_error": 0.6, "n_cells": len(cells)}],
    }
    batch_law = {
        "form": "b*D^beta", "inputs": ["tokens"], "log_coef": BATCH_COEF,
        "samples": _samples(BATCH_COEF, [0.3, 0.02], n_samples, rng),
        "residual_sd": 0.2, "cv_log2_error": 0.4, "n_cells": len(cells),
        "alternatives": [{"form": "b*N^alpha*D^beta", "inputs": ["n_params", "tokens"],
                          "log_coef": [1.2, 0.02, 0.49], "samples": [], "residual_sd": 0.2,
                          "cv_log2_error": 0.45, "n_cells": len(cells)}],
    }
    loss_law = {
        "form": "E+A/N^alpha+B/D^beta", "param_names": ["E", "A", "alpha", "B", "beta"],
        "values": LOSS_VALUES,
        "samples": _samples(LOSS_VALUES, [0.02, 3.0, 0.01, 10.0, 0.01], n_samples, rng),
        "residual_sd": 0.01, "n_cells": len(cells),
    }
    return {
        "schema": "scaling-advisor/fitted-model", "version": 1,
        "created_at": "2026-11-30T12:00:00Z", "flops_formula": "6ND",
        "provenance": {
            "source": "calibration", "table": "synthetic", "table_sha256": "0" * 64,
            "data_id": "synthetic", "tokenizer": "bytes-256",
            "proxy": {"family": "llama-style (RMSNorm, RoPE, SwiGLU, untied)", "parameterization": "sp",
                      "seq_len": 128, "sizes": [1e5, 3e5, 1e6, 5e6]},
            "optimizer": {"name": "adamw", "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1,
                          "grad_clip": 1.0},
            "schedule": {"name": "cosine", "warmup_frac": 0.05, "final_lr_frac": 0.1},
            "n_trials": 240, "n_trials_used": 231,
            "n_excluded": {"diverged": 6, "failed": 0, "nonpositive_or_nan": 3},
            "n_cells": len(cells), "code_version": "0.1.0+gtest", "bootstrap": n_samples,
            "notes": ["synthetic model for tests"],
        },
        "fit_range": {"n_params": [1e5, 5e6], "tokens": [2e6, 2e8], "flops": [1.2e12, 6e15],
                      "lr": [1e-4, 3e-2], "batch_tokens": [2048, 65536]},
        "laws": {"lr": lr_law, "batch": batch_law, "loss": loss_law},
        "validation": {
            "held_out_largest": {"n_params": 5e6, "lr_log2_error": 0.3, "batch_log2_error": 0.45,
                                 "loss_regret_pct": 0.4, "cells": []},
            "leave_one_cell_out": {"lr_log2_error": 0.2, "batch_log2_error": 0.3, "loss_regret_pct": 0.2},
        },
        "cells": cells,
        "warnings": [{"code": "few_sizes", "message": "only 4 sizes: exponents are weakly determined"}],
    }


def write_model(path: Path, doc: dict | None = None) -> Path:
    path = Path(path)
    path.write_text(json.dumps(synthetic_model_doc() if doc is None else doc))
    return path


def modified(doc: dict, dotted: str, value) -> dict:
    """A deep copy of `doc` with `a.b.c` set to `value` (for the error-path tests)."""
    out = copy.deepcopy(doc)
    *parents, last = dotted.split(".")
    node = out
    for key in parents:
        node = node[key]
    node[last] = value
    return out
