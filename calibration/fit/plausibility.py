"""Whether a trial table's numbers are in the units the fit assumes (N and D in parameters and tokens, the
peak LR as a rate, the batch in tokens, the loss in nats per token), checked on the rows a fit uses.

A table in other units fits without complaint and gives answers that are wrong by the unit's factor (LRs
1e4 too large give "peak LR 27"; a batch in billions of tokens gives an optimum of 0.007 tokens). The
ranges below are wide (they hold for the shipped sweeps, from 12K-parameter CPU proxies to Step Law's 1B
models, and the test suite's 4K-token sweeps of 1-layer proxies; a median loss above 12 nats is above the loss of guessing uniformly among 128K tokens) and a
refusal names the column, what it holds and the likely mistake."""
from __future__ import annotations

import numpy as np
import pandas as pd

# column -> (lowest plausible median, highest plausible median, the likely mistake when below, above)
PLAUSIBLE = {
    "lr": (1e-7, 1.0, "a rate scaled down (e.g. given in units of 1e-4)",
           "a rate scaled up (e.g. x1e4) or another quantity; AdamW peak LRs are below 1"),
    "batch_tokens": (8.0, 1e9, "the batch in sequences (pass --batch-unit sequences) or in millions/billions "
                                "of tokens", "the batch in another unit than tokens"),
    "n_params": (100.0, 1e13, "N in millions or billions (give plain parameter counts)",
                 "N in another unit than parameters"),
    "tokens": (1e3, 1e15, "D in millions or billions (give plain token counts)", "D in another unit than tokens"),
    "loss": (0.05, 12.0, "a loss in another unit", "the perplexity (exp of the loss) rather than the loss in nats"),
}
MAX_LR = 10.0  # a single LR above this is no AdamW run, whatever the median


def implausible_units(trials: pd.DataFrame) -> str | None:
    """Why the usable rows (canonical columns) cannot be in the fit's units, or None when they can be."""
    for col, (low, high, below, above) in PLAUSIBLE.items():
        values = trials[col].to_numpy(float)
        median = float(np.median(values))
        if not low <= median <= high:
            return (f"column {col}: median {median:.3g} (range {values.min():.3g} to {values.max():.3g}) is "
                    f"outside the plausible {low:g} to {high:g}; is it {below if median < low else above}?")
    if trials["lr"].max() > MAX_LR:
        return (f"column lr: values up to {trials['lr'].max():.3g}; no AdamW peak LR is above {MAX_LR:g}: "
                "is the column scaled (e.g. x1e4)?")
    steps = trials["tokens"] / trials["batch_tokens"]
    if float(steps.median()) < 1:
        return ("columns tokens and batch_tokens: most runs would train for less than one step (tokens < "
                "batch); is the batch in another unit than tokens, or D in another unit than tokens?")
    return None
