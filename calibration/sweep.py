"""Sweeps: a spec becomes trials (plan), trials run on an executor and land in the store (run_sweep),
and the adaptive grid adds points until each cell's optimum is interior or a bound is hit.

A cell is one (proxy shape, token budget). Its trials are the LR x batch grid for each seed (plus extra
seeds at the smallest sizes). Token budgets per size come from tokens_per_param (D = k*N), absolute
tokens, and compute budgets (D = C / flops_per_token).
"""
from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from calibration import adaptive
from calibration.proxy import RUNGS, count_params, flops_per_token, shape_for_params, shape_from_config
from calibration.spec import SHAPE_FIELDS, SpecError, SweepSpec
from calibration.store import TrialStore, owner_id
from calibration.trial import TrialConfig


ADDED_BY_ADAPTIVE = ("extend", "reseed")  # new grid points; extra seeds at a settled cell's best points


@dataclass(frozen=True)
class PlannedTrial:
    config: TrialConfig
    cell: str  # JSON key of the cell: {"shape": [...], "tokens": D}
    origin: str  # "grid", or one of ADDED_BY_ADAPTIVE


@dataclass
class Plan:
    spec: SweepSpec
    trials: list
    cells: list  # cell keys in plan order

    @property
    def total_tokens(self) -> int:
        return sum(t.config.steps * t.config.batch_tokens for t in self.trials)

    @property
    def total_flops(self) -> float:
        return sum(trial_flops(t.config) for t in self.trials)


def trial_flops(cfg: TrialConfig) -> float:
    """Training FLOPs of a trial: (6N + attention) per token times the tokens it trains on."""
    return flops_per_token(shape_from_config(cfg)) * cfg.steps * cfg.batch_tokens


def cell_key(cfg: TrialConfig) -> str:
    return json.dumps({"shape": [getattr(cfg, f) for f in SHAPE_FIELDS], "tokens": cfg.tokens})


def describe_cell(cell: str) -> str:
    """'N=1.19e+04 (L1 d32 h2) D=2.4e+05' for a cell key."""
    d = json.loads(cell)
    n_layer, d_model, n_head, d_ff = d["shape"]
    n = n_layer * (4 * d_model * d_model + 3 * d_model * d_ff + 2 * d_model) + d_model  # = proxy.count_params
    return f"N={n:.3g} (L{n_layer} d{d_model} h{n_head}) D={d['tokens']:.3g}"


def resolve_shapes(spec: SweepSpec) -> list[tuple]:
    """The spec's sizes as (n_layer, d_model, n_head, d_ff), smallest first, duplicates dropped."""
    vocab = spec.trial.get("vocab_size", 256)
    seq_len = spec.trial.get("seq_len", 128)
    shapes = []
    for name in spec.rungs:
        if name not in RUNGS:
            raise SpecError(f"sizes.rungs: unknown rung {name!r} (rungs: {', '.join(RUNGS)})")
        r = RUNGS[name]
        shapes.append((r.n_layer, r.d_model, r.n_head, r.d_ff))
    for n in spec.n_params:
        s = shape_for_params(n, vocab_size=vocab, seq_len=seq_len)
        shapes.append((s.n_layer, s.d_model, s.n_head, s.d_ff))
    shapes += list(spec.shapes)
    unique = sorted(set(shapes), key=lambda s: _n_params(s))
    return unique


def _n_params(shape: tuple) -> int:
    cfg = TrialConfig(*shape)
    return count_params(shape_from_config(cfg))[0]


def plan(spec: SweepSpec) -> Plan:
    """All trials of the spec's initial grid (the adaptive grid may add more while running)."""
    trials, cells = [], []
    shapes = resolve_shapes(spec)
    for i, shape in enumerate(shapes):
        probe = spec.base_config(shape, tokens=2**62, batch_seqs=1)  # only its shape and seq_len are used
        n = count_params(shape_from_config(probe))[0]
        per_token = flops_per_token(shape_from_config(probe))
        budgets = [round(k * n) for k in spec.tokens_per_param] + list(spec.tokens)
        budgets += [round(c / per_token) for c in spec.flops]
        seeds = list(spec.seeds)
        if i < spec.extra_seeds_smallest:
            seeds += list(spec.extra_seeds)
        for tokens in sorted(set(budgets)):
            key = None
            for batch in spec.batch_seqs:
                steps = tokens // (batch * probe.seq_len)
                if steps < spec.min_steps:
                    raise SpecError(
                        f"the [budget] of {tokens:,} tokens at N={n:,} with batch.seqs {batch} x trial.seq_len "
                        f"{probe.seq_len} = {batch * probe.seq_len:,} tokens per step gives {steps} steps, under "
                        f"min_steps {spec.min_steps}: raise the budget, lower the batch grid, trial.seq_len "
                        "or min_steps"
                    )
                for lr in spec.lr:
                    for seed in seeds:
                        cfg = spec.base_config(shape, tokens=tokens, batch_seqs=batch, lr=lr, seed=seed)
                        key = cell_key(cfg)
                        trials.append(PlannedTrial(cfg, key, "grid"))
            cells.append(key)
    return Plan(spec, trials, cells)


def max_batch_seqs(spec: SweepSpec, tokens: int, seq_len: int) -> int:
    """The largest batch (sequences) that still takes min_steps steps on `tokens`."""
    return tokens // (spec.min_steps * seq_len)


def extension_trials(store: TrialStore, spec: SweepSpec) -> tuple[list[PlannedTrial], int]:
    """New trials the adaptive grid asks for, over cells whose trials have all finished.

    Records each bound hit as an event. Returns (trials, number of cells not yet finished).
    """
    by_cell: dict[str, list] = {}
    for row in store.trials(spec_hash=store.meta("spec_hash")):
        by_cell.setdefault(row["cell"], []).append(row)
    new, waiting = [], 0
    for cell, rows in by_cell.items():
        if any(r["status"] in ("pending", "running") for r in rows):
            waiting += 1
            continue
        points = [
            adaptive.PointResult(r["config"].lr, r["config"].batch_seqs, r["config"].seed, r["status"],
                                 r["result"].loss if r["result"] else None)
            for r in rows
        ]
        base = rows[0]["config"]
        proposal = adaptive.propose(
            points, spec.adaptive, spec.lr, spec.batch_seqs, max_batch_seqs(spec, base.tokens, base.seq_len)
        )
        for kind, detail in proposal.events:
            store.add_event(kind, cell, detail)
        seeds = sorted({r["config"].seed for r in rows if r["origin"] != "reseed"})
        for lr, batch in proposal.points:
            for seed in seeds:
                cfg = base.replace(lr=lr, batch_seqs=batch, seed=seed)
                new.append(PlannedTrial(cfg, cell, "extend"))
        if not proposal.points:
            new += _reseed(spec, cell, base, rows, points)
    return new, waiting


def _reseed(spec: SweepSpec, cell: str, base: TrialConfig, rows: list, points: list) -> list[PlannedTrial]:
    """A settled cell's best points get the extra seeds they lack (once per cell: see adaptive.py)."""
    if not spec.extra_seeds_near_best or any(r["origin"] == "reseed" for r in rows):
        return []
    have = {(r["config"].lr, r["config"].batch_seqs, r["config"].seed) for r in rows}
    return [PlannedTrial(base.replace(lr=lr, batch_seqs=batch, seed=seed), cell, "reseed")
            for lr, batch in adaptive.best_points(points, spec.extra_seeds_near_best)
            for seed in spec.extra_seeds if (lr, batch, seed) not in have]


# ------------------------------------------------------------------------------ running


@dataclass
class RunSummary:
    out_dir: str
    planned: int = 0  # initial grid
    extension_trials: int = 0  # added by the adaptive grid (all sessions)
    ran: int = 0  # trials run by this call
    ran_failed: int = 0  # of which failed (an error, not a divergence)
    skipped: int = 0  # already finished when this call started
    counts: dict = field(default_factory=dict)
    wall_s: float = 0.0
    bound_events: int = 0


def run_sweep(
    spec: SweepSpec,
    out_dir: str | Path,
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
    device: str | None = None,
    force: bool = False,
    retry_failed: bool = False,
    progress: bool = True,
) -> RunSummary:
    """Run (or resume) a sweep into out_dir/trials.sqlite; see the module docstring."""
    from calibration.executors import resolve_device

    start = time.time()
    the_plan = plan(spec)
    device = device or spec.device
    if backend != "ray":  # Ray resolves "auto" from the cluster's resources, not this machine's
        device = resolve_device(device)
    store = TrialStore.open_or_create(out_dir, spec.spec_hash, spec.to_dict(), force=force)
    owner = owner_id()
    try:
        store.release_stale(owner)
        if retry_failed:
            store.retry_failed()
        store.add_trials([(t.config, t.cell, t.origin) for t in the_plan.trials])
        summary = RunSummary(str(out_dir), planned=len(the_plan.trials))
        summary.skipped = sum(v for k, v in store.counts().items() if k in ("ok", "diverged", "failed"))
        with _sigterm_as_interrupt():
            executor = _make_executor(backend, device, workers, address)
            interrupted = False
            try:
                summary.ran, summary.ran_failed = _drive(store, spec, executor, owner, executor.device, progress)
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: give our claims back; a rerun resumes
                interrupted = True
                store.unclaim([r["trial_id"] for r in store.trials(statuses=["running"])], owner)
                raise
            finally:
                executor.shutdown(interrupted=interrupted)
        rows = store.trials()
        summary.extension_trials = sum(r["origin"] in ADDED_BY_ADAPTIVE for r in rows)
        summary.counts = store.counts()
        summary.bound_events = len(store.events())
        summary.wall_s = time.time() - start
        return summary
    finally:
        store.close()


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (`kill PID`, a container stop) stops a sweep as Ctrl-C does: claims are given back and the
    worker processes end, instead of the process dying at once and leaving its workers orphaned."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def interrupt(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: let the cleanup finish
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _make_executor(backend: str, device: str, workers: int | None, address: str | None):
    from calibration import executors
    if backend == "ray":
        return executors.RayExecutor(device, workers, address)
    if backend != "local":
        raise ValueError(f"backend must be local or ray, got {backend!r}")
    workers = workers or executors.default_workers(device)
    if workers == 1:
        return executors.InlineExecutor(device)
    return executors.PoolExecutor(device, workers)


def _group_key(device: str):
    """Trials that may share one vectorized run: only on the GPU (on the CPU they run singly)."""
    if not device.startswith("cuda"):
        return None
    from calibration.vectorized import group_key

    return group_key


def _drive(store: TrialStore, spec: SweepSpec, executor, owner: str, device: str,
           progress: bool) -> tuple[int, int]:
    """Claim, run and record until no work is left (adaptive rounds included).

    Returns (trials run, of which failed)."""
    key = _group_key(device)
    group_limit = 64 if key else 1
    bars = _Bars(store, progress)
    ran = failed = 0
    try:
        while True:
            while executor.in_flight() < executor.slots:
                unit = store.claim(owner, limit=group_limit, key=key)
                if unit:
                    executor.submit(unit)
                    continue
                # Nothing pending: extend the cells that have finished (others may still be running).
                new, _ = extension_trials(store, spec)
                if not (new and store.add_trials([(t.config, t.cell, t.origin) for t in new])):
                    break
                bars.refresh_totals()
            if executor.in_flight() == 0:
                break  # every cell is finished and interior or at a recorded bound
            for unit, results in executor.wait_some():
                for cfg, result in zip(unit, results):
                    if store.record(result, owner):
                        ran += 1
                        failed += result.status == "failed"
                        bars.advance(cfg)
    finally:
        bars.close()
    return ran, failed


class _Bars:
    """Two tqdm bars with ETA: trials and tokens, over everything in the store (done ones count as done)."""

    def __init__(self, store: TrialStore, enabled: bool):
        self.store, self.enabled = store, enabled
        if not enabled:
            return
        from tqdm import tqdm

        self.trials = tqdm(desc="trials", unit="trial", position=0, dynamic_ncols=True)
        self.tokens = tqdm(desc="tokens", unit="tok", unit_scale=True, position=1, dynamic_ncols=True)
        self.refresh_totals()

    def refresh_totals(self) -> None:
        if not self.enabled:
            return
        rows = self.store.trials()
        done = [r for r in rows if r["status"] in ("ok", "diverged", "failed")]
        self.trials.total, self.trials.n = len(rows), len(done)
        self.tokens.total = sum(_tokens(r["config"]) for r in rows)
        self.tokens.n = sum(_tokens(r["config"]) for r in done)
        self.trials.refresh()
        self.tokens.refresh()

    def advance(self, cfg: TrialConfig) -> None:
        if self.enabled:
            self.trials.update(1)
            self.tokens.update(_tokens(cfg))

    def close(self) -> None:
        if self.enabled:
            self.trials.close()
            self.tokens.close()


def _tokens(cfg: TrialConfig) -> int:
    return cfg.steps * cfg.batch_tokens


# ------------------------------------------------------------------------------ estimating


@dataclass
class Estimate:
    device: str
    workers: int
    wall_s: float  # whole grid, spread over the workers
    trial_s: float  # sum over trials, one worker
    tokens_per_s: dict  # shape -> measured single-worker throughput at the largest batch
    measured_on: int  # configurations measured


def estimate_wall(the_plan: Plan, device: str, workers: int | None = None, steps: int = 10) -> Estimate:
    """Estimated wall time of the initial grid on this device from measured throughput.

    Per size, times `train.measure_throughput` at the smallest and the largest batch of the grid
    (single-threaded on the CPU, as the workers run) and models a step's time as a + b * batch_seqs (a
    fixed per-step cost, which dominates tiny proxies at small batches, plus a per-sequence cost). A
    trial's time = steps * step time + eval_tokens / 3 at the per-token rate (a forward pass costs about a
    third of a training step). Workers share the sum.
    """
    import torch

    from calibration.executors import default_workers, resolve_device
    from calibration.train import measure_throughput

    device = resolve_device(device)
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
    return Estimate(device, workers, total / workers, total, rates, measured)


def _fmt_s(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def format_plan(the_plan: Plan, estimate: Estimate | None) -> str:
    spec = the_plan.spec
    lines = [
        f"spec {spec.name} (hash {spec.spec_hash}): {len(the_plan.cells)} cells, {len(the_plan.trials)} trials "
        f"({len(spec.lr)} LR x {len(spec.batch_seqs)} batch per cell and seed)",
    ]
    by_cell: dict[str, int] = {}
    for t in the_plan.trials:
        by_cell[t.cell] = by_cell.get(t.cell, 0) + 1
    for cell, count in by_cell.items():
        lines.append(f"  {describe_cell(cell)}: {count} trials")
    lines.append(f"LR grid {', '.join(f'{v:.3g}' for v in spec.lr)}; batch (seqs) {list(spec.batch_seqs)}; "
                 f"seq_len {the_plan.trials[0].config.seq_len}")
    lines.append(f"total tokens {the_plan.total_tokens:.3g}, total FLOPs {the_plan.total_flops:.3g} "
                 "(6N + attention per token)")
    a = spec.adaptive
    if a.extend:
        lines.append(f"adaptive grid: on (up to {a.max_extensions} extensions per edge; LR in [{a.lr_min:g}, "
                     f"{a.lr_max:g}], batch in [{a.batch_min}, {a.batch_max}]{', refine' if a.refine else ''}); "
                     "extensions come on top of this count")
    if estimate:
        lines.append(
            f"estimated wall time on {estimate.device} with {estimate.workers} worker(s): "
            f"{_fmt_s(estimate.wall_s)} (throughput measured on {estimate.measured_on} configurations; "
            f"{_fmt_s(estimate.trial_s)} of single-worker time)"
        )
    return "\n".join(lines)


def grid_edges(points: list, best_batch: int, best_lr: float) -> list[str]:
    """Which edges of the tried grid a cell's best (batch, LR) sits on, e.g. ["upper LR edge"].

    An LR is on an edge when no LR beyond it was tried at its batch (a diverged LR above counts as
    tried: it brackets the optimum; a single LR is on both edges); a batch when no batch beyond it
    finished, given two or more did (a one-batch grid does not look for the best batch).
    """
    tried = [p for p in points if p.status in ("ok", "diverged")]
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
    """Counts, best LR per cell so far, time and FLOPs spent, adaptive events."""
    rows = store.trials()
    counts = store.counts()
    finished = [r for r in rows if r["result"] is not None]
    wall = sum(r["result"].wall_s for r in finished)
    flops = sum(r["result"].flops or trial_flops(r["config"]) for r in finished if r["status"] != "failed")
    spec_name = json.loads(store.meta("spec") or "{}").get("name", "?")
    lines = [
        f"store {store.path} (spec {spec_name}, hash {store.meta('spec_hash')}): {len(rows)} trials: "
        + ", ".join(f"{counts[k]} {k}" for k in ("ok", "diverged", "failed", "running", "pending")),
        f"spent: {_fmt_s(wall)} of trial time, {flops:.3g} FLOPs; "
        f"{sum(r['origin'] in ADDED_BY_ADAPTIVE for r in rows)} trials added by the adaptive grid "
        f"({sum(r['origin'] == 'reseed' for r in rows)} of them extra seeds at cells' best points)",
        "best so far per cell (mean over seeds):",
    ]
    by_cell: dict[str, list] = {}
    for r in rows:
        by_cell.setdefault(r["cell"], []).append(r)
    for cell, cell_rows in by_cell.items():
        points = [
            adaptive.PointResult(r["config"].lr, r["config"].batch_seqs, r["config"].seed, r["status"],
                                 r["result"].loss if r["result"] else None)
            for r in cell_rows if r["result"] is not None
        ]
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
        lines.append(f"  {describe_cell(cell)}: {best} ({len(cell_rows) - todo}/{len(cell_rows)} done)")
    events = store.events()
    if events:
        lines.append("adaptive grid bounds hit (optimum may sit on an edge):")
        for e in events:
            detail = ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("at", "kind", "cell"))
            lines.append(f"  {describe_cell(e['cell'])}: {e['kind']} {detail}")
    failed = [r for r in finished if r["status"] == "failed"]
    if failed:
        lines.append(f"failed trials ({len(failed)}), first error: {failed[0]['result'].error.splitlines()[0]}")
    return "\n".join(lines)
