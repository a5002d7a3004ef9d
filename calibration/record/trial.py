"""One calibration trial: its configuration (what to train) and its result (what happened).

This is the shared contract between the trainer (calibration/proxy/train.py), the sweep
(calibration/sweep/run.py), the store (store.py) and the trial table (`TrialResult.to_row`, contract 1 of
docs/architecture.md). Keep it free of torch.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from advisor import __version__

SCHEDULES = ("cosine", "wsd", "constant")
OPTIMIZERS = ("adamw", "muon")
# Muon's LR conventions (torch.optim.Muon's adjust_lr_fn): "original" scales each matrix's orthogonalized
# update by sqrt(max(1, out/in)) (Jordan's Muon, Marin's runs); "match_rms_adamw" by 0.2*sqrt(max(out, in))
# (Moonlight, arXiv 2502.16982). advisor/optimizers.py converts between them.
MUON_LR_CONVENTIONS = ("original", "match_rms_adamw")
# The Muon knobs with their AdamW-run defaults: left out of an AdamW trial's id (ids from before them stay valid).
MUON_FIELDS = {"momentum": 0.95, "adam_lr_ratio": 0.3, "muon_lr_convention": "original"}
STATUSES = ("ok", "diverged", "pruned", "failed", "running")
CURVE_POINTS = 64  # loss-curve samples per trial (one every ~1.5% of the steps)
# Training-health numbers of a result (calibration/proxy/health.py), also trial-table columns; None where
# not measured (a failed trial, a store written before they existed)
HEALTH_FIELDS = ("grad_norm_median", "grad_norm_max", "clipped_frac", "loss_spikes", "diverged_at_step")


class _PlainData:
    """to_dict / from_dict for the dataclasses below: plain data that the store and the executors ship.
    from_dict drops keys the class does not know (a row written by a newer version)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class TrialConfig(_PlainData):
    """Everything that determines a trial's outcome (the device is chosen at run time)."""

    # proxy shape (see calibration/proxy/model.py for the size ladder)
    n_layer: int
    d_model: int
    n_head: int
    d_ff: int
    vocab_size: int = 256
    seq_len: int = 128
    # budget and batch
    tokens: int = 1_000_000  # training tokens; steps = tokens // batch_tokens
    batch_seqs: int = 32
    # optimizer: "adamw" (decoupled weight decay on matrices only), or "muon" (torch.optim.Muon on the hidden
    # matrices at lr, AdamW on embedding, norms and output head at adam_lr_ratio * lr; calibration/proxy/optim.py)
    optimizer: str = "adamw"
    lr: float = 3e-3  # peak learning rate (muon: of the Muon part, in muon_lr_convention)
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global grad norm; 0 disables (muon: of the AdamW part, as in Marin's runs)
    # muon only: Nesterov momentum of the Muon part, the AdamW part's LR as a fraction of lr (Marin's
    # muon_to_adam_lr), and the LR convention (MUON_LR_CONVENTIONS)
    momentum: float = 0.95
    adam_lr_ratio: float = 0.3
    muon_lr_convention: str = "original"
    # schedule: linear warmup, then cosine to final_lr_frac*lr | WSD | constant
    schedule: str = "cosine"
    warmup_frac: float = 0.05  # fraction of steps (at least one step)
    final_lr_frac: float = 0.1
    decay_frac: float = 0.2  # WSD: fraction of steps in the final decay
    # init and parameterisation ("sp" now; "mup" is the seam for later)
    init_std: float = 0.02
    parameterization: str = "sp"
    # data and evaluation
    data: str = "kjv"  # token source spec, see calibration.proxy.data.load_corpus
    data_id: str = ""  # the data's content (TokenSource.data_id), set by the sweep; "" for the shipped corpus
    eval_tokens: int = 32_768  # fixed validation tokens scored at the end
    seed: int = 0  # init and data order

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        check_optimizer_knobs(self)
        for name in ("n_layer", "d_model", "n_head", "d_ff", "seq_len", "tokens", "batch_seqs"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")
        if self.steps < 1:
            raise ValueError(
                f"tokens {self.tokens} is less than one batch ({self.batch_tokens} tokens)"
            )

    @property
    def batch_tokens(self) -> int:
        return self.batch_seqs * self.seq_len

    @property
    def steps(self) -> int:
        return self.tokens // self.batch_tokens

    @property
    def warmup_steps(self) -> int:
        return max(1, round(self.warmup_frac * self.steps)) if self.warmup_frac > 0 else 0

    @property
    def curve_every(self) -> int:
        """Steps between loss-curve points: the curve has a point at every multiple of it and at the end."""
        return max(1, self.steps // CURVE_POINTS)

    @property
    def trial_id(self) -> str:
        """Stable 16-hex hash of the config (same config, same id, across machines): every field counts,
        the data's content included (an empty data_id is left out, so ids from before it stay valid)."""
        fields = dataclasses.asdict(self)
        if not fields["data_id"]:
            del fields["data_id"]
        if self.optimizer == "adamw":  # AdamW ids as before the optimizer fields existed (knobs checked unset)
            for name in ("optimizer", *MUON_FIELDS):
                del fields[name]
        blob = json.dumps(fields, sort_keys=True, default=repr)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def replace(self, **changes) -> "TrialConfig":
        return dataclasses.replace(self, **changes)


@dataclass
class TrialResult(_PlainData):
    """What a trial produced. `curve` holds (step, tokens, train_loss, lr, grad_norm) samples: the mean train
    loss and mean pre-clip gradient norm over the steps since the previous sample (curves stored before the
    gradient norm was recorded have four entries per sample).

    A pruned trial (calibration/sweep/prune.py) stopped at a rung: no validation loss; train_loss and
    steps_done are its last loss and step."""

    trial_id: str
    status: str  # ok | diverged | pruned | failed | running
    loss: float | None = None  # final validation loss, nats/token
    train_loss: float | None = None  # smoothed train loss at the end (a pruned trial: at its rung)
    steps_done: int = 0
    wall_s: float = 0.0
    tokens_per_s: float = 0.0
    device: str = "cpu"
    n_params: int = 0  # non-embedding
    n_params_total: int = 0
    flops: float = 0.0  # training FLOPs, 6N + attention per token (see proxy.flops_per_token)
    data_id: str = ""
    code_version: str = field(default_factory=lambda: code_version())
    finished_at: str = ""
    error: str = ""  # for failed trials: the exception, kept
    curve: list = field(default_factory=list)
    val_curve: list = field(default_factory=list)  # (step, val_loss) if evaluated during training
    # training health (calibration/proxy/health.py): pre-clip gradient norm, loss spikes, divergence start
    grad_norm_median: float | None = None
    grad_norm_max: float | None = None
    clipped_frac: float | None = None  # fraction of steps whose pre-clip norm exceeded grad_clip (0: clip off)
    loss_spikes: int | None = None
    diverged_at_step: int | None = None  # 1-based step where the divergence began (diverged trials)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if not self.finished_at and self.status != "running":
            self.finished_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def to_row(self, cfg: TrialConfig) -> dict:
        """One row of the trial table (contract 1 of docs/architecture.md)."""
        return {
            "trial_id": cfg.trial_id,
            "status": self.status,
            "n_params": self.n_params,
            "n_params_total": self.n_params_total,
            "n_layer": cfg.n_layer,
            "d_model": cfg.d_model,
            "n_head": cfg.n_head,
            "d_ff": cfg.d_ff,
            "vocab_size": cfg.vocab_size,  # the proxies' vocabulary follows the data (n_params_total counts it)
            "seq_len": cfg.seq_len,
            "tokens": cfg.steps * cfg.batch_tokens,
            "lr": cfg.lr,
            "batch_tokens": cfg.batch_tokens,
            "batch_seqs": cfg.batch_seqs,
            "steps": cfg.steps,
            "warmup_steps": cfg.warmup_steps,
            "schedule": cfg.schedule,
            "weight_decay": cfg.weight_decay,
            "beta1": cfg.beta1,
            "beta2": cfg.beta2,
            "grad_clip": cfg.grad_clip,
            # another optimizer than AdamW says so (an AdamW row stays as it was: no column means adamw)
            **({"optimizer": cfg.optimizer, **{name: getattr(cfg, name) for name in MUON_FIELDS}}
               if cfg.optimizer == "muon" else {}),
            "seed": cfg.seed,
            "loss": self.loss,
            "train_loss": self.train_loss,
            "flops": self.flops,
            "wall_s": self.wall_s,
            "device": self.device,
            "data_id": self.data_id,
            "code_version": self.code_version,
            "finished_at": self.finished_at,
            "error": self.error,
            "steps_done": self.steps_done,
            **{name: getattr(self, name) for name in HEALTH_FIELDS},
        }


def check_optimizer_knobs(cfg: TrialConfig) -> None:
    """The optimizer is known and its knobs are in range; an AdamW trial leaves the Muon knobs at their defaults
    (a knob that does nothing must not look like a setting)."""
    if cfg.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {cfg.optimizer!r}")
    if cfg.optimizer == "adamw":
        for name, default in MUON_FIELDS.items():
            if getattr(cfg, name) != default:
                raise ValueError(f"{name} applies to optimizer \"muon\", not \"adamw\" (set optimizer = \"muon\" or leave it out)")
        return
    if not 0.0 <= cfg.momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {cfg.momentum!r}")
    if not 0.0 < cfg.adam_lr_ratio < float("inf"):
        raise ValueError(f"adam_lr_ratio must be positive, got {cfg.adam_lr_ratio!r}")
    if cfg.muon_lr_convention not in MUON_LR_CONVENTIONS:
        raise ValueError(f"muon_lr_convention must be one of {', '.join(MUON_LR_CONVENTIONS)}, "
                         f"got {cfg.muon_lr_convention!r}")


@lru_cache(maxsize=1)
def code_version() -> str:
    """Package version plus the git commit when run from a checkout (e.g. '0.1.0+g1a2b3c4')."""
    root = Path(__file__).resolve().parents[2]  # the checkout: calibration/record/trial.py -> repository root
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root, capture_output=True, text=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+g{sha}" if sha else __version__
