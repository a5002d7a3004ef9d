"""Early stopping of hopeless trials (`[search] prune = "asha"`): asynchronous successive halving.

Rungs are fractions of a trial's run (`[search] rungs`, e.g. [0.2, 0.5]). A trial's loss at a rung is its
loss-curve point at the first curve point at or after that fraction of its steps (`rung_step`): the mean
train loss over the ~1.5% of the run before it, read from the stored curves of finished trials and
computed the same way by the running trial. Fractions of the run are fractions of its tokens, so trials
of one cell at different batch sizes meet at the same tokens.

The rule. When a trial is submitted, its cell's finished trials (ok, diverged, pruned) that reached a rung
with a finite loss there give that rung a threshold, once there are at least `min_trials` of them:

    threshold = max(k-th best loss at the rung, best loss at the rung x (1 + margin)),  k = ceil(n / eta)

The trial stops at the first rung whose threshold its loss exceeds, with status `pruned` (its last loss
and step kept): it was outside the best 1/eta of the cell's finished trials there and worse than their
best by more than the margin. Rungs with too few finished trials do not prune.

Determinism. A trial's thresholds are fixed at submission from the trials finished by then (shipped to
the worker with the config), so a trial's fate depends only on which trials had finished before it
started. With one worker (`--workers 1`) trials run one after another in plan order, so a sweep, killed
and resumed or not, prunes the same trials. With several workers (or Ray) it depends on the finishing
order, as in ASHA: two runs of one spec may prune different trials, and a resumed sweep may prune other
trials than an uninterrupted one would have. Every decision is still a fact of the store (the trial's
rung loss and status). On the grid, the ok trials it keeps train exactly as they would without pruning;
the adaptive grid's additions and a search's later rounds read the pruned trials (as +inf), so with
pruning they may place other trials than without it.

What it saves. The saving measured (benchmarks/search_methods.py, docs/search.md) is CPU compute, per
trial: a pruned trial stops training at its rung. On a GPU a cell's learning rates are claimed and
trained together as one vectorized group (each member with its own thresholds, frozen when pruned), so a
cell's first group prunes nothing, and a pruned member's slice is still computed until the whole group
stops (calibration/proxy/vectorized.py): its steps_done and flops stop at the rung, the device time does
not, so on a GPU pruning frees little. Single trials on CUDA read their losses back at each rung step,
so they stop at the rung itself.

The defaults (rungs 0.2 and 0.5, eta 3, margin 8%, 4 trials) come from the curves of the shipped
cpu-default store: with every trial known, they stop 43% of its trials (32% of its compute) and none of
them finished within 1.6% of its cell's best loss; at a 5% margin, trials within 0.3% were stopped.
"""
from __future__ import annotations

import math

from calibration.record.trial import TrialConfig, TrialResult
from calibration.sweep.spec import PruneSettings

PRUNE_FROM = ("ok", "diverged", "pruned")  # finished trials whose curves set the rungs' thresholds


def rung_step(cfg: TrialConfig, frac: float) -> int:
    """The 1-based step of cfg's curve point at rung `frac`: the first curve point at or after frac·steps."""
    every = cfg.curve_every
    return math.ceil(frac * cfg.steps / every) * every


def rung_problem(settings: PruneSettings, cfg: TrialConfig) -> str | None:
    """Why the rungs do not fit cfg's run (None when they do): a rung before its first curve point, at or
    past its end, or two rungs on one curve point (too few steps)."""
    steps = [rung_step(cfg, frac) for frac in settings.rungs]
    for frac, step in zip(settings.rungs, steps):
        if frac * cfg.steps < cfg.curve_every:
            return f"rung {frac:g} comes before the first loss-curve point (step {cfg.curve_every})"
        if step >= cfg.steps:
            return f"rung {frac:g} falls on the last step ({cfg.steps})"
    if len(set(steps)) < len(steps):
        return "two rungs fall on one loss-curve point (too few steps)"
    return None


def check_rungs(settings: PruneSettings, cfgs: list[TrialConfig]) -> str | None:
    """The first trial whose run the rungs do not fit, as a one-line reason (None: they fit every trial)."""
    if not settings.method:
        return None
    for cfg in cfgs:
        problem = rung_problem(settings, cfg)
        if problem:
            return (f"search.rungs {list(settings.rungs)} do not fit trials of {cfg.steps} steps "
                    f"(batch.seqs {cfg.batch_seqs}, {cfg.tokens:,} tokens): {problem}; use rungs within the "
                    "run (at least one curve point apart) or more steps")
    return None


def loss_at(result: TrialResult | None, cfg: TrialConfig, frac: float) -> float | None:
    """A finished trial's loss at rung frac (its stored curve point there), or None if it never got there."""
    if result is None:
        return None
    step = rung_step(cfg, frac)
    for point in result.curve:
        if point[0] == step:
            loss = point[2]
            return float(loss) if loss is not None and math.isfinite(loss) else None
    return None


def thresholds(settings: PruneSettings, finished: list[tuple[TrialConfig, TrialResult]]) -> list[float | None]:
    """Per rung: the loss above which a trial stops there, from the cell's finished trials (None: too few)."""
    out = []
    for frac in settings.rungs:
        losses = sorted(v for v in (loss_at(res, cfg, frac) for cfg, res in finished) if v is not None)
        if len(losses) < settings.min_trials:
            out.append(None)
            continue
        kth = losses[math.ceil(len(losses) / settings.eta) - 1]
        out.append(max(kth, losses[0] * (1.0 + settings.margin)))
    return out


def trial_rungs(settings: PruneSettings, cfg: TrialConfig, limits: list[float | None]) -> list:
    """What the trial is given: [[rung step, threshold], ...] for the rungs that prune and fit its run."""
    if rung_problem(settings, cfg):
        return []  # e.g. an adaptive-grid trial with fewer steps than any planned one: it runs to the end
    return [[rung_step(cfg, frac), limit] for frac, limit in zip(settings.rungs, limits) if limit is not None]


def unit_rungs(store, settings: PruneSettings, unit: list[TrialConfig]) -> dict | None:
    """{trial_id: its rungs} for a claimed unit, from the finished trials of each trial's cell in the
    store's current sweep; None when pruning is off."""
    if not settings.method:
        return None
    key = store.meta("spec_hash")
    cells = store.cells_of([cfg.trial_id for cfg in unit])
    limits_of: dict[str, list] = {}
    out = {}
    for cfg in unit:
        cell = cells[cfg.trial_id]
        if cell not in limits_of:
            rows = store.trials(statuses=PRUNE_FROM, spec_hash=key, curves=True, cell=cell)
            limits_of[cell] = thresholds(settings, [(r["config"], r["result"]) for r in rows])
        rungs = trial_rungs(settings, cfg, limits_of[cell])
        if rungs:
            out[cfg.trial_id] = rungs
    return out
