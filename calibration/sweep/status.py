"""Text views of a sweep: the plan with its estimate, and the status of a store (per cell: done,
running, diverged, pruned, failed, best LR, grid edges hit, unstable best trials).

A cell is flagged unstable when any of its UNSTABLE_BEST best ok trials (lowest validation loss) had a
loss spike (calibration/proxy/health.py) or had its gradient clipped on at least UNSTABLE_CLIPPED of its
steps (its optimum was then measured with clipping active: the LR found depends on grad_clip).
"""
from __future__ import annotations

import json
import math

from calibration.sweep import adaptive
from calibration.sweep.estimate import Estimate, format_seconds
from calibration.sweep.plan import ADDED_BY_ADAPTIVE, SweepPlan, describe_cell, trial_flops
from calibration.sweep.search import search_line
from calibration.sweep.store import TrialStore

UNSTABLE_BEST = 3  # the best trials of a cell whose health is checked
UNSTABLE_CLIPPED = 0.5  # clipped on at least this fraction of steps


def format_plan(the_plan: SweepPlan, estimate: Estimate | None) -> str:
    spec = the_plan.spec
    lines = [
        f"spec {spec.name} (hash {spec.spec_hash}): {len(the_plan.cells)} cells, {len(the_plan.trials)} trials "
        + (f"({len(spec.lr)} LR x {len(spec.batch_seqs)} batch per cell and seed)" if spec.search.method == "grid"
           else f"(the first round of a {spec.search.method} search)"),
    ]
    by_cell: dict[str, int] = {}
    for t in the_plan.trials:
        by_cell[t.cell] = by_cell.get(t.cell, 0) + 1
    for cell, count in by_cell.items():
        lines.append(f"  {describe_cell(cell)}: {count} trials")
    lines.append(f"LR grid {', '.join(f'{v:.3g}' for v in spec.lr)}; batch (seqs) {list(spec.batch_seqs)}; "
                 f"seq_len {the_plan.trials[0].config.seq_len}")
    cfg = the_plan.trials[0].config
    if cfg.optimizer == "muon":  # the LR grid is the Muon part's (docs/optimizers.md)
        lines.append(f"optimizer muon: torch.optim.Muon on the hidden matrices (momentum {cfg.momentum:g}, LR in the "
                     f"{cfg.muon_lr_convention} convention), AdamW on the rest at {cfg.adam_lr_ratio:g} x the LR")
    lines.append(f"total tokens {the_plan.total_tokens:.3g}, total FLOPs {the_plan.total_flops:.3g} "
                 "(6N + attention per token)")
    a = spec.adaptive
    if spec.search.method != "grid":
        lines.append(search_line(the_plan))
    elif a.extend:
        lines.append(f"adaptive grid: on (up to {a.max_extensions} extensions per edge; LR in [{a.lr_min:g}, "
                     f"{a.lr_max:g}], batch in [{a.batch_min}, {a.batch_max}]{', refine' if a.refine else ''}); "
                     "extensions come on top of this count")
    p = spec.prune
    if p.method:
        lines.append(f"pruning: {p.method} at rungs {', '.join(f'{r:g}' for r in p.rungs)} of each run (a trial stops "
                     f"outside the best 1/{p.eta:g} of its cell and over {p.margin:.0%} above the best there, once "
                     f"{p.min_trials} trials reached the rung); trials and FLOPs above count every trial in full")
    if estimate:
        lines.append(
            f"estimated wall time on {estimate.device} with {estimate.workers} worker(s): "
            f"{format_seconds(estimate.wall_s)} (throughput measured on {estimate.measured_on} configurations; "
            f"{format_seconds(estimate.trial_s)} of single-worker time)"
        )
    return "\n".join(lines)


def grid_edges(points: list, best_batch: int, best_lr: float) -> list[str]:
    """Which edges of the tried grid a cell's best (batch, LR) sits on, e.g. ["upper LR edge"].

    An LR is on an edge when no LR beyond it was tried at its batch (a diverged LR above counts as
    tried: it brackets the optimum; a pruned one does not: the fitter drops it; a single LR is on both
    edges); a batch when no batch beyond it finished, given two or more did (a one-batch grid does not
    look for the best batch).
    """
    tried = [p for p in points if p.status in ("ok", "diverged")]  # pruned: the fitter drops it, no bracket
    lrs = [p.lr for p in tried if p.batch_seqs == best_batch]
    batches = {p.batch_seqs for p in tried if p.status == "ok"}
    edges = []
    if best_lr <= min(lrs):
        edges.append("lower LR edge")
    if best_lr >= max(lrs):
        edges.append("upper LR edge")
    if len(batches) >= 2:
        if best_batch <= min(batches):
            edges.append("lower batch edge")
        if best_batch >= max(batches):
            edges.append("upper batch edge")
    return edges


def format_status(store: TrialStore) -> str:
    """Counts, best LR per cell so far, time and FLOPs spent, adaptive events, of the store's current
    sweep (its spec on its data); trials of earlier specs or data are counted apart.

    A trial still marked running whose process (on this host) is gone shows as interrupted."""
    rows = store.trials(spec_hash=store.meta("spec_hash"))
    lines = _summary_lines(store, rows)
    lines.append("best so far per cell (mean over seeds):")
    by_cell: dict[str, list] = {}
    for r in rows:
        by_cell.setdefault(r["cell"], []).append(r)
    lines += [_cell_line(cell, cell_rows) for cell, cell_rows in by_cell.items()]
    events = store.events()
    if events:
        lines.append("adaptive grid bounds hit (optimum may sit on an edge):")
        for e in events:
            detail = ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("at", "kind", "cell"))
            lines.append(f"  {describe_cell(e['cell'])}: {e['kind']} {detail}")
    failed = [r for r in rows if r["status"] == "failed" and r["result"] is not None]
    if failed:
        lines.append(f"failed trials ({len(failed)}), first error: {failed[0]['result'].error.splitlines()[0]}")
    return "\n".join(lines)


def _summary_lines(store: TrialStore, rows: list) -> list[str]:
    """The store, the sweep's counts by state (stale claims as interrupted), time and FLOPs spent."""
    finished = [r for r in rows if r["result"] is not None]
    wall = sum(r["result"].wall_s for r in finished)
    flops = sum(r["result"].flops or trial_flops(r["config"]) for r in finished if r["status"] != "failed")
    spec_name = json.loads(store.meta("spec") or "{}").get("name", "?")
    counts = dict.fromkeys(("ok", "diverged", "pruned", "failed", "running", "interrupted", "pending"), 0)
    for r in rows:
        counts[r["status"]] += 1
    stale = set(store.stale_claims()) & {r["trial_id"] for r in rows}
    counts["running"] -= len(stale)
    counts["interrupted"] = len(stale)
    others = sum(store.counts().values()) - len(rows)
    return [
        f"store {store.path} (spec {spec_name}, hash {store.meta('spec_hash')}): {len(rows)} trials: "
        + ", ".join(f"{n} {k}" for k, n in counts.items())
        + (" (interrupted: their process is gone; rerunning the sweep runs them again)" if stale else "")
        + (f"; {others} more of earlier specs or data, left out here" if others else ""),
        f"spent: {format_seconds(wall)} of trial time, {flops:.3g} FLOPs; "
        f"{sum(r['origin'] in ADDED_BY_ADAPTIVE for r in rows)} trials added by the adaptive grid "
        f"({sum(r['origin'] == 'reseed' for r in rows)} of them extra seeds at cells' best points)",
    ]


def _cell_line(cell: str, cell_rows: list) -> str:
    """One cell: its best (batch, LR) so far, whether it sits on the grid's edge, how many trials are done."""
    points = adaptive.points_of([r for r in cell_rows if r["result"] is not None])
    losses = {k: v for k, v in adaptive.point_losses(points).items() if math.isfinite(v)}
    todo = sum(r["status"] in ("pending", "running") for r in cell_rows)
    if losses:
        (batch, lr), loss = min(losses.items(), key=lambda kv: kv[1])
        best = f"lr {lr:.3g}, batch {batch} seqs, loss {loss:.4f}"
        edges = grid_edges(points, batch, lr)
        if edges:
            best += f" (on the grid's {' and '.join(edges)}: the optimum may lie beyond it)"
    else:
        best = "no finished ok trial yet"
    pruned = sum(r["status"] == "pruned" for r in cell_rows)
    done = f"{len(cell_rows) - todo}/{len(cell_rows)} done" + (f", {pruned} pruned" if pruned else "")
    return f"  {describe_cell(cell)}: {best} ({done}){unstable_note(cell_rows)}"


def unstable_note(cell_rows: list) -> str:
    """'; unstable best trials: ...' when the cell's best ok trials had loss spikes or were clipped on most
    steps ('' for trials without health numbers: stores written before they were recorded)."""
    ok = sorted((r["result"] for r in cell_rows if r["status"] == "ok" and r["result"].loss is not None),
                key=lambda res: res.loss)[:UNSTABLE_BEST]
    spiky = sum((res.loss_spikes or 0) > 0 for res in ok)
    clipped = sum((res.clipped_frac or 0.0) >= UNSTABLE_CLIPPED for res in ok)
    notes = []
    if spiky:
        notes.append(f"{spiky} of {len(ok)} had loss spikes")
    if clipped:
        notes.append(f"{clipped} of {len(ok)} clipped on >= {UNSTABLE_CLIPPED:.0%} of steps "
                     "(the optimum depends on grad_clip)")
    return "; unstable best trials: " + ", ".join(notes) if notes else ""
