"""Train one calibration trial: TrialConfig -> TrialResult.

    from calibration.record.trial import TrialConfig
    from calibration.proxy.train import run_trial
    result = run_trial(TrialConfig(n_layer=2, d_model=48, n_head=3, d_ff=128, tokens=200_000, lr=3e-3))
    result.status, result.loss          # "ok", final validation loss in nats/token

Optimizer (calibration/proxy/optim.py): AdamW (Loshchilov & Hutter, arXiv 1711.05101) with decoupled weight
decay on matrices only (every 2-D weight except the input embedding; norm gains get none; see
proxy.is_decayed), betas and eps from the config, global gradient-norm clipping at cfg.grad_clip (0 = off);
or, with cfg.optimizer "muon", torch.optim.Muon on the hidden matrices and AdamW on the rest. Schedules (lr_at): linear warmup
then cosine to final_lr_frac·lr; WSD (warmup, stable, linear decay over the last decay_frac of the steps to
final_lr_frac·lr; Hu et al., MiniCPM, arXiv 2404.06395); constant after warmup.

Divergence: a non-finite train loss, or a loss above max(initial + 3 nats, 1.5 × initial) for
DIVERGE_PATIENCE steps in a row, stops the trial with status "diverged" (never an exception: one bad LR
must not kill a sweep); diverged_at_step is the first step of that run (or the non-finite step). Any other
exception propagates, for the sweep to record as "failed".

Pruning (calibration/sweep/prune.py): given rung steps and loss thresholds, a trial whose loss-curve point
at a rung step is above the rung's threshold stops there with status "pruned" (no validation loss). On
CUDA the queued losses are read back at each rung step too, so it stops at the rung, not at the next
read-back.

Health (calibration/proxy/health.py): every step's pre-clip gradient norm (the value clip_grad_norm_
returns; computed alone when clipping is off) is queued on the device beside the step's loss and read back
with it, so watching it adds no device sync.

Devices: cuda > mps > cpu ("auto"). On CUDA: bf16 autocast and TF32 matmuls (this sets
torch.backends.cuda.matmul.allow_tf32 and cudnn.allow_tf32 to True, process-wide: the only global change),
optional torch.compile (compile=True or SCALING_ADVISOR_COMPILE=1). MPS and CPU run fp32. Weights are
initialised on the CPU from a torch.Generator seeded with cfg.seed (no global RNG is touched), so the same
config starts from the same weights on every device, and on the CPU the same config gives exactly the same
loss. Thread counts are left alone (the sweep's workers set them).
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from typing import Callable, Iterable

import torch

from calibration.proxy.health import HealthWatch
from calibration.proxy.memory import check_fits
from calibration.proxy.model import ProxyLM
from calibration.proxy.shape import count_params, flops_per_token, shape_from_config
from calibration.proxy.optim import clip_params, make_optimizer, set_lr
from calibration.record.trial import TrialConfig, TrialResult

COMPILE_ENV = "SCALING_ADVISOR_COMPILE"
DIVERGE_NATS = 3.0  # loss this far above the initial loss ...
DIVERGE_RATIO = 1.5  # ... or this many times it (whichever is higher) ...
DIVERGE_PATIENCE = 5  # ... for this many steps in a row is divergence; a non-finite loss is at once
CUDA_SYNC_EVERY = 32  # on CUDA, read losses back every this many steps (a read is a device sync)
EVAL_BATCH_SEQS = 64

OnStep = Callable[[int, float], None]


# ---------------------------------------------------------------- device and schedule


def resolve_device(device: str = "auto") -> torch.device:
    """"auto" -> cuda if available, else mps, else cpu; otherwise the named device, checked to exist."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r} (use auto, cpu, cuda, cuda:N or mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} asked for, but MPS is not available here")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device {device!r} (use auto, cpu, cuda, cuda:N or mps)")
    return dev


def device_label(dev: torch.device) -> str:
    """What the trial table records: 'cpu', 'mps', or 'cuda:0 (NVIDIA H200)'."""
    if dev.type != "cuda":
        return dev.type
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


def lr_at(step: int, cfg: TrialConfig) -> float:
    """Learning rate of optimizer step `step` (0-based; steps past the end keep the last value).

    Warmup: lr·(step+1)/warmup_steps, so its last step reaches the peak. Cosine: from the peak at the first
    step after warmup to final_lr_frac·lr at the last step. WSD: the peak until the last
    round(decay_frac·steps) steps, then linear down to final_lr_frac·lr at the last step. Constant: the peak.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    total, warmup = cfg.steps, cfg.warmup_steps
    step = min(step, total - 1)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    floor = cfg.final_lr_frac * cfg.lr
    if cfg.schedule == "cosine":
        progress = min(1.0, (step - warmup) / max(1, total - 1 - warmup))
        return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if cfg.schedule == "wsd":
        decay_steps = max(1, round(cfg.decay_frac * total)) if cfg.decay_frac > 0 else 0
        decay_start = total - decay_steps
        if step < decay_start:
            return cfg.lr
        progress = (step - decay_start + 1) / decay_steps
        return cfg.lr - (cfg.lr - floor) * progress
    return cfg.lr  # constant


def autocast_for(dev: torch.device):
    """bf16 autocast on CUDA; full fp32 elsewhere."""
    if dev.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare_device(dev: torch.device) -> None:
    """TF32 matmuls on CUDA (documented in the module docstring); nothing elsewhere."""
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def synchronize(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


# ---------------------------------------------------------------- model, data, evaluation


def build_model(cfg: TrialConfig, dev: torch.device) -> ProxyLM:
    """The trial's proxy, initialised on the CPU from cfg.seed (device-independent), then moved to dev.

    Raises ValueError, before allocating, when training it surely does not fit dev's memory."""
    check_fits(shape_from_config(cfg), cfg.batch_seqs, str(dev))  # refuse, rather than be killed for memory
    generator = torch.Generator().manual_seed(cfg.seed)
    model = ProxyLM(shape_from_config(cfg), cfg.init_std, cfg.parameterization, generator=generator)
    return model.to(dev)


def load_trial_source(cfg: TrialConfig, source=None):
    """cfg.data through calibration.proxy.data.load_corpus unless a source is given; checks the vocabulary fits."""
    if source is None:
        from calibration.proxy.data import load_corpus

        source = load_corpus(cfg.data)
    if source.vocab_size > cfg.vocab_size:
        raise ValueError(
            f"the data's vocabulary ({source.vocab_size}) is larger than the model's vocab_size {cfg.vocab_size} "
            "(leave trial.vocab_size out of the spec to follow the data, or raise it)"
        )
    return source


def _compile_wanted(compile: bool | None) -> bool:
    if compile is not None:
        return compile
    return os.environ.get(COMPILE_ENV, "").lower() in ("1", "true", "yes", "on")


def split_batch(batch: torch.Tensor, dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T+1) tokens -> inputs (B, T) and next-token targets (B, T) on dev."""
    batch = batch.to(dev, non_blocking=True)
    return batch[:, :-1], batch[:, 1:]


@torch.no_grad()
def evaluate(model: torch.nn.Module, source, cfg: TrialConfig, dev: torch.device) -> float:
    """Mean validation loss (nats/token) on the source's fixed cfg.eval_tokens validation tokens."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in source.val_batches(cfg.seq_len, cfg.eval_tokens, batch_seqs=EVAL_BATCH_SEQS):
        x, y = split_batch(batch, dev)
        with autocast_for(dev):
            _, loss = model(x, y)
        total += float(loss) * y.numel()
        count += y.numel()
    model.train(was_training)
    return total / count


# ---------------------------------------------------------------- bookkeeping shared with vectorized.py


class TrialLog:
    """One trial's loss curve, divergence watch, pruning rungs, health and end-of-run numbers.

    prune: [[rung step, loss threshold], ...] (calibration/sweep/prune.py), or None."""

    def __init__(self, cfg: TrialConfig, prune: list | None = None):
        self.cfg = cfg
        self.curve_every = cfg.curve_every
        self.curve: list[list] = []
        self.steps_done = 0
        self.initial: float | None = None
        self.over = 0  # consecutive steps above the divergence threshold
        self.diverged = False
        self.diverged_at: int | None = None
        self.pruned = False
        self.rungs = {int(step): float(threshold) for step, threshold in (prune or [])}
        self.health = HealthWatch(cfg.grad_clip)
        self._sum, self._n = 0.0, 0
        self.last_mean: float | None = None

    @property
    def stopped(self) -> bool:
        return self.diverged or self.pruned

    def record(self, loss: float, grad_norm: float | None = None) -> bool:
        """Log the train loss (and pre-clip gradient norm) of the next step; True when the trial stops
        here (divergence, or a loss above its rung's threshold)."""
        step = self.steps_done
        self.steps_done += 1
        self.health.record(loss, grad_norm)
        finite = math.isfinite(loss)
        if finite:
            self._sum += loss
            self._n += 1
        if self.initial is None and finite:
            self.initial = loss
        self._watch_divergence(loss, finite)
        if self.diverged or self.steps_done % self.curve_every == 0 or self.steps_done == self.cfg.steps:
            self._add_point(step, loss if self.diverged else None)
            self._check_rung()
        return self.stopped

    def _watch_divergence(self, loss: float, finite: bool) -> None:
        if not finite:
            self.diverged = True
            self.diverged_at = self.steps_done - self.over  # the streak above the threshold began there
        elif loss > max(self.initial + DIVERGE_NATS, DIVERGE_RATIO * self.initial):
            self.over += 1
            self.diverged = self.over >= DIVERGE_PATIENCE
            if self.diverged:
                self.diverged_at = self.steps_done - self.over + 1
        else:
            self.over = 0

    def _check_rung(self) -> None:
        """At a rung step, stop when the curve point just added is above the rung's threshold."""
        threshold = self.rungs.get(self.steps_done)
        shown = self.curve[-1][2]
        if not self.diverged and threshold is not None and shown is not None and shown > threshold:
            self.pruned = True

    def _add_point(self, step: int, loss_now: float | None) -> None:
        mean = self._sum / self._n if self._n else None
        shown = loss_now if loss_now is not None else mean
        shown = shown if shown is not None and math.isfinite(shown) else None
        self.curve.append([self.steps_done, self.steps_done * self.cfg.batch_tokens, shown, lr_at(step, self.cfg),
                           self.health.interval_grad_norm()])
        if mean is not None:
            self.last_mean = mean
        self._sum, self._n = 0.0, 0

    def result(self, val_loss: float | None, wall_s: float, train_s: float, device: str, data_id: str) -> TrialResult:
        shape = shape_from_config(self.cfg)
        n_params, n_total = count_params(shape)
        tokens = self.steps_done * self.cfg.batch_tokens
        return TrialResult(
            trial_id=self.cfg.trial_id,
            status="diverged" if self.diverged else "pruned" if self.pruned else "ok",
            loss=None if self.stopped else val_loss,
            train_loss=self.last_mean,
            steps_done=self.steps_done,
            wall_s=wall_s,
            tokens_per_s=tokens / train_s if train_s > 0 else 0.0,
            device=device,
            n_params=n_params,
            n_params_total=n_total,
            flops=flops_per_token(shape) * tokens,
            data_id=data_id,
            curve=self.curve,
            diverged_at_step=self.diverged_at,
            **self.health.summary(),
        )


def drain(pending: list[torch.Tensor]) -> list:
    """Read back queued per-step tensors, e.g. [loss, grad norm] (one device sync for the lot)."""
    if not pending:
        return []
    values = torch.stack(pending).float().tolist()
    pending.clear()
    return values


# ---------------------------------------------------------------- one trial


def train_step(model, forward, optimizer, x, y, lr: float, cfg: TrialConfig, dev: torch.device) -> torch.Tensor:
    """One optimizer step at learning rate lr; returns [loss, pre-clip gradient norm] (a detached float32
    tensor on dev: nothing is read back here). Muon: the norm is the clipped AdamW part's (optim.py)."""
    set_lr(optimizer, lr)
    with autocast_for(dev):
        _, loss = forward(x, y)
    loss.backward()
    if cfg.grad_clip > 0:
        norm = torch.nn.utils.clip_grad_norm_(clip_params(model, optimizer), cfg.grad_clip)
    else:
        norm = grad_norm(model, clip_params(model, optimizer))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return torch.stack([loss.detach().float(), norm.detach().float()])


def grad_norm(model: torch.nn.Module, params: list | None = None) -> torch.Tensor:
    """Global L2 norm of the gradients of params (default: all; what clip_grad_norm_ measures), untouched."""
    grads = [p.grad for p in (params if params is not None else model.parameters()) if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.detach().float()) for g in grads]))


def run_trial(cfg: TrialConfig, device: str = "auto", source=None, on_step: OnStep | None = None,
              compile: bool | None = None, prune: list | None = None) -> TrialResult:
    """Train cfg's proxy for cfg.steps steps and score it on the fixed validation tokens.

    source: a calibration.proxy.data.TokenSource (default: load_corpus(cfg.data)). on_step(step, loss) is called
    after every step with the 1-based step count and its train loss (on CUDA in bursts of CUDA_SYNC_EVERY).
    compile: torch.compile the model (default: the SCALING_ADVISOR_COMPILE environment variable).
    prune: [[rung step, loss threshold], ...] from calibration.sweep.prune (None: run to the end).
    Returns status "ok" with the validation loss, "diverged" (loss None) when training blew up, or
    "pruned" (loss None) when it stopped at a rung.
    """
    start = time.perf_counter()
    dev = resolve_device(device)
    prepare_device(dev)
    source = load_trial_source(cfg, source)
    model = build_model(cfg, dev)
    forward = torch.compile(model) if _compile_wanted(compile) else model
    optimizer = make_optimizer(model, cfg, dev)
    log = TrialLog(cfg, prune)
    sync_every = sync_interval(dev)
    pending: list[torch.Tensor] = []

    train_start = time.perf_counter()
    for step in range(cfg.steps):
        x, y = split_batch(source.train_batch(cfg.batch_seqs, cfg.seq_len, cfg.seed, step), dev)
        pending.append(train_step(model, forward, optimizer, x, y, lr_at(step, cfg), cfg, dev))
        if len(pending) >= sync_every or step == cfg.steps - 1 or step + 1 in log.rungs:
            if _consume(drain(pending), log, on_step):
                break
    synchronize(dev)
    train_s = time.perf_counter() - train_start

    val_loss = None if log.stopped else evaluate(forward, source, cfg, dev)
    return log.result(val_loss, time.perf_counter() - start, train_s, device_label(dev), source.data_id)


def sync_interval(dev: torch.device) -> int:
    """Steps between read-backs of the queued losses: CUDA_SYNC_EVERY on CUDA, every step elsewhere. A trial
    with rungs also reads back at each rung step, so that a pruned trial stops there, not up to
    CUDA_SYNC_EVERY - 1 steps later (steps it would train and not count)."""
    return CUDA_SYNC_EVERY if dev.type == "cuda" else 1


def _consume(rows: Iterable[list], log: TrialLog, on_step: OnStep | None) -> bool:
    """Feed read-back [loss, grad norm] rows to the log (and on_step); True once the trial has stopped."""
    for loss, norm in rows:
        stopped = log.record(loss, norm)
        if on_step is not None:
            on_step(log.steps_done, loss)
        if stopped:
            return True
    return False


def measure_throughput(cfg: TrialConfig, device: str = "auto", steps: int = 5,
                       compile: bool | None = None) -> float:
    """Training tokens/s of cfg's proxy on device, timed over `steps` steps on random tokens after warm-up.

    For sweep planning: no data source, no evaluation, the LR schedule's peak throughout.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    dev = resolve_device(device)
    prepare_device(dev)
    model = build_model(cfg, dev)
    forward = torch.compile(model) if _compile_wanted(compile) else model
    optimizer = make_optimizer(model, cfg, dev)
    gen = torch.Generator().manual_seed(cfg.seed)
    batch = torch.randint(0, cfg.vocab_size, (cfg.batch_seqs, cfg.seq_len + 1), generator=gen)
    x, y = split_batch(batch, dev)
    for _ in range(2 if forward is not model else 1):  # warm-up (compilation, allocator, kernels)
        train_step(model, forward, optimizer, x, y, cfg.lr, cfg, dev)
    synchronize(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step(model, forward, optimizer, x, y, cfg.lr, cfg, dev)
    synchronize(dev)
    return steps * cfg.batch_tokens / (time.perf_counter() - t0)
