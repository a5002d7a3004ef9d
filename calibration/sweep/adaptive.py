"""Adaptive grid: decide which new (lr, batch) points a cell needs for its optimum to be interior.

An optimum on the edge of the LR or batch grid is not an optimum: extend the grid and rerun.
A cell is one (proxy shape, token budget); its grid rows are batch sizes, each with its LR values.

Rules, applied to each cell whose trials have all finished (decisions are stateless: they read only the
finished trials, so a resumed or concurrent sweep reaches the same ones):
- Loss of a point = mean validation loss over its seeds; a diverged seed makes the point +inf (too high
  an LR); failed trials are ignored (unknown). A point with any pruned seed (stopped at a rung,
  calibration/sweep/prune.py) is +inf too: it was clearly worse than the cell's best there, and averaging
  its other seeds alone would make it look better than it was. A row with no finite point and a pruned
  one is not extended (its points lost to better ones, not to divergence).
- A pruned-only point does not bracket an optimum: the fitter drops pruned trials, so a best point whose
  neighbour was pruned sits on the edge of the fitter's data. The LR rule ignores pruned-only points when
  it looks for a row's edge, and where the extension would land on (or beyond) a pruned point it takes the
  geometric midpoint between the edge and that point instead, once (not closer than half the spec's step).
- LR, per batch row: if the row's best LR is its lowest, add lowest / step; if it is its highest (and
  finite), add highest * step. Every row is extended, not only the best one, so that the fitter sees an
  interior LR optimum at each batch size (the optimal LR moves with the batch). A row whose points all
  diverged extends downwards. step = the ratio of the two edge points on that side.
- Batch: if the cell's best row is its smallest or largest batch (and the grid has >= 2 rows), add a row
  at batch / step or batch * step with the best row's LR values (the LR rule then fixes its edges).
- Bounds: an extension stops at the adaptive lr_min/lr_max, batch_min/batch_max, at max_extensions beyond
  the spec's original grid per direction, and (batch up) where a trial would take fewer than min_steps
  steps. Every stop is returned as an event, so that the store records why an optimum stayed on an edge.
- Refine (optional): once the best row is interior and still at the spec's grid spacing, add the two
  geometric midpoints around its best LR.
- Reseed (optional, `best_points`): once a cell's grid is settled, its k best points get the extra seeds,
  once: where seed noise rivals the LR effect, the optimum is decided by the points near it, and a single
  seed there would let the luckiest run pick it.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from calibration.sweep.spec_types import AdaptiveSettings


@dataclass(frozen=True)
class PointResult:
    """One finished trial of a cell, reduced to what the decisions need."""

    lr: float
    batch_seqs: int
    seed: int
    status: str  # ok | diverged | pruned | failed
    loss: float | None


@dataclass(frozen=True)
class Proposal:
    """New grid points for a cell, and the events (bounds hit) that explain what was not added."""

    points: tuple  # (lr, batch_seqs) pairs to run for every seed of the cell
    events: tuple  # (kind, detail dict) pairs


def point_losses(results: list[PointResult]) -> dict[tuple[int, float], float]:
    """(batch, lr) -> mean loss over seeds, +inf if any seed diverged; failed-only points are left out."""
    by_point = defaultdict(list)
    for r in results:
        by_point[(r.batch_seqs, r.lr)].append(r)
    out = {}
    for key, rs in by_point.items():
        if any(r.status in ("diverged", "pruned") for r in rs):
            out[key] = math.inf  # pruned: worse than the cell's best at a rung, whatever its other seeds did
            continue
        losses = [r.loss for r in rs if r.status == "ok" and r.loss is not None and math.isfinite(r.loss)]
        if losses:
            out[key] = sum(losses) / len(losses)
        elif any(r.status == "ok" for r in rs):
            out[key] = math.inf  # ok but NaN/inf loss: as bad as diverged
    return out


def points_of(rows: list) -> list[PointResult]:
    """The store rows (TrialStore.trials) of a cell as PointResults, unfinished ones included (status pending
    or running, no loss)."""
    return [PointResult(r["config"].lr, r["config"].batch_seqs, r["config"].seed, r["status"],
                        r["result"].loss if r["result"] else None) for r in rows]


def pruned_only(results: list[PointResult]) -> set[tuple[int, float]]:
    """(batch, lr) points with a pruned trial and no ok or diverged one: they bracket nothing for the fitter."""
    bracketing = {(r.batch_seqs, r.lr) for r in results if r.status in ("ok", "diverged")}
    return {(r.batch_seqs, r.lr) for r in results if r.status == "pruned"} - bracketing


def lr_beyond(edge: float, target: float, blockers: list, spec_step: float) -> float | None:
    """The LR to try past `edge` towards `target`: target itself, or where pruned-only LRs (`blockers`) lie
    between them (or on target), the geometric midpoint between edge and the nearest one, while that gap
    is wider than half the spec's step (in log); None when it is not (nothing closer worth trying)."""
    lo, hi = sorted((edge, target))
    inside = [b for b in blockers if lo / 1.01 <= b <= hi * 1.01 and b != edge]
    if not inside:
        return round_lr(target)
    nearest = min(inside, key=lambda b: abs(math.log(b / edge)))
    if abs(math.log(nearest / edge)) <= 0.5 * math.log(spec_step) * 1.01:
        return None
    return round_lr(math.sqrt(edge * nearest))


def propose(
    results: list[PointResult],
    settings: AdaptiveSettings,
    spec_lr: tuple,
    spec_batch: tuple,
    max_batch_seqs: int,
) -> Proposal:
    """New points for one cell. max_batch_seqs: the largest batch that still takes min_steps steps."""
    if not settings.extend:
        return Proposal((), ())
    losses = point_losses(results)
    rows = defaultdict(dict)  # batch -> {lr: loss}
    for (batch, lr), loss in losses.items():
        rows[batch][lr] = loss
    existing = {(r.lr, r.batch_seqs) for r in results}
    points, events = [], []
    pruned_rows = {r.batch_seqs for r in results if r.status == "pruned"}
    blockers = pruned_only(results)

    for batch in sorted(rows):
        if batch in pruned_rows and not any(math.isfinite(v) for v in rows[batch].values()):
            continue  # every point lost to the cell's best at a rung: nothing to look for in this row
        new, evs = _extend_row(batch, rows[batch], settings, spec_lr,
                               frozenset(lr for b, lr in blockers if b == batch))
        points += new
        events += evs

    row_best = {b: min(row.values()) for b, row in rows.items() if row}
    finite = {b: v for b, v in row_best.items() if math.isfinite(v)}
    if finite:
        best_batch = min(finite, key=finite.get)
        if settings.extend_batch and len(spec_batch) >= 2:
            new, evs = _extend_batch(best_batch, sorted(rows), rows[best_batch], settings, spec_batch, max_batch_seqs)
            points += new
            events += evs
        if settings.refine and not points:  # refine only a settled grid
            points += _refine(best_batch, rows[best_batch], spec_lr)

    fresh = []
    for p in points:
        if p not in existing and p not in fresh:
            fresh.append(p)
    return Proposal(tuple(fresh), tuple(events))


def _extend_row(batch: int, row: dict, s: AdaptiveSettings, spec_lr: tuple, pruned: frozenset = frozenset()):
    """The row's LR extension past its best edge; pruned-only LRs (`pruned`) are not edges (see the rules)."""
    lrs = sorted(lr for lr in row if lr not in pruned) or sorted(row)
    if len(lrs) < 2 and len(spec_lr) < 2:
        return [], []  # a fixed LR: nothing to search
    best = min(lrs, key=lambda lr: row[lr])
    all_diverged = not math.isfinite(row[best])
    spec_step = _spec_step(spec_lr) or lrs[-1] / lrs[0]
    if all_diverged or (best == lrs[0]):
        direction, edge = "down", lrs[0]
        step = (lrs[1] / lrs[0]) if len(lrs) >= 2 else (spec_lr[1] / spec_lr[0])
        new_lr = lr_beyond(edge, edge / step, sorted(pruned), spec_step)
        done = sum(lr < min(spec_lr) for lr in lrs)
        bound = "pruned" if new_lr is None else "lr_min" if new_lr < s.lr_min else None
    elif best == lrs[-1]:
        direction, edge = "up", lrs[-1]
        step = lrs[-1] / lrs[-2]
        new_lr = lr_beyond(edge, edge * step, sorted(pruned), spec_step)
        done = sum(lr > max(spec_lr) for lr in lrs)
        bound = "pruned" if new_lr is None else "lr_max" if new_lr > s.lr_max else None
    else:
        return [], []
    if done >= s.max_extensions:
        bound = "max_extensions"
    if bound:
        detail = {"batch_seqs": batch, "direction": direction, "edge_lr": edge, "bound": bound}
        return [], [("lr_edge_bound", detail)]
    return [(new_lr, batch)], []


def _spec_step(spec_lr: tuple) -> float | None:
    """The ratio between neighbouring LRs of the spec's grid (None for a single LR)."""
    return (max(spec_lr) / min(spec_lr)) ** (1 / (len(spec_lr) - 1)) if len(spec_lr) >= 2 else None


def _extend_batch(best: int, batches: list, best_row: dict, s: AdaptiveSettings, spec_batch: tuple, max_batch: int):
    if best == batches[0]:
        direction = "down"
        step = batches[1] / batches[0] if len(batches) >= 2 else spec_batch[1] / spec_batch[0]
        new_batch = int(math.floor(best / step))
        done = sum(b < min(spec_batch) for b in batches)
        bound = "batch_min" if new_batch < max(1, s.batch_min) or new_batch >= best else None
    elif best == batches[-1]:
        direction = "up"
        step = batches[-1] / batches[-2]
        new_batch = int(math.ceil(best * step))
        done = sum(b > max(spec_batch) for b in batches)
        bound = "batch_max" if new_batch > s.batch_max else "min_steps" if new_batch > max_batch else None
    else:
        return [], []
    if done >= s.max_extensions:
        bound = "max_extensions"
    if bound:
        return [], [("batch_edge_bound", {"direction": direction, "edge_batch_seqs": best, "bound": bound})]
    return [(lr, new_batch) for lr in sorted(best_row)], []


def _refine(batch: int, row: dict, spec_lr: tuple):
    """Midpoints around the best LR, while the row is still at the spec's grid spacing there."""
    lrs = sorted(row)
    i = min(range(len(lrs)), key=lambda k: row[lrs[k]])
    if not 0 < i < len(lrs) - 1 or len(spec_lr) < 2:
        return []
    spec_step = _spec_step(spec_lr)
    out = []
    for nb in (lrs[i - 1], lrs[i + 1]):
        if max(nb, lrs[i]) / min(nb, lrs[i]) > math.sqrt(spec_step) * 1.01:
            out.append((round_lr(math.sqrt(nb * lrs[i])), batch))
    return out


def round_lr(lr: float) -> float:
    """Six significant digits: readable grid values, stable across reruns."""
    return float(f"{lr:.6g}")


def best_points(results: list[PointResult], k: int) -> list[tuple[float, int]]:
    """The k (lr, batch_seqs) points of a cell with the lowest finite mean loss over seeds."""
    finite = [(loss, batch, lr) for (batch, lr), loss in point_losses(results).items() if math.isfinite(loss)]
    return [(lr, batch) for _, batch, lr in sorted(finite)[:k]]
