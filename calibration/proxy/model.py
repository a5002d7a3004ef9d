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
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

PARAMETERIZATIONS = ("sp",)  # "mup" is the planned seam, see the module docstring

# Size-ladder rule, see shape_for_params.
ASPECT_RATIO = 48  # target d_model / n_layer
ROPE_BASE = 10_000.0
NORM_EPS = 1e-6


@dataclass(frozen=True)
class ProxyShape:
    """The shape of one proxy: layers, widths, vocabulary and context length."""

    n_layer: int
    d_model: int
    n_head: int
    d_ff: int
    vocab_size: int = 256
    seq_len: int = 128

    def __post_init__(self) -> None:
        for name in ("n_layer", "d_model", "n_head", "d_ff", "vocab_size", "seq_len"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")
        if self.head_dim % 2:
            raise ValueError(f"head dim {self.head_dim} must be even for rotary embeddings")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head


def shape_from_config(cfg) -> ProxyShape:
    """The ProxyShape of a TrialConfig."""
    return ProxyShape(cfg.n_layer, cfg.d_model, cfg.n_head, cfg.d_ff, cfg.vocab_size, cfg.seq_len)


# ---------------------------------------------------------------- counts


def count_params(shape: ProxyShape) -> tuple[int, int]:
    """Exact (non-embedding, total) parameter counts of ProxyLM(shape).

    Non-embedding = attention (4·d²) + SwiGLU MLP (3·d·d_ff) + two norm gains (2·d) per layer, plus the final
    norm (d). Total adds the input embedding and the untied output head (2·vocab·d).
    """
    d = shape.d_model
    per_layer = 4 * d * d + 3 * d * shape.d_ff + 2 * d
    non_embedding = shape.n_layer * per_layer + d
    return non_embedding, non_embedding + 2 * shape.vocab_size * d


def flops_per_token(shape: ProxyShape, include_head: bool = False) -> float:
    """Training FLOPs per token (forward + backward): 6·N + 6·n_layer·seq_len·d_model (Kaplan, Chinchilla).

    N includes the norm gains (their few FLOPs are counted as if they were matmul weights, <1% of N).
    include_head adds the output head's 6·d_model·vocab (Kaplan's C = 6ND leaves it out).
    """
    n_params, _ = count_params(shape)
    flops = 6.0 * n_params + 6.0 * shape.n_layer * shape.seq_len * shape.d_model
    if include_head:
        flops += 6.0 * shape.d_model * shape.vocab_size
    return flops


# ---------------------------------------------------------------- size ladder


def _d_model_quantum(d_model: float) -> int:
    """Head dim 16 below d_model 128, 32 below 512, 64 from there on; d_model is a multiple of it."""
    return 16 if d_model < 128 else 32 if d_model < 512 else 64


def shape_for_params(n_params_target: float, vocab_size: int = 256, seq_len: int = 128) -> ProxyShape:
    """The ladder's shape for a target non-embedding parameter count.

    One rule: aim at d_model ≈ ASPECT_RATIO · n_layer (48), so N ≈ 12·n_layer·d_model² gives
    n_layer = round((N / (12·48²))^(1/3)) (at least 1); then d_model = sqrt(N / (12·n_layer)) rounded to a
    multiple of the head dim (16 below 128, 32 below 512, 64 above; at least one head); d_ff = 8/3·d_model rounded to a
    multiple of 16 (SwiGLU keeps the 4·d MLP's parameter count with 2/3 of the width, arXiv 2002.05202,
    as Llama does). Why 48: Kaplan et al. (arXiv 2001.08361, fig. 5) find loss within a few percent for
    d_model/n_layer from about 20 to 200 at fixed N, so the rule can favour shallow-enough proxies (fast) while
    staying in the flat region; 48 puts 100M at 15 layers × 768 (close to GPT-2 small's 12 × 768).
    The realised count differs from the target by the rounding (see `count_params`).
    """
    if not n_params_target > 0 or not math.isfinite(n_params_target):
        raise ValueError(f"target parameter count must be positive and finite, got {n_params_target}")
    n_layer = max(1, round((n_params_target / (12 * ASPECT_RATIO**2)) ** (1 / 3)))
    raw_d = math.sqrt(n_params_target / (12 * n_layer))
    quantum = _d_model_quantum(raw_d)
    d_model = max(quantum, quantum * round(raw_d / quantum))
    head_dim = _d_model_quantum(d_model)
    d_ff = max(16, 16 * round(8 * d_model / 3 / 16))
    return ProxyShape(n_layer, d_model, d_model // head_dim, d_ff, vocab_size, seq_len)


# Named rungs, roughly half a decade apart, ~10k to ~100M non-embedding parameters.
RUNG_TARGETS = {
    "xxs": 1e4, "xs": 3e4, "s": 1e5, "m": 3e5, "l": 1e6,
    "xl": 3e6, "2xl": 1e7, "3xl": 3e7, "4xl": 1e8,
}
RUNGS: dict[str, ProxyShape] = {name: shape_for_params(n) for name, n in RUNG_TARGETS.items()}


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
