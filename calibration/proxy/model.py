"""The proxy model family: a small Llama-style decoder and its size ladder.

Architecture (one readable file, in the spirit of nanoGPT's model.py): decoder-only, pre-norm RMSNorm,
rotary position embeddings (RoPE, arXiv 2104.09864), SwiGLU MLP (arXiv 2002.05202), no biases, untied input
embedding and output head, causal attention through `F.scaled_dot_product_attention`. This is the shape of
the models users train (Llama, arXiv 2302.13971), so laws fitted on proxies speak about them.

Counting conventions (docs/architecture.md): `n_params` (N) is the non-embedding count, Kaplan et al. (arXiv
2001.08361, section 2.1): everything except the input embedding and the output head. RMSNorm gains are
counted in N (they are non-embedding parameters; 2·d_model per layer plus d_model for the final norm, well
under 1% of N). FLOPs per token for training (forward + backward) follow Kaplan's Table 1 / Chinchilla
(arXiv 2203.15556, appendix F): 6·N plus the attention term 6·n_layer·seq_len·d_model (Kaplan's forward
2·n_layer·n_ctx·d_model, times 3 for forward + backward; it equals the two attention matmuls, QKᵀ and
scores·V at 2·n_ctx·d_model each per token, halved by the causal mask). The output head's 6·d_model·vocab is not included,
as in Kaplan's C = 6·N·D; `flops_per_token(..., include_head=True)` adds it.

Initialisation (standard parameterisation, "sp"): every matrix ~ normal(0, init_std), the residual output
projections (attention output and MLP down) scaled by 1/sqrt(2·n_layer) (GPT-2, Radford et al. 2019), norm
gains 1. μP (Tensor Programs V, arXiv 2203.03466) plugs in at two seams: `ProxyLM._init_weights` (init
scales per parameter kind) and `param_groups` (per-group learning rates), plus the attention scale in
`Attention.forward` (1/d_head instead of 1/sqrt(d_head)). Only "sp" is implemented today.
"""
from __future__ import annotations

import math


import torch
import torch.nn as nn
import torch.nn.functional as F

from calibration.proxy.shape import PARAMETERIZATIONS, ROPE_BASE, NORM_EPS, ProxyShape


# ---------------------------------------------------------------- model


class RMSNorm(nn.Module):
    """x / rms(x) · gain (Zhang & Sennrich, arXiv 1910.07467); no bias."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()  # normalise in fp32 even under autocast
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + NORM_EPS)
        return xf.type_as(x) * self.weight


def rotary_tables(seq_len: int, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables (seq_len, head_dim/2) for rotary embeddings (Su et al., arXiv 2104.09864)."""
    inv_freq = 1.0 / ROPE_BASE ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float64), inv_freq)
    return angles.cos().float(), angles.sin().float()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (first half, second half) of x (..., T, head_dim) by position-dependent angles."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class Attention(nn.Module):
    def __init__(self, shape: ProxyShape):
        super().__init__()
        self.n_head = shape.n_head
        self.qkv = nn.Linear(shape.d_model, 3 * shape.d_model, bias=False)
        self.proj = nn.Linear(shape.d_model, shape.d_model, bias=False)
        self.proj.is_residual_out = True

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        q, k = apply_rotary(q, cos[:T], sin[:T]), apply_rotary(k, cos[:T], sin[:T])
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # scale 1/sqrt(d_head) (sp)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class SwiGLU(nn.Module):
    def __init__(self, shape: ProxyShape):
        super().__init__()
        self.d_ff = shape.d_ff
        self.gate_up = nn.Linear(shape.d_model, 2 * shape.d_ff, bias=False)  # gate and up, fused
        self.down = nn.Linear(shape.d_ff, shape.d_model, bias=False)
        self.down.is_residual_out = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).split(self.d_ff, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, shape: ProxyShape):
        super().__init__()
        self.attn_norm = RMSNorm(shape.d_model)
        self.attn = Attention(shape)
        self.mlp_norm = RMSNorm(shape.d_model)
        self.mlp = SwiGLU(shape)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cos, sin)
        return x + self.mlp(self.mlp_norm(x))


class ProxyLM(nn.Module):
    """The proxy language model. forward(idx, targets) -> (logits, mean cross-entropy in nats or None)."""

    def __init__(self, shape: ProxyShape, init_std: float = 0.02, parameterization: str = "sp",
                 generator: torch.Generator | None = None):
        super().__init__()
        if parameterization not in PARAMETERIZATIONS:
            raise ValueError(
                f"parameterization {parameterization!r} is not implemented (have {PARAMETERIZATIONS}); "
                "μP plugs in at ProxyLM._init_weights and proxy.param_groups"
            )
        if not init_std > 0:
            raise ValueError(f"init_std must be positive, got {init_std}")
        self.shape = shape
        self.init_std = init_std
        self.parameterization = parameterization
        self.tok_emb = nn.Embedding(shape.vocab_size, shape.d_model)
        self.blocks = nn.ModuleList(Block(shape) for _ in range(shape.n_layer))
        self.norm = RMSNorm(shape.d_model)
        self.head = nn.Linear(shape.d_model, shape.vocab_size, bias=False)
        cos, sin = rotary_tables(shape.seq_len, shape.head_dim)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self._init_weights(generator)

    @torch.no_grad()
    def _init_weights(self, generator: torch.Generator | None) -> None:
        """sp init (see module docstring). The μP seam: per-kind std (embedding, hidden, head) goes here."""
        residual_std = self.init_std / math.sqrt(2 * self.shape.n_layer)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                std = residual_std if getattr(module, "is_residual_out", False) else self.init_std
                module.weight.normal_(0.0, std, generator=generator)
            elif isinstance(module, RMSNorm):
                module.weight.fill_(1.0)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        T = idx.shape[-1]
        if T > self.shape.seq_len:
            raise ValueError(f"sequence length {T} exceeds the model's seq_len {self.shape.seq_len}")
        x = self.tok_emb(idx)
        for block in self.blocks:
            x = block(x, self.rope_cos, self.rope_sin)
        logits = self.head(self.norm(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.reshape(-1))
        return logits, loss


# ---------------------------------------------------------------- optimizer groups


def is_decayed(name: str, param: torch.Tensor) -> bool:
    """Weight decay on matrices only: every 2-D weight except the input embedding; no decay on norm gains.

    Why not the input embedding: decay on a lookup table shrinks rows in proportion to how rarely they are
    used rather than regularising a map; OLMo 2 (arXiv 2501.00656) drops it for stability. The output head is
    a matrix in the computation and is decayed, as in nanoGPT / GPT-3-style recipes.
    """
    return param.dim() >= 2 and not name.startswith("tok_emb")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW parameter groups: decayed matrices and the rest. The μP seam: per-group lr multipliers go here."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if is_decayed(name, p) else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
