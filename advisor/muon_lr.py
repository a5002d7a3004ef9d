"""Muon's two learning-rate conventions, and the conversion between them.

Muon (Jordan et al. 2024) orthogonalizes each hidden matrix's momentum; the update O of an out x in matrix
has unit singular values, so its RMS is 1/sqrt(max(out, in)). Two conventions scale it before the LR:

- "original" (Jordan's Muon; torch.optim.Muon's default adjust_lr_fn; Levanter's MuonConfig unless
  use_kimi_scaling is set, so Marin's sweep, arXiv 2509.02046): factor sqrt(max(1, out/in)).
- "match_rms_adamw" (Moonlight, Liu et al., arXiv 2502.16982, their eq. 4; torch's adjust_lr_fn
  "match_rms_adamw"; Levanter's use_kimi_scaling): factor 0.2*sqrt(max(out, in)), which makes the update's
  RMS 0.2, about AdamW's, so that AdamW's LR and weight decay carry over.

The same step (LR times factor) in both: lr_match = lr_original * sqrt(max(1, out/in)) / (0.2*sqrt(max(out, in))).
For a square d x d matrix (attention) that is lr_original / (0.2*sqrt(d)); for an MLP's up projection
(out = 4d, in = d) the same; for its down projection (out = d, in = 4d) half that. No one number converts a
whole model: answers give the square-matrix factor and say so.
"""
from __future__ import annotations

import math

CONVENTIONS = ("original", "match_rms_adamw")
MARIN_CONVENTION = "original"  # Levanter MuonConfig: use_kimi_scaling False by default; Marin's configs do not set it


def shape_factor(out_dim: int, in_dim: int, convention: str) -> float:
    """What the convention multiplies the orthogonalized update of an out x in matrix by."""
    if convention == "original":
        return math.sqrt(max(1.0, out_dim / in_dim))
    if convention == "match_rms_adamw":
        return 0.2 * math.sqrt(max(out_dim, in_dim))
    raise ValueError(f"unknown Muon LR convention {convention!r} (use {' or '.join(CONVENTIONS)})")


def convert_lr(lr: float, out_dim: int, in_dim: int, source: str, target: str) -> float:
    """The LR in convention `target` that takes the same step on an out x in matrix as `lr` in `source`."""
    return lr * shape_factor(out_dim, in_dim, source) / shape_factor(out_dim, in_dim, target)


def convention_line(lr_original: float, d_model: int) -> str:
    """One line for every Muon answer: which convention the LR is in, and its value in the other."""
    other = convert_lr(lr_original, d_model, d_model, "original", "match_rms_adamw")
    return (f"Muon LR convention: {lr_original:.3g} is in the original convention (update x sqrt(max(1, out/in)); "
            f"torch.optim.Muon's default, Marin's runs); Moonlight's RMS-matched convention (adjust_lr_fn="
            f"\"match_rms_adamw\", 0.2*sqrt(max(out, in))) needs {other:.3g} for the d_model={d_model} square "
            f"matrices (x 1/(0.2*sqrt(d_model)); MLP down projection: half that)")
