"""Adaptive grid: decide which new (lr, batch) points a cell needs for its optimum to be interior.

An optimum on the edge of the LR or batch grid is not an optimum: extend the grid and rerun.
A cell is one (proxy shape, token budget); its grid rows are batch sizes, each with its LR values.

Rules, applied to each cell whose trials have all finished (decisions are stateless: they read only the
finished trials, so a resumed or concurrent sweep reaches the same ones):
- Loss of a point = mean validation loss over its seeds; a diverged seed makes the point +inf (too high
  an LR); failed trials are ignored (unknown). A point whose trials were all pruned (stopped at a rung,
  calibration/sweep/prune.py) is +inf too: it was clearly worse than the cell's best there. A row with
  no finite point and a pruned one is not extended (its points lost to better ones, not to divergence).
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

from calibration.sweep.spec import AdaptiveSettings


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
        if any(r.status == "diverged" for r in rs):
            out[key] = math.inf
            continue
        losses = [r.loss for r in rs if r.status == "ok" and r.loss is not None and math.isfinite(r.loss)]
        if losses:
            out[key] = sum(losses) / len(losses)
        elif any(r.status in ("ok", "pruned") for r in rs):
            out[key] = math.inf  # ok but NaN/inf loss: as bad as diverged; pruned: worse than the best
    return out


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

    for batch in sorted(rows):
        if batch in pruned_rows and not any(math.isfinite(v) for v in rows[batch].values()):
            continue  # every point lost to the cell's best at a rung: nothing to look for in this row
        new, evs = _extend_row(batch, rows[batch], settings, spec_lr)
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


def _extend_row(batch: int, row: dict, s: AdaptiveSettings, spec_lr: tuple):
    lrs = sorted(row)
    if len(lrs) < 2 and len(spec_lr) < 2:
        return [], []  # a fixed LR: nothing to search
    best = min(lrs, key=lambda lr: row[lr])
    all_diverged = not math.isfinite(row[best])
    if all_diverged or (best == lrs[0]):
        direction, edge = "down", lrs[0]
        step = (lrs[1] / lrs[0]) if len(lrs) >= 2 else (spec_lr[1] / spec_lr[0])
        new_lr = _round(edge / step)
        done = sum(lr < min(spec_lr) for lr in lrs)
        bound = "lr_min" if new_lr < s.lr_min else None
    elif best == lrs[-1]:
        direction, edge = "up", lrs[-1]
        step = lrs[-1] / lrs[-2]
        new_lr = _round(edge * step)
        done = sum(lr > max(spec_lr) for lr in lrs)
        bound = "lr_max" if new_lr > s.lr_max else None
    else:
        return [], []
    if done >= s.max_extensions:
        bound = "max_extensions"
    if bound:
        detail = {"batch_seqs": batch, "direction": direction, "edge_lr": edge, "bound": bound}
        return [], [("lr_edge_bound", detail)]
    return [(new_lr, batch)], []


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
    spec_step = (spec_lr[-1] / spec_lr[0]) ** (1 / (len(spec_lr) - 1))
    out = []
    for nb in (lrs[i - 1], lrs[i + 1]):
        if max(nb, lrs[i]) / min(nb, lrs[i]) > math.sqrt(spec_step) * 1.01:
            out.append((_round(math.sqrt(nb * lrs[i])), batch))
    return out


def _round(lr: float) -> float:
    """Six significant digits: readable grid values, stable across reruns."""
    return float(f"{lr:.6g}")


def best_points(results: list[PointResult], k: int) -> list[tuple[float, int]]:
    """The k (lr, batch_seqs) points of a cell with the lowest finite mean loss over seeds."""
    finite = [(loss, batch, lr) for (batch, lr), loss in point_losses(results).items() if math.isfinite(loss)]
    return [(lr, batch) for _, batch, lr in sorted(finite)[:k]]
