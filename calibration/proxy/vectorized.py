"""Vectorized trials: K proxies of one shape trained together, one batched forward/backward per step.

    from calibration.proxy.vectorized import run_group, group_key
    results = run_group([cfg.replace(lr=lr) for lr in (1e-3, 3e-3, 1e-2, 3e-2)])

The K members' weights are stacked along a leading dimension and the proxy's own forward (proxy.ProxyLM)
runs over them with torch.func.functional_call under torch.func.vmap, on the same batches. Each member
keeps its own learning-rate schedule, AdamW state (a vectorized AdamW with per-member lr, betas, eps and
weight decay, the same update as torch.optim.AdamW), gradient-norm clipping and divergence watch. A member
that diverges is frozen: its weights are zeroed (so it computes finite nothing) and its updates masked,
its result says "diverged", and the others go on unaffected (their slices never mix). A member pruned at a
rung (run_group's prunes, calibration/sweep/prune.py) is frozen the same way and says "pruned". A frozen
member's slice is still computed (zeros) until every member has stopped or the run ends: its steps_done
and flops stop at the rung, but the device time they stand for is not freed, so on a GPU pruning a member
of a group saves little wall time (prune.py).

Health: each member's pre-clip gradient norm (the per-member norm its clipping uses) is queued beside its
loss and read back with it, so the results carry the same health fields as run_trial's
(calibration/proxy/health.py) at no extra device sync.

Grouping (group_key): members must share everything that fixes the computation and the batches (shape,
vocabulary, seq_len, tokens, batch_seqs, data, eval_tokens, seed, parameterization); they may differ in
the optimizer and schedule knobs and init_std (FREE_FIELDS).

This pays on a GPU, where one tiny proxy uses a sliver of the chip. On a small CPU it gains about nothing
(the batched matmuls were already using the cores), and CPU attention under vmap falls back to a per-member
loop; `advisor bench` measures both.
"""
from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Callable

import torch
from torch.func import functional_call, vmap

from calibration.proxy.model import is_decayed
from calibration.proxy.train import (
    EVAL_BATCH_SEQS, TrialLog, autocast_for, build_model, device_label, load_trial_source,
    lr_at, prepare_device, resolve_device, split_batch, sync_interval, synchronize,
)
from calibration.sweep.trial import TrialConfig, TrialResult

# Fields in which the members of one group may differ.
FREE_FIELDS = ("lr", "weight_decay", "beta1", "beta2", "eps", "grad_clip", "schedule", "warmup_frac",
               "final_lr_frac", "decay_frac", "init_std")

OnGroupStep = Callable[[int, list], None]


def group_key(cfg: TrialConfig) -> tuple:
    """Configs with equal keys can train together in one run_group call."""
    return tuple((f.name, getattr(cfg, f.name)) for f in dataclasses.fields(cfg) if f.name not in FREE_FIELDS)


def _column(cfgs: list[TrialConfig], name: str, dev: torch.device) -> torch.Tensor:
    return torch.tensor([float(getattr(c, name)) for c in cfgs], dtype=torch.float32, device=dev)


class StackedProxies:
    """K proxies as one set of stacked parameters (leading dim K), with a vectorized AdamW."""

    def __init__(self, cfgs: list[TrialConfig], dev: torch.device):
        self.cfgs, self.dev, self.k = cfgs, dev, len(cfgs)
        models = [build_model(c, torch.device("cpu")) for c in cfgs]  # each from its own seed and init_std
        self.base = models[0].to(dev)  # supplies the forward and the rotary buffers
        names = [n for n, _ in self.base.named_parameters()]
        per_model = [dict(m.named_parameters()) for m in models]
        self.params = {n: torch.stack([p[n].detach() for p in per_model]).to(dev).requires_grad_() for n in names}
        self.decayed = {n: is_decayed(n, p) for n, p in self.base.named_parameters()}
        self.exp_avg = {n: torch.zeros_like(p) for n, p in self.params.items()}
        self.exp_avg_sq = {n: torch.zeros_like(p) for n, p in self.params.items()}
        self.beta1, self.beta2 = _column(cfgs, "beta1", dev), _column(cfgs, "beta2", dev)
        self.eps, self.weight_decay = _column(cfgs, "eps", dev), _column(cfgs, "weight_decay", dev)
        self.grad_clip = _column(cfgs, "grad_clip", dev)
        self.active = torch.ones(self.k, dtype=torch.bool, device=dev)
        self.t = 0

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-member mean cross-entropy (K,) on the shared batch."""

        def one(params, x, y):
            return functional_call(self.base, params, (x, y))[1]

        with warnings.catch_warnings():  # CPU attention has no vmap rule yet: a known, measured slowdown
            warnings.filterwarnings("ignore", message=".*batching rule.*")
            return vmap(one, in_dims=(0, None, None))(self.params, x, y)

    def train_step(self, x: torch.Tensor, y: torch.Tensor, lrs: torch.Tensor) -> torch.Tensor:
        """One training step of every member on the shared batch; returns (2, K): the train losses and the
        pre-clip gradient norms (detached, on the device)."""
        with autocast_for(self.dev):
            losses = self.losses(x, y)
        losses.sum().backward()
        norms = self.adamw_step(lrs)
        return torch.stack([losses.detach().float(), norms.float()])

    @torch.no_grad()
    def adamw_step(self, lrs: torch.Tensor) -> torch.Tensor:
        """Per-member clipping and AdamW update, arithmetic as in torch.optim.AdamW; frozen members stay put.
        Returns the K pre-clip gradient norms."""
        self.t += 1
        grads = {n: p.grad for n, p in self.params.items()}
        norm = torch.stack([g.float().pow(2).flatten(1).sum(1) for g in grads.values()]).sum(0).sqrt()
        clip = torch.where(self.grad_clip > 0, (self.grad_clip / (norm + 1e-6)).clamp(max=1.0), 1.0)
        lrs = torch.where(self.active, lrs, 0.0)
        step_size = lrs / (1 - self.beta1**self.t)
        bias2_sqrt = (1 - self.beta2**self.t).sqrt()
        for n, p in self.params.items():
            view = (self.k,) + (1,) * (p.dim() - 1)
            g = grads[n] * clip.view(view)
            if self.decayed[n]:
                p.mul_(1 - (lrs * self.weight_decay).view(view))
            m, v = self.exp_avg[n], self.exp_avg_sq[n]
            m.lerp_(g, (1 - self.beta1).view(view))
            v.mul_(self.beta2.view(view)).addcmul_(g, g * (1 - self.beta2).view(view))
            denom = (v.sqrt() / bias2_sqrt.view(view)).add_(self.eps.view(view))
            p.sub_(step_size.view(view) * m / denom)
            p.grad = None
        return norm

    @torch.no_grad()
    def freeze(self, member: int) -> None:
        """Stop a diverged member: zero weights (finite forward), zero state, no more updates."""
        self.active[member] = False
        for n in self.params:
            for tensor in (self.params[n], self.exp_avg[n], self.exp_avg_sq[n]):
                tensor[member].zero_()

    @torch.no_grad()
    def evaluate(self, source, cfg: TrialConfig) -> list[float]:
        """Per-member mean validation loss on the fixed validation tokens."""
        self.base.eval()
        total = torch.zeros(self.k, dtype=torch.float64, device=self.dev)
        count = 0
        for batch in source.val_batches(cfg.seq_len, cfg.eval_tokens, batch_seqs=EVAL_BATCH_SEQS):
            x, y = split_batch(batch, self.dev)
            with autocast_for(self.dev):
                total += self.losses(x, y).double() * y.numel()
            count += y.numel()
        self.base.train()
        return (total / count).tolist()


def run_group(cfgs: list[TrialConfig], device: str = "auto", source=None,
              on_step: OnGroupStep | None = None, prunes: list | None = None) -> list[TrialResult]:
    """Train K configs that share a group_key as one vectorized run; one TrialResult per config, in order.

    prunes: per member, its rungs as run_trial's prune (or None).
    on_step(step, losses) gets the 1-based step and the K train losses (on CUDA in bursts). Each result's
    wall_s is its share (1/K) of the group's wall time; tokens_per_s is the member's tokens over the group's
    training time.
    Raises ValueError when the configs do not share a group key.
    """
    if not cfgs:
        return []
    keys = {group_key(c) for c in cfgs}
    if len(keys) > 1:
        raise ValueError(f"run_group needs configs that differ only in {', '.join(FREE_FIELDS)}; "
                         f"got {len(keys)} different groups")
    start = time.perf_counter()
    dev = resolve_device(device)
    prepare_device(dev)
    cfg0 = cfgs[0]
    source = load_trial_source(cfg0, source)
    stack = StackedProxies(cfgs, dev)
    logs = [TrialLog(c, p) for c, p in zip(cfgs, prunes or [None] * len(cfgs))]
    sync_every = sync_interval(dev)
    rung_steps = {step for log in logs for step in log.rungs}  # read back there: a member may stop
    pending: list[torch.Tensor] = []

    train_start = time.perf_counter()
    for step in range(cfg0.steps):
        x, y = split_batch(source.train_batch(cfg0.batch_seqs, cfg0.seq_len, cfg0.seed, step), dev)
        lrs = torch.tensor([lr_at(step, c) for c in cfgs], dtype=torch.float32, device=dev)
        pending.append(stack.train_step(x, y, lrs))
        if len(pending) >= sync_every or step == cfg0.steps - 1 or step + 1 in rung_steps:
            _consume(torch.stack(pending).float().tolist(), step + 1 - len(pending), logs, stack, on_step)
            pending.clear()
            if not any(stack.active.tolist()):
                break
    synchronize(dev)
    train_s = time.perf_counter() - train_start

    val = stack.evaluate(source, cfg0) if any(stack.active.tolist()) else [None] * len(cfgs)
    wall_s = (time.perf_counter() - start) / len(cfgs)  # each member's share of the group's time
    label = device_label(dev)
    return [log.result(v, wall_s, train_s, label, source.data_id) for log, v in zip(logs, val)]


def _consume(rows: list, first_step: int, logs: list[TrialLog], stack: StackedProxies,
             on_step: OnGroupStep | None) -> None:
    """Feed each step's K losses and gradient norms (rows from 0-based step first_step on) to the logs;
    freeze the members that stopped (diverged or pruned)."""
    for i, (losses, norms) in enumerate(rows):
        for member, (log, loss, norm) in enumerate(zip(logs, losses, norms)):
            if not log.stopped and log.record(loss, norm):
                stack.freeze(member)
        if on_step is not None:
            on_step(first_step + i + 1, losses)
