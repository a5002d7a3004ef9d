"""The schedule experiment: the best peak LR and the loss under cosine (to 0.1× peak, the calibration's),
WSD (20% linear cooldown to 0; Hägele et al., arXiv 2405.18392) and linear decay to zero (Bergsma et al.,
arXiv 2502.15938) on CPU proxies of the shipped cpu-default calibration, at their recommended batch.

Per size and schedule: an LR grid of 2× steps around the cpu-default model's optimum, one seed; the best LR is
the vertex of a parabola in log LR through the three best runs (clipped to them), its loss the vertex's. The
ratios to cosine's best LR and the loss differences are what advisor/schedules.py prints as measured.
Warmup 5% in every arm (the calibration's).

Run: OMP_NUM_THREADS=1 nice -n 10 python benchmarks/schedules.py [--tokens 250K]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from advisor.recipe import load_source  # noqa: E402
from advisor.rules import practical_batch_seqs
from advisor.units import parse_quantity  # noqa: E402
from calibration.proxy.data import load_corpus  # noqa: E402
from calibration.proxy.shape import count_params, shape_from_config# noqa: E402
from calibration.proxy.train import run_trial  # noqa: E402
from calibration.record.trial import TrialConfig  # noqa: E402

SIZES = ((1, 48, 3, 128), (2, 80, 5, 208))  # cpu-default's 27.8K and 151K non-embedding parameters
SCHEDULES = {"cosine": dict(schedule="cosine", final_lr_frac=0.1),
             "wsd": dict(schedule="wsd", decay_frac=0.2, final_lr_frac=0.0),
             "linear": dict(schedule="wsd", decay_frac=1.0, final_lr_frac=0.0)}  # linear decay to zero
LR_STEPS = (-1, 0, 1, 2)  # powers of 2 around the model's optimum (decay to zero may want a higher peak)
SEQ_LEN = 64


def best_of(lrs: list[float], losses: list[float]) -> tuple[float, float]:
    x, y = np.log(lrs), np.asarray(losses)
    order = np.argsort(y)[:3]
    a, b, c = np.polyfit(x[order], y[order], 2)
    if a <= 0:
        return float(np.exp(x[order[0]])), float(y[order[0]])
    vx = float(np.clip(-b / (2 * a), x[order].min(), x[order].max()))
    return float(np.exp(vx)), min(float(np.polyval([a, b, c], vx)), float(y[order[0]]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", default="250K")
    args = ap.parse_args()
    torch.set_num_threads(1)
    tokens = int(parse_quantity(args.tokens, "--tokens"))
    fitted, _ = load_source("cpu-default", None)
    source = load_corpus("kjv")
    start = time.perf_counter()
    print(f"schedules at equal tokens ({tokens:,}), cpu-default proxies, seq_len {SEQ_LEN}, 1 seed, LR grid 2× steps")
    print(f"{'N':>8} {'schedule':<8} {'batch':>6} {'losses over the LR grid':<48} {'best LR':>9} {'/cosine':>8} "
          f"{'loss':>8} {'vs cosine %':>12}")
    for n_layer, d_model, n_head, d_ff in SIZES:
        base = TrialConfig(n_layer=n_layer, d_model=d_model, n_head=n_head, d_ff=d_ff, vocab_size=256,
                           seq_len=SEQ_LEN, tokens=tokens, data="kjv")
        n = count_params(shape_from_config(base))[0]
        lr0 = fitted.predict_lr(n, tokens).value
        seqs = practical_batch_seqs(fitted.predict_batch(n, tokens).value, SEQ_LEN)
        ref = None
        for name, knobs in SCHEDULES.items():
            lrs = [lr0 * 2.0 ** k for k in LR_STEPS]
            runs = [run_trial(TrialConfig(**{**base.to_dict(), **knobs, "lr": lr, "batch_seqs": seqs}), "cpu", source)
                    for lr in lrs]
            ok = [(lr, r.loss) for lr, r in zip(lrs, runs) if r.status == "ok"]
            best_lr, best_loss = best_of(*zip(*ok))
            ref = ref or (best_lr, best_loss)
            grid = " ".join(f"{r.loss:.3f}" if r.status == "ok" else "div" for r in runs)
            print(f"{n:>8,} {name:<8} {seqs * SEQ_LEN:>6} {grid:<48} {best_lr:>9.3g} {best_lr / ref[0]:>8.2f} "
                  f"{best_loss:>8.4f} {100 * (best_loss / ref[1] - 1):>+12.2f}", flush=True)
    print(f"wall {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
