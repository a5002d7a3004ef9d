"""The batch-ramp experiment: `recommend --batch-ramp`'s schedule against constant batches at equal tokens, on
CPU proxies of the shipped cpu-default calibration (byte-level KJV, seq_len 64), for two proxy sizes.

Per size, with the cpu-default model's optimum (LR*, B*) at the proxy's N and D:
  constant B*          the recommended batch and LR
  ramp B*/4 -> B*      `--batch-ramp` (ends at the recommended batch)
  ramp B* -> 4B*       `--batch-ramp --max-batch 4B*` (it starts at B*)
  constant 4B*         `--batch 4B*` (the best LR at it, from the fitted surface)
each stage's LR from the advisor's surface (advisor/ramp.py, advisor/constrained.py); β2 held at the
calibration's 0.95 in every arm (the LR law was measured there; the recipe's rule would give 0.999 at these
tiny batches); cosine schedule by tokens trained, warmup 5%, final LR 0.1× (calibration/proxy/ramp_train.py).
Each arm runs on SEEDS seeds (the cpu-default preset measured a seed sd of 0.002-0.03 nats at these sizes);
the table gives the mean final validation loss, its seed spread, the paired difference from the constant B*
arm (seed by seed: same initialisation and data order) and the optimizer steps. Every arm's LR at a batch is
the surface's (`recommend --batch`), so the arms differ in their batch schedule alone.

Run: OMP_NUM_THREADS=1 nice -n 10 python benchmarks/batch_ramp.py [--tokens 500K] [--seeds 2]
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from advisor.constrained import constrained_optimum  # noqa: E402
from advisor.recipe import load_source  # noqa: E402
from advisor.rules import practical_batch_seqs
from advisor.ramp import batch_ramp  # noqa: E402
from advisor.units import parse_quantity  # noqa: E402
from calibration.proxy.data import load_corpus  # noqa: E402
from calibration.proxy.shape import count_params, shape_from_config# noqa: E402
from calibration.proxy.ramp_train import Stage, train_staged  # noqa: E402
from calibration.record.trial import TrialConfig  # noqa: E402

SIZES = ((1, 48, 3, 128), (2, 80, 5, 208))  # (n_layer, d_model, n_head, d_ff): cpu-default's 27.8K and 151K
SEQ_LEN, BETA2 = 64, 0.95


def optimum(fitted, n: float, tokens: float):
    """What `recommend` reads from the model at a proxy's (N, D) (the standard shape refuses so small a model)."""
    lr = fitted.predict_lr(n, tokens).value
    batch = fitted.predict_batch(n, tokens).value
    seqs = practical_batch_seqs(batch, SEQ_LEN)
    return SimpleNamespace(seq_len=SEQ_LEN, n_params=n, n_params_laws=n, tokens=tokens, lr=lr, batch_tokens=batch,
                           batch_tokens_rounded=seqs * SEQ_LEN, steps=int(tokens // (seqs * SEQ_LEN)))


def arms(fitted, rec) -> dict[str, list[Stage]]:
    b = rec.batch_tokens_rounded

    def best_lr(batch: float) -> float:  # `recommend --batch`: the same surface as the ramp's stages
        return rec.lr * 2.0 ** constrained_optimum(fitted.penalty_, rec.n_params, rec.tokens, "batch",
                                                   math.log2(batch / rec.batch_tokens))["offset"]

    out = {"constant B*": [Stage(0, b // SEQ_LEN, best_lr(b), BETA2)]}
    for name, start, end in (("ramp B*/4 -> B*", None, None), ("ramp B* -> 4B*", b, 4 * b)):
        ramp = batch_ramp(rec, fitted, end, start)
        out[name] = [Stage(s["from_tokens"], s["batch_seqs"], s["lr"], BETA2) for s in ramp["stages"]]
    out["constant 4B*"] = [Stage(0, 4 * b // SEQ_LEN, best_lr(4 * b), BETA2)]
    return out


def _mean_range(xs: list[float]) -> str:
    """mean ± half the range over seeds (a paired difference when xs are per-seed differences)."""
    return f"{sum(xs) / len(xs):+.4f} ± {(max(xs) - min(xs)) / 2:.4f}" if all(x == x for x in xs) else "diverged"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", default="500K")
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    tokens = int(parse_quantity(args.tokens, "--tokens"))
    fitted, _ = load_source("cpu-default", None)
    source = load_corpus("kjv")
    start = time.perf_counter()
    print(f"batch ramp vs constant batch at equal tokens ({tokens:,}), cpu-default proxies, seq_len {SEQ_LEN}, "
          f"{args.seeds} seeds; loss: final validation loss (nats/token), mean ± half the seed range")
    print(f"{'N':>8} {'arm':<18} {'stages (from tokens: seqs @ LR)':<50} {'loss':>16} {'minus constant B*':>18} {'steps':>7}")
    for n_layer, d_model, n_head, d_ff in SIZES:
        cfg = TrialConfig(n_layer=n_layer, d_model=d_model, n_head=n_head, d_ff=d_ff, vocab_size=256, seq_len=SEQ_LEN,
                          tokens=tokens, beta2=BETA2, data="kjv")
        n = count_params(shape_from_config(cfg))[0]
        rec = optimum(fitted, n, tokens)
        base = None
        for name, stages in arms(fitted, rec).items():
            runs = [train_staged(replace(cfg, seed=s), stages, source) for s in range(args.seeds)]
            losses = [r["loss"] if r["loss"] is not None else float("nan") for r in runs]
            base = base or losses
            text = " ".join(f"{s.from_tokens:.3g}:{s.batch_seqs}@{s.lr:.2g}" for s in stages)
            print(f"{n:>8,} {name:<18} {text:<50} {_mean_range(losses):>16} "
                  f"{_mean_range([a - b for a, b in zip(losses, base)]):>18} {runs[0]['steps']:>7,}", flush=True)
    print(f"wall {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
