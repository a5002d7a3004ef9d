"""An independent count of a proxy's training FLOPs: torch's FlopCounterMode over one forward + backward.

The math attention kernel computes the full T×T scores (QKᵀ and scores·V as batched matmuls, which the
counter sees); a causal model needs half of them, which is what `flops_per_token` counts.
"""
from __future__ import annotations

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from calibration.proxy.model import ProxyLM
from calibration.proxy.shape import ProxyShape


def counted_flops(shape: ProxyShape, batch: int = 1) -> dict[str, int]:
    """FLOPs of one training step on `batch` sequences of shape.seq_len tokens, by kind: 'matmul' (every
    linear layer, forward and backward, the output head included), 'head' (the output head alone) and
    'attention' (the full, unmasked score matmuls)."""
    torch.manual_seed(0)
    model = ProxyLM(shape)
    tokens = torch.randint(0, shape.vocab_size, (batch, shape.seq_len + 1),
                           generator=torch.Generator().manual_seed(0))
    counter = FlopCounterMode(display=False)
    with sdpa_kernel(SDPBackend.MATH), counter:
        _, loss = model(tokens[:, :-1], tokens[:, 1:])
        loss.backward()
    by_module = {name: {str(op): n for op, n in ops.items()} for name, ops in counter.get_flop_counts().items()}
    total = by_module["Global"]
    unknown = set(total) - {"aten.mm", "aten.bmm"}
    assert not unknown, f"ops this count does not place: {unknown}"
    return {"matmul": total.get("aten.mm", 0), "head": by_module["ProxyLM.head"]["aten.mm"],
            "attention": total.get("aten.bmm", 0)}


def counted_flops_per_token(shape: ProxyShape) -> float:
    """Counted training FLOPs per token with causal attention (half the full scores), output head included.

    The RMSNorm gains are added as 6 FLOPs per gain per token: `flops_per_token` counts them in N as if
    they were matmul weights (its documented convention), which no matmul count can see.
    """
    counts = counted_flops(shape)
    norm_gains = (2 * shape.n_layer + 1) * shape.d_model
    return (counts["matmul"] + counts["attention"] / 2) / shape.seq_len + 6 * norm_gains
