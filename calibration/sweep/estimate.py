"""Wall-time estimate of a planned sweep on this device, from a short timed benchmark of its proxies.
"""
from __future__ import annotations

from dataclasses import dataclass

from calibration.record.trial import TrialConfig
from calibration.sweep.plan import SweepPlan
from calibration.sweep.spec import SHAPE_FIELDS


@dataclass
class Estimate:
    device: str
    workers: int
    wall_s: float  # whole grid, spread over the workers
    trial_s: float  # sum over trials, one worker
    tokens_per_s: dict  # shape -> measured single-worker throughput at the largest batch
    measured_on: int  # configurations measured


def estimate_wall(the_plan: SweepPlan, device: str, workers: int | None = None, steps: int = 10) -> Estimate:
    """Estimated wall time of the initial grid on this device from measured throughput.

    Per size, times `train.measure_throughput` at the smallest and the largest batch of the grid
    (single-threaded on the CPU, as the workers run) and models a step's time as a + b * batch_seqs (a
    fixed per-step cost, which dominates tiny proxies at small batches, plus a per-sequence cost). A
    trial's time = steps * step time + eval_tokens / 3 at the per-token rate (a forward pass costs about a
    third of a training step). Workers share the sum. A search's later rounds count at its first round's
    mean cost per trial (their points are not known yet).
    """
    import torch

    from calibration.proxy.train import measure_throughput
    from calibration.sweep.executors import default_workers, device_name

    device = device_name(device)
    workers = workers or default_workers(device)
    if device == "cpu":
        torch.set_num_threads(1)
    by_shape: dict[tuple, list[TrialConfig]] = {}
    for t in the_plan.trials:
        by_shape.setdefault(tuple(getattr(t.config, f) for f in SHAPE_FIELDS), []).append(t.config)
    rates, total, measured = {}, 0.0, 0
    for shape, cfgs in by_shape.items():
        batches = sorted({c.batch_seqs for c in cfgs})
        step_s = {}
        for b in {batches[0], batches[-1]}:
            probe = next(c for c in cfgs if c.batch_seqs == b)
            step_s[b] = probe.batch_tokens / measure_throughput(probe, device=device, steps=steps)
            measured += 1
        lo, hi = batches[0], batches[-1]
        slope = (step_s[hi] - step_s[lo]) / (hi - lo) if hi > lo else 0.0
        per_seq = max(slope, 0.0)
        fixed = max(step_s[lo] - per_seq * lo, 0.0)
        rates[shape] = cfgs[0].seq_len * hi / step_s[hi]
        for c in cfgs:
            step = fixed + per_seq * c.batch_seqs
            total += c.steps * step + (c.eval_tokens / 3) * step / c.batch_tokens
    total *= the_plan.budget_scale  # a search's later rounds, at its first round's mean cost per trial
    return Estimate(device, workers, total / workers, total, rates, measured)


def format_seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"
