"""What the vocabulary costs a sweep: the output head's share of each proxy's training FLOPs.

A plan's FLOPs count 6N + attention per token (Kaplan's C = 6ND convention, which leaves the head out);
the head adds 6 * d_model * vocab per token, which for a small proxy and a 50k vocabulary is most of the
work (a 12k-parameter proxy with d_model 32: 6 * 32 * 50,304 = 9.7M FLOPs per token, against 72k).
"""
from __future__ import annotations

from calibration.proxy.shape import flops_per_token, shape_from_config

HEAVY_HEAD = 0.5  # head share of the smallest proxy's FLOPs above which the plan warns


def head_share(cfg) -> float:
    """The head's share of a trial's FLOPs per token (0 to 1)."""
    shape = shape_from_config(cfg)
    with_head = flops_per_token(shape, include_head=True)
    return 1.0 - flops_per_token(shape) / with_head


def head_line(the_plan) -> str:
    """One line: the vocabulary, the head's share at the smallest and largest proxy, and the FLOPs with it."""
    cfgs = [t.config for t in the_plan.trials]
    smallest = min(cfgs, key=lambda c: (c.n_layer * c.d_model, c.d_model))
    largest = max(cfgs, key=lambda c: (c.n_layer * c.d_model, c.d_model))
    total = sum(flops_per_token(shape_from_config(c), include_head=True) * c.steps * c.batch_tokens for c in cfgs)
    line = (f"vocabulary {smallest.vocab_size:,}: the output head adds {100 * head_share(smallest):.0f}% of the smallest "
            f"proxy's FLOPs per token, {100 * head_share(largest):.0f}% of the largest's; with it, all rounds: about "
            f"{total * the_plan.budget_scale:.3g} FLOPs (the time estimate measures it)")
    if head_share(smallest) > HEAVY_HEAD:
        line += (f"\nwarning: the vocabulary, not the model, is most of this sweep's work ({total / the_plan.total_flops:.0f}x "
                 "the 6N + attention FLOPs above): expect it to run longer than on bytes (run plan without --no-measure "
                 "to time it); larger proxies or a "
                 "smaller vocabulary (--vocab-size) spend the budget on the model")
    return line
