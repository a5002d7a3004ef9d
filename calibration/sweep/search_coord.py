"""Coordinate descent with log-parabola steps: the `coord` search (`[search] method = "coord"`).

A cell's loss is close to a parabola in log LR and in log batch near its optimum, and the LR matters far
more than the batch (Step Law's grids: the best batch's neighbours cost a few hundredths of a percent,
a factor 2 in LR several tenths). So the search resolves the LR first, then the batch, then fills in
around the optimum for the local fit (calibration/fit/optimum.py), each step read from the finished
points only:

- round 0: one LR row at the middle of the batch ladder, `initial_trials` LRs log-spaced over [lr];
- each later round, `round_trials` points, the first of these that apply:
  1. LR at the best point's batch not resolved (no tried LR within one grid step on each side):
     the vertex of the parabola in log LR through the best point and its row neighbours, when it lies
     more than half a step from every tried LR, else the one-step brackets (search_base.brackets);
  2. batch not resolved (no tried ladder neighbour at the best LR): those ladder neighbours (below the
     ladder's smallest, half of it, within [adaptive] batch_min);
  3. the 3 x 3 around the optimum: one LR step above and below at each neighbouring batch;
  4. half steps: the geometric midpoints between the best LR and its row neighbours.
  5. anything else the box holds, nearest the best point first.

Deterministic: a round is a function of the finished points (in canonical order) alone, so a killed and
resumed sweep proposes the rounds an uninterrupted one does (search.py). Needs no library beyond the
standard one.
"""
from __future__ import annotations

import math

from calibration.sweep.adaptive import round_lr
from calibration.sweep.search_base import SearchMethod, batch_ladder, brackets, lr_step

GOLDEN = 0.6180339887  # seed -> phase: successive seeds spread evenly
CLOSE = 0.5  # a candidate within half a grid step (log) of a tried LR at its batch is already tried


def first_row(spec, n: int) -> list[tuple[float, int]]:
    """Round 0: n LRs log-spaced over [min, max] of [lr] at the ladder's middle batch (in log), the row's
    phase within its spacing set by the search seed (a quarter to three quarters of a spacing)."""
    ladder = batch_ladder(spec.batch_seqs)
    mid = ladder[(len(ladder) - 1) // 2] if len(ladder) % 2 else _geometric_middle(ladder)
    lo, hi = math.log(min(spec.lr)), math.log(max(spec.lr))
    phase = 0.5 if spec.search.seed == 0 else 0.25 + (spec.search.seed * GOLDEN) % 0.5
    return [(round_lr(math.exp(lo + (hi - lo) * (i + phase) / n)), mid) for i in range(n)]


def _geometric_middle(ladder: tuple) -> int:
    """Of the two middle batches of an even ladder, the one nearer the geometric middle of its ends."""
    a, b = ladder[len(ladder) // 2 - 1], ladder[len(ladder) // 2]
    centre = math.sqrt(ladder[0] * ladder[-1])
    return a if abs(math.log(a / centre)) <= abs(math.log(b / centre)) else b


def coord_points(losses: dict, spec, n: int, avoid: set, pruned: set = frozenset()) -> list[tuple[float, int]]:
    """Round k's n new (lr, batch) points from the finished points' losses {(batch, lr): mean loss}."""
    finite = {key: v for key, v in losses.items() if math.isfinite(v)}
    if not finite or n <= 0:
        return []
    out: list[tuple[float, int]] = []
    for stage in (_resolve_lr, _resolve_batch, _around, _half_steps, _rest):
        for point in stage(losses, finite, spec, pruned):
            if len(out) == n:
                return out
            if _new(point, avoid, out, losses, spec):
                out.append(point)  # a stage short of points lends the round to the next: the budget is spent
    return out


def _new(point, avoid: set, out: list, losses: dict, spec) -> bool:
    """Inside [adaptive] bounds and not within half a step of a tried or chosen LR at the same batch."""
    lr, batch = point
    if not spec.adaptive.lr_min <= lr <= spec.adaptive.lr_max or point in avoid:
        return False
    near = CLOSE * math.log(lr_step(spec))
    taken = [lr2 for b, lr2 in losses if b == batch] + [lr2 for lr2, b in out if b == batch]
    return all(abs(math.log(lr / other)) > near for other in taken)


def _best(finite: dict) -> tuple[int, float]:
    return min(finite, key=lambda key: (finite[key], key))


def _row(losses: dict, batch: int) -> list[tuple[float, float]]:
    """(lr, loss) of the tried points at one batch, by LR."""
    return sorted((lr, v) for (b, lr), v in losses.items() if b == batch)


def _resolve_lr(losses, finite, spec, pruned) -> list[tuple[float, int]]:
    """The LR at the best batch: the parabola's vertex, else the one-step brackets."""
    batch, best = _best(finite)
    step = lr_step(spec)
    row = [lr for lr, _ in _row(losses, batch)]
    resolved = (any(best < lr <= best * step * 1.01 for lr in row)
                and any(best / step / 1.01 <= lr < best for lr in row))
    if resolved:
        return []
    vertex = _vertex(_row(finite, batch), best)
    return ([(vertex, batch)] if vertex else []) + brackets(losses, spec, pruned)


def _vertex(row: list, best: float) -> float | None:
    """The minimum of the parabola in log LR through the best point and its two row neighbours, kept
    between those neighbours (a parabola is trusted only where it interpolates)."""
    lrs = [lr for lr, _ in row]
    i = lrs.index(best)
    if i == 0 or i == len(row) - 1:
        return None
    (x0, y0), (x1, y1), (x2, y2) = [(math.log(lr), v) for lr, v in row[i - 1:i + 2]]
    denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
    a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
    b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / denom
    if not a > 0:
        return None
    x = min(max(-b / (2 * a), x0), x2)
    return round_lr(math.exp(x))


def _neighbours(batch: int, spec) -> list[int]:
    """The batches next to `batch`: the ladder's next value up, and its next value down, or below the
    ladder's smallest, half of it, within [adaptive] batch_min (the adaptive grid widens a small-batch
    edge the same way; a batch above the ladder could outgrow the memory and steps the plan checked)."""
    ladder = batch_ladder(spec.batch_seqs)
    up = [b for b in ladder if b > batch][:1]
    below = [b for b in ladder if b < batch]
    down = below[-1:] if below else [batch // 2] if batch // 2 >= max(spec.adaptive.batch_min, 1) else []
    return up + down


def _resolve_batch(losses, finite, spec, pruned) -> list[tuple[float, int]]:
    batch, best = _best(finite)
    return [(best, b) for b in _neighbours(batch, spec)]


def _around(losses, finite, spec, pruned) -> list[tuple[float, int]]:
    """One LR step above and below the best LR at each neighbouring batch: a 3 x 3 for the local fit."""
    batch, best = _best(finite)
    step = lr_step(spec)
    return [(round_lr(best * f), b) for b in _neighbours(batch, spec) for f in (step, 1 / step)]


def _half_steps(losses, finite, spec, pruned) -> list[tuple[float, int]]:
    batch, best = _best(finite)
    step = math.sqrt(lr_step(spec))
    return [(round_lr(best * f), batch) for f in (step, 1 / step)]


def _rest(losses, finite, spec, pruned) -> list[tuple[float, int]]:
    """The box's grid points at every ladder batch, nearest the best point first (a budget larger than
    the neighbourhood needs goes outwards)."""
    batch, best = _best(finite)
    ladder = batch_ladder(spec.batch_seqs)
    points = [(round_lr(lr), b) for b in ladder for lr in spec.lr]
    return sorted(points, key=lambda p: (abs(math.log(p[0] / best)) / math.log(lr_step(spec))
                                         + abs(math.log(p[1] / batch)) / math.log(2), p))


def coord_round(spec, cell: str, k: int, losses: dict, tried: set, pruned: set, n: int) -> list[tuple[float, int]]:
    return coord_points(losses, spec, n, tried, pruned)


# coord: round 0 an LR row of initial_trials points (4 by default), then round_trials each
COORD = SearchMethod("coord", (), first=lambda spec, cell, n: first_row(spec, n), design="LR row", article="an",
                     rounds=True, default_initial=lambda budget: min(4, budget), next=coord_round)
