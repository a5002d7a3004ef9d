"""Vectorized trials: K proxies of one shape trained together, one batched forward/backward per step.

    from calibration.proxy.vectorized import run_group, group_key
    results = run_group([cfg.replace(lr=lr) for lr in (1e-3, 3e-3, 1e-2, 3e-2)])

The K members' weights are stacked along a leading dimension and the proxy's own forward (proxy.ProxyLM)
runs over them with torch.func.functional_call under torch.func.vmap, on the same batches. Each member
keeps its own learning-rate schedule, AdamW state (a vectorized AdamW with per-member lr, betas, eps and
weight decay, the same update as torch.optim.AdamW; for optimizer "muon", a vectorized torch.optim.Muon on
the hidden matrices with per-member momentum, and AdamW at adam_lr_ratio * lr on the rest), gradient-norm clipping and divergence watch. A member
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

from advisor.muon_lr import shape_factor
from calibration.proxy.model import is_decayed
from calibration.proxy.optim import is_hidden_matrix
from calibration.proxy.train import (
    EVAL_BATCH_SEQS, TrialLog, autocast_for, build_model, device_label, load_trial_source,
    lr_at, prepare_device, resolve_device, split_batch, sync_interval, synchronize,
)
from calibration.record.trial import TrialConfig, TrialResult

# Fields in which the members of one group may differ.
FREE_FIELDS = ("lr", "weight_decay", "beta1", "beta2", "eps", "grad_clip", "schedule", "warmup_frac",
               "final_lr_frac", "decay_frac", "init_std", "momentum", "adam_lr_ratio")
# torch.optim.Muon's Newton-Schulz defaults (torch/optim/_muon.py): quintic coefficients, steps, eps; in bf16
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
NS_EPS = 1e-7

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
        muon = cfgs[0].optimizer == "muon"  # one optimizer per group (group_key)
        self.hidden = {n: muon and is_hidden_matrix(n, p) for n, p in self.base.named_parameters()}
        if muon and not any(self.hidden.values()):
            raise ValueError("optimizer \"muon\" needs hidden weight matrices (transformer blocks); this proxy has none")
        self.convention = cfgs[0].muon_lr_convention
        self.momentum, self.adam_lr_ratio = _column(cfgs, "momentum", dev), _column(cfgs, "adam_lr_ratio", dev)
        if not muon:
            self.adam_lr_ratio = torch.ones_like(self.adam_lr_ratio)
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
        Muon groups: the hidden matrices take muon_step, the rest AdamW at adam_lr_ratio * lr, clipped by
        their own norm (calibration/proxy/optim.py). Returns the K pre-clip gradient norms (of what is clipped)."""
        self.t += 1
        grads = {n: p.grad for n, p in self.params.items()}
        norm = torch.stack([g.float().pow(2).flatten(1).sum(1) for n, g in grads.items()
                            if not self.hidden[n]]).sum(0).sqrt()
        clip = torch.where(self.grad_clip > 0, (self.grad_clip / (norm + 1e-6)).clamp(max=1.0), 1.0)
        lrs = torch.where(self.active, lrs, 0.0)
        self.muon_step(grads, lrs)
        lrs = lrs * self.adam_lr_ratio
        step_size = lrs / (1 - self.beta1**self.t)
        bias2_sqrt = (1 - self.beta2**self.t).sqrt()
        for n, p in self.params.items():
            if self.hidden[n]:
                continue
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
    def muon_step(self, grads: dict, lrs: torch.Tensor) -> None:
        """torch.optim.Muon's update on each member's hidden matrices: Nesterov momentum, Newton-Schulz
        orthogonalization (batched over the members), decoupled weight decay, the convention's shape factor."""
        for n, p in self.params.items():
            if not self.hidden[n]:
                continue
            view = (self.k, 1, 1)
            momentum = self.momentum.view(view)
            buf = self.exp_avg[n]  # Muon's momentum buffer (a hidden matrix has no second moment)
            buf.lerp_(grads[n], 1 - momentum)
            update = newton_schulz(grads[n].lerp(buf, momentum)).to(p.dtype)
            factor = shape_factor(p.shape[1], p.shape[2], self.convention)
            p.mul_(1 - (lrs * self.weight_decay).view(view))
            p.sub_((lrs * factor).view(view) * update)
            p.grad = None

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


def newton_schulz(g: torch.Tensor) -> torch.Tensor:
    """(K, m, n) -> K approximately orthogonalized matrices, torch.optim.Muon's iteration in bf16."""
    a, b, c = NS_COEFFICIENTS
    tall = g.size(-2) > g.size(-1)
    x = g.bfloat16()
    x = x.mT if tall else x
    x = x / x.norm(dim=(-2, -1), keepdim=True).clamp(min=NS_EPS)
    for _ in range(NS_STEPS):
        gram = x @ x.mT
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x.mT if tall else x


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
