"""The standard model shape used to turn total parameters into non-embedding parameters and back.

Llama-style decoder (Touvron et al., arXiv 2302.13971): head dim 128 and n_layer = d_model / 128
(7B: d 4096, 32 layers), SwiGLU MLP with d_ff = 8/3·d_model, so per layer 4·d² (attention) +
3·d·d_ff = 8·d² (MLP) = 12·d² non-embedding parameters (norm gains ignored), and untied input and
output embeddings, 2·V·d. Hence

    N_nonembedding = 12·n_layer·d² = (12/128)·d³,      N_total = N_nonembedding + 2·V·d,

solved for d_model (monotone in d, so bisection always finds it). d_model is kept continuous so that
N_total is reproduced exactly; round it to a multiple of 128 when building the real model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

HEAD_DIM = 128
NONEMB_PER_D3 = 12.0 / HEAD_DIM  # N = 12·(d/128)·d²


@dataclass(frozen=True)
class Shape:
    """A dense transformer's shape: width, depth and parameter counts."""

    d_model: float
    n_layer: float
    n_params: float  # non-embedding
    n_params_total: float
    vocab_size: int

    is_moe: ClassVar[bool] = False  # an MoE is served by a model with a sparsity record, and must give its D

    @property
    def n_params_per_token(self) -> float:
        """The non-embedding parameters each token computes with: all of them in a dense model."""
        return self.n_params

    @property
    def moe_counts(self) -> tuple[float, float] | None:
        """(total, active) non-embedding counts of a mixture of experts; None for a dense model."""
        return None

    def flops(self, tokens: float) -> tuple[float, str]:
        """(training FLOPs C = 6ND, the formula in words): N non-embedding."""
        return 6.0 * self.n_params * tokens, "6ND (N non-embedding)"

    def n_for_laws(self, fitted) -> float:
        """The N a fitted model's laws take at this shape: N itself for a dense model."""
        return self.n_params


def from_nonembedding(n_params: float, vocab_size: int) -> Shape:
    d = (n_params / NONEMB_PER_D3) ** (1.0 / 3.0)
    return Shape(d, d / HEAD_DIM, n_params, n_params + 2.0 * vocab_size * d, vocab_size)


def from_total(n_params_total: float, vocab_size: int) -> Shape:
    """Solve N_total = (12/128)·d³ + 2·V·d for d by bisection (the left side grows with d)."""
    lo, hi = 0.0, max(1.0, (n_params_total / NONEMB_PER_D3) ** (1.0 / 3.0))
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if NONEMB_PER_D3 * mid**3 + 2.0 * vocab_size * mid < n_params_total:
            lo = mid
        else:
            hi = mid
    d = 0.5 * (lo + hi)
    return Shape(d, d / HEAD_DIM, NONEMB_PER_D3 * d**3, n_params_total, vocab_size)


@dataclass(frozen=True)
class MoeShape(Shape):
    """A mixture of experts under the standard shape: `n_params` (non-embedding) and `n_params_total` count
    every expert; `n_params_active` the non-embedding parameters active per token."""

    n_params_active: float = 0.0

    is_moe: ClassVar[bool] = True

    @property
    def n_params_per_token(self) -> float:
        """The active count: experts a token skips cost it nothing (the warmup rule's and C's N)."""
        return self.n_params_active

    @property
    def moe_counts(self) -> tuple[float, float] | None:
        return self.n_params, self.n_params_active

    def flops(self, tokens: float) -> tuple[float, str]:
        return 6.0 * self.n_params_active * tokens, "6·N_active·D (N_active non-embedding, per token)"

    def n_for_laws(self, fitted) -> float:
        """What the fitted model's sparsity record makes of the total and active counts (advisor/sparsity.py);
        a model without one refuses an MoE in one line."""
        return fitted.n_for_laws(self.n_params, self.n_params_active)


def moe_from_total(n_params_total: float, n_params_active_total: float, vocab_size: int) -> MoeShape:
    """Total and active counts, both with embeddings. The width is the standard shape's at the ACTIVE count:
    experts add parameters, not width (Mixtral 8x7B: 12.9B active, 46.7B total, d_model 4096; the standard
    shape gives 5.1K at the active count and 7.9K at the total). Both counts lose the same 2·V·d."""
    active = from_total(n_params_active_total, vocab_size)
    embedding = active.n_params_total - active.n_params
    return MoeShape(active.d_model, active.n_layer, n_params_total - embedding, n_params_total, vocab_size,
                    active.n_params)


def moe_from_nonembedding(n_params: float, n_params_active: float, vocab_size: int) -> MoeShape:
    """Non-embedding total and active counts; the width as in moe_from_total, from the active count."""
    active = from_nonembedding(n_params_active, vocab_size)
    embedding = active.n_params_total - active.n_params
    return MoeShape(active.d_model, active.n_layer, n_params, n_params + embedding, vocab_size, n_params_active)
