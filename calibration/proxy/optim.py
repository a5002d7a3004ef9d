"""The trial's optimizer: AdamW, or Muon on the hidden matrices with AdamW on the rest.

    from calibration.proxy.optim import make_optimizer, set_lr
    optimizer = make_optimizer(model, cfg, dev)      # cfg.optimizer: "adamw" | "muon"
    set_lr(optimizer, lr)                            # every step, from the schedule

AdamW (Loshchilov & Hutter, arXiv 1711.05101): decoupled weight decay on the matrices (proxy.is_decayed).

Muon (Jordan et al. 2024, https://kellerjordan.github.io/posts/muon/; torch.optim.Muon): the hidden weight
matrices (every 2-D weight inside the transformer blocks: attention qkv and output, MLP gate/up and down)
get Nesterov momentum (cfg.momentum), a 5-step Newton-Schulz orthogonalization and decoupled weight decay
cfg.weight_decay at LR cfg.lr; the input embedding, the norm gains and the output head get AdamW (betas,
eps, weight decay as for an AdamW trial) at cfg.adam_lr_ratio * cfg.lr. This is the split of Marin's
Levanter Muon (arXiv 2509.02046: embeddings and lm_head to AdamW, `muon_to_adam_lr` the ratio), with one
difference kept on purpose: our qkv and gate/up projections are fused matrices, orthogonalized as one.

LR convention (cfg.muon_lr_convention, torch's adjust_lr_fn): "original" multiplies each matrix's update
by sqrt(max(1, out/in)) (Jordan's Muon; Levanter's default, so Marin's tuned LRs are in it);
"match_rms_adamw" by 0.2*sqrt(max(out, in)) (Moonlight, arXiv 2502.16982), which makes the update's RMS
about AdamW's. advisor/optimizers.py converts an LR between them.

Clipping (cfg.grad_clip) applies to the AdamW part alone, by that part's gradient norm, as in Marin's runs
(the orthogonalization already fixes the Muon update's scale).
"""
from __future__ import annotations

import torch

from calibration.proxy.model import is_decayed, param_groups


def is_hidden_matrix(name: str, param: torch.Tensor) -> bool:
    """Muon's parameters: 2-D weights inside the transformer blocks (not the embedding, head or norms)."""
    return param.dim() == 2 and name.startswith("blocks.")


class MuonWithAdamW:
    """torch.optim.Muon on the hidden matrices and torch.optim.AdamW on the rest, stepped together.

    Every param group carries "lr_ratio" (1 for Muon's, adam_lr_ratio for AdamW's): set_lr multiplies by it."""

    def __init__(self, model: torch.nn.Module, cfg, dev: torch.device):
        hidden = [p for n, p in model.named_parameters() if is_hidden_matrix(n, p)]
        if not hidden:
            raise ValueError("optimizer \"muon\" needs hidden weight matrices (transformer blocks); this proxy has none")
        rest = [(n, p) for n, p in model.named_parameters() if not is_hidden_matrix(n, p)]
        self.muon = torch.optim.Muon(hidden, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=cfg.momentum,
                                     nesterov=True, adjust_lr_fn=cfg.muon_lr_convention)
        groups = [{"params": [p for n, p in rest if is_decayed(n, p)], "weight_decay": cfg.weight_decay},
                  {"params": [p for n, p in rest if not is_decayed(n, p)], "weight_decay": 0.0}]
        self.adamw = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr * cfg.adam_lr_ratio,
                                       betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
        for group in self.muon.param_groups:
            group["lr_ratio"] = 1.0
        for group in self.adamw.param_groups:
            group["lr_ratio"] = cfg.adam_lr_ratio
        self.clip_params = [p for _, p in rest]

    @property
    def param_groups(self) -> list[dict]:
        return self.muon.param_groups + self.adamw.param_groups

    def step(self) -> None:
        self.muon.step()
        self.adamw.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.muon.zero_grad(set_to_none=set_to_none)
        self.adamw.zero_grad(set_to_none=set_to_none)


def make_optimizer(model: torch.nn.Module, cfg, dev: torch.device):
    """cfg's optimizer over model's parameters (see the module docstring)."""
    if cfg.optimizer == "muon":
        return MuonWithAdamW(model, cfg, dev)
    return torch.optim.AdamW(
        param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps,
        fused=dev.type == "cuda" or None,
    )


def set_lr(optimizer, lr: float) -> None:
    """The schedule's LR for this step, times each group's lr_ratio (Muon's AdamW part)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_ratio", 1.0)


def clip_params(model: torch.nn.Module, optimizer) -> list:
    """The parameters whose gradient norm clipping bounds: all (AdamW), or the AdamW part (Muon)."""
    return getattr(optimizer, "clip_params", None) or list(model.parameters())
