"""Running a sweep: planned trials go to an executor (local processes or Ray), land in the store as they
finish, and the adaptive grid adds points until each cell's optimum is interior or a bound is hit.

Trials are keyed on the data's content (TrialConfig.data_id), not its path: a changed corpus under the
same spec gets trials of its own. A store that cannot be written (a full disk) or is damaged ends the run
with a StoreWriteError or StoreError that says so; what was recorded before stays, and a rerun resumes.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from calibration.record.trial import TrialConfig
from calibration.sweep.plan import ADDED_BY_ADAPTIVE, extension_trials, plan
from calibration.sweep.prune import unit_rungs
from calibration.sweep.search import search_trials
from calibration.sweep.spec import SweepSpec
from calibration.sweep.store import FINISHED, STORE_NAME, TrialStore, owner_id, store_failure, sweep_key


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
    retried: int = 0  # failed trials put back to run (retry_failed)
    data_changed: str | None = None  # the sweep key before, when the data changed under the same spec


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
    from calibration.sweep.executors import device_name

    start = time.time()
    data_id = data_identity(spec.trial.get("data", "kjv"))
    trials = [(dataclasses.replace(t.config, data_id=data_id), t.cell, t.origin) for t in plan(spec).trials]
    key = sweep_key(spec.spec_hash, data_id)
    device = device or spec.device
    if backend != "ray":  # Ray resolves "auto" from the cluster's resources, not this machine's
        device = device_name(device)
    try:
        store = TrialStore.open_or_create(out_dir, key, spec.to_dict(), force=force)
    except (sqlite3.Error, json.JSONDecodeError) as exc:  # a page of the store's header tables is damaged
        raise store_failure(Path(out_dir) / STORE_NAME, exc) from None
    summary = RunSummary(str(out_dir), planned=len(trials), data_changed=store.data_changed)
    try:
        _run_into(store, spec, trials, summary, backend, device, workers, address, retry_failed, progress)
        summary.wall_s = time.time() - start
        return summary
    except (sqlite3.Error, json.JSONDecodeError) as exc:  # a full disk, a damaged page: one line, the store kept
        raise store_failure(store.path, exc) from None
    finally:
        with contextlib.suppress(sqlite3.Error):
            store.close()


def data_identity(data: str) -> str:
    """The data's content as TokenSource.data_id ('' for the shipped corpus, whose name fixes its
    content, and for data that cannot be read: its trials fail and say why)."""
    if data == "kjv":
        return ""
    from calibration.proxy import data as token_data

    try:  # a file changed since this process last read it is read again (the cache keys on its state)
        return token_data.load_corpus(data).data_id
    except (ValueError, OSError):
        return ""


def _run_into(store: TrialStore, spec: SweepSpec, trials: list, summary: RunSummary, backend: str,
              device: str, workers, address, retry_failed: bool, progress: bool) -> None:
    """Plan into the store, run what is left, fill in the summary; the WAL is folded in at the end."""
    owner = owner_id()
    key = store.meta("spec_hash")
    store.release_stale(owner)
    store.add_trials(trials)
    if retry_failed:
        summary.retried = store.retry_failed(key)
    summary.skipped = sum(v for k, v in store.counts(key).items() if k in FINISHED)
    with _sigterm_as_interrupt():
        executor = _make_executor(backend, device, workers, address)
        interrupted = False
        try:
            summary.ran, summary.ran_failed = _drive(store, spec, executor, owner, executor.device, progress)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: give our claims back; a rerun resumes
            interrupted = True
            store.unclaim([r["trial_id"] for r in store.trials(statuses=["running"])], owner)
            raise
        except sqlite3.Error:  # the store cannot take results: stop the workers now
            interrupted = True
            raise
        finally:
            executor.shutdown(interrupted=interrupted)
            with contextlib.suppress(sqlite3.Error):
                store.checkpoint()  # trials.sqlite alone now holds every result
    rows = store.trials(spec_hash=key)
    summary.extension_trials = sum(r["origin"] in ADDED_BY_ADAPTIVE for r in rows)
    summary.counts = store.counts(key)
    summary.bound_events = len(store.events())


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
    from calibration.sweep import executors
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
    from calibration.proxy.vectorized import group_key

    return group_key


def _drive(store: TrialStore, spec: SweepSpec, executor, owner: str, device: str,
           progress: bool) -> tuple[int, int]:
    """Claim, run and record until no work is left (adaptive rounds included).

    Returns (trials run, of which failed)."""
    key = _group_key(device)
    bars = _Bars(store, progress)
    ran = failed = 0
    try:
        while _fill(store, spec, executor, owner, key, bars) or executor.in_flight():
            for unit, results in executor.wait_some():
                recorded = [(cfg, r) for cfg, r in zip(unit, results) if store.record(r, owner)]
                ran += len(recorded)
                failed += sum(r.status == "failed" for _, r in recorded)
                for cfg, _ in recorded:
                    bars.advance(cfg)
            store.checkpoint(every_s=CHECKPOINT_EVERY_S)
    finally:
        bars.close()
    return ran, failed


CHECKPOINT_EVERY_S = 60.0  # how stale trials.sqlite alone may be during a run (the WAL holds the rest)


def _fill(store: TrialStore, spec: SweepSpec, executor, owner: str, key, bars: "_Bars") -> bool:
    """Submit claimed work until the executor's slots are full or nothing is left to claim, adding the
    adaptive grid's trials to cells that have finished. Returns whether anything was submitted."""
    submitted = False
    while executor.in_flight() < executor.slots:
        unit = store.claim(owner, limit=64 if key else 1, key=key)
        if unit:
            executor.submit(unit, unit_rungs(store, spec.prune, unit))  # each trial's pruning rungs, if on
            submitted = True
            continue
        # Nothing pending: extend the cells that have finished (others may still be running).
        new = _more_trials(store, spec)
        if not (new and store.add_trials(new)):
            break
        bars.refresh_totals()
    return submitted


def _more_trials(store: TrialStore, spec: SweepSpec) -> list[tuple]:
    """(config, cell, origin) the finished cells ask for next: the adaptive grid's extensions, or a
    search's next round (which replaces the grid and its extensions: search.py)."""
    if spec.search.method != "grid":
        return search_trials(store, spec)
    new, _ = extension_trials(store, spec)
    return [(t.config, t.cell, t.origin) for t in new]


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
        done = [r for r in rows if r["status"] in FINISHED]
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
