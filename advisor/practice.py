"""Published practice for the settings the recipe derives by rule (weight decay, warmup): a warning where a
rule's answer falls far outside what large published runs used, so nobody trains at it without a word.

Published runs (their papers): weight decay 0.1 in GPT-3 (arXiv 2005.14165), Llama 2 (arXiv 2307.09288),
DeepSeek LLM (arXiv 2401.02954) and OLMo (arXiv 2402.00838), 0.01 in Pythia (arXiv 2304.01373); warmup
375M tokens of 300B in GPT-3 (0.13% of training), 2,000 steps of about 500K in Llama 2 (0.4%), 2,000 of
about 210K in DeepSeek LLM 7B (1%), 1% of the steps in Pythia. "Far outside": weight decay below 0.01 or
more than 3× 0.1. Warmup: the recipe's rule never goes below the published floor, the shorter of 1% of the
steps (DeepSeek LLM, Pythia) and 2,000 steps (Llama 2, DeepSeek LLM); a warmup under it is warned.
"""
from __future__ import annotations

from advisor.coded_warning import CodedWarning

WEIGHT_DECAY_PUBLISHED = (0.01, 0.1)  # Pythia .. GPT-3, Llama 2, DeepSeek LLM, OLMo
WEIGHT_DECAY_FAR = (0.01, 0.3)
WARMUP_FLOOR_FRAC = 0.01  # DeepSeek LLM 7B (2,000 of ~210K steps), Pythia (1%)
WARMUP_FLOOR_STEPS = 2000  # Llama 2 and DeepSeek LLM: long runs warm up over 2,000 steps, not 1% of them
CITATION = "GPT-3, Llama 2, DeepSeek LLM, OLMo, Pythia: docs/advisor.md"


def warmup_floor(steps: int) -> int:
    """The shortest warmup published runs support: 1% of the steps, at most 2,000 steps."""
    return int(min(WARMUP_FLOOR_FRAC * steps, WARMUP_FLOOR_STEPS))


def practice_warnings(weight_decay: float, warmup_steps: int, steps: int) -> list[CodedWarning]:
    out = []
    low, high = WEIGHT_DECAY_FAR
    if not low <= weight_decay <= high:
        out.append(CodedWarning("weight_decay_outside_practice", f"weight decay {weight_decay:.3g} is far outside "
                                f"published practice, {WEIGHT_DECAY_PUBLISHED[0]:g}–{WEIGHT_DECAY_PUBLISHED[1]:g}: "
                                f"check the rule behind it (--explain) before you train ({CITATION})"))
    if warmup_steps < warmup_floor(steps):
        out.append(CodedWarning("warmup_outside_practice", f"warmup of {warmup_steps:,} steps is "
                                f"{warmup_steps / steps:.2%} of training, below published runs' floor of "
                                f"{warmup_floor(steps):,} steps (1% of the steps, at most 2,000): "
                                f"consider a longer warmup ({CITATION})"))
    return out
