"""Train one proxy with a staged batch schedule (`advisor recommend --batch-ramp`'s stages), for the ramp
experiment (benchmarks/batch_ramp.py). A constant batch is the one-stage case.

The LR follows the trial's schedule shape by the fraction of tokens trained (a ramp's steps are not evenly
spread over tokens): linear warmup over cfg.warmup_frac of the tokens, then cosine to cfg.final_lr_frac of the
peak; the peak is the current stage's. Each stage also sets AdamW's β2. Everything else is
calibration/proxy/train.py's: the same model, data order (a function of seed and step), optimizer step and
validation loss.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from calibration.proxy.train import (build_model, evaluate, load_trial_source, make_optimizer, resolve_device,
                                     split_batch, train_step)
from calibration.record.trial import TrialConfig


@dataclass(frozen=True)
class Stage:
    from_tokens: float
    batch_seqs: int
    lr: float
    beta2: float


def lr_shape(frac: float, cfg: TrialConfig) -> float:
    """The schedule's multiplier of the peak at a fraction of the tokens trained."""
    if frac < cfg.warmup_frac:
        return max(frac / cfg.warmup_frac, 1e-3)
    progress = min(1.0, (frac - cfg.warmup_frac) / max(1e-12, 1.0 - cfg.warmup_frac))
    return cfg.final_lr_frac + (1 - cfg.final_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress))


def train_staged(cfg: TrialConfig, stages: list[Stage], source=None, device: str = "cpu") -> dict:
    """Train cfg's proxy on cfg.tokens tokens under the stages; returns the validation loss, the optimizer
    steps, the tokens trained and the wall time. A non-finite loss ends the run with loss None."""
    start = time.perf_counter()
    dev = resolve_device(device)
    source = load_trial_source(cfg, source)
    model = build_model(cfg, dev)
    optimizer = make_optimizer(model, cfg, dev)
    seen, step = 0, 0
    while seen < cfg.tokens:
        stage = [s for s in stages if s.from_tokens <= seen][-1]
        if seen + stage.batch_seqs * cfg.seq_len > cfg.tokens:
            break  # as a constant batch does: the tokens that do not fill a whole batch are left
        for group in optimizer.param_groups:
            group["betas"] = (cfg.beta1, stage.beta2)
        x, y = split_batch(source.train_batch(stage.batch_seqs, cfg.seq_len, cfg.seed, step), dev)
        out = train_step(model, model, optimizer, x, y, stage.lr * lr_shape(seen / cfg.tokens, cfg), cfg, dev)
        if not torch.isfinite(out[0]):
            return {"loss": None, "steps": step + 1, "tokens": seen, "wall_s": time.perf_counter() - start}
        seen += stage.batch_seqs * cfg.seq_len
        step += 1
    loss = evaluate(model, source, cfg, dev)
    return {"loss": loss, "steps": step, "tokens": seen, "wall_s": time.perf_counter() - start}
