"""The proxy family's shapes and counts, without torch: the size ladder (`RUNGS`), `ProxyShape`, N and FLOPs
per token. Split from calibration/proxy/model.py (which re-exports all of it, and whose docstring gives the
counting conventions) so that planning, cost estimates and `advisor calibrate status` run without torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

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
