"""Where trials run: in this process, in a local pool of worker processes, or as Ray tasks.

Every executor runs a *unit* (a list of TrialConfig: one trial, or a group of trials that differ only in
LR, which the GPU trains as one vectorized run) through `run_unit`, and hands back (unit, results) pairs
as units finish. `submit(unit, prune)` may give trials their pruning rungs ({trial_id: [[step, threshold],
...]}, calibration/sweep/prune.py), shipped beside their configs. A trial that raises becomes a `failed` result with the traceback kept; the sweep goes on.

- InlineExecutor: one unit at a time in this process (--workers 1).
- PoolExecutor: on the CPU one single-threaded worker process per core; on a multi-GPU box one worker
  per GPU (each worker pinned to its own device). A worker that dies costs only the unit it held.
- RayExecutor: one Ray task per unit with its resources declared (num_cpus=1, plus num_gpus=1 on GPU).
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from calibration.record.trial import TrialConfig, TrialResult

_WORKER_DEVICE = None  # set in each pool worker: the device it owns


class BackendError(RuntimeError):
    """An executor cannot start (Ray missing or unreachable)."""


def device_name(device: str) -> str:
    """The device a sweep ships to its workers, by name: calibration.proxy.train.resolve_device's choice
    ('auto' is cuda, else mps, else cpu; a named device is checked to exist here)."""
    from calibration.proxy.train import resolve_device

    return str(resolve_device(device))




def default_workers(device: str) -> int:
    """One worker per core on the CPU, one per GPU on a GPU box."""
    if device == "mps":
        return 1  # one Apple GPU
    if device.startswith("cuda"):
        import torch

        return 1 if ":" in device else max(1, torch.cuda.device_count())
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def payload(unit: list[TrialConfig], prune: dict | None = None) -> list[dict]:
    """A unit as plain data: config dicts, each with its pruning rungs under "prune" when it has some."""
    prune = prune or {}
    return [{**c.to_dict(), "prune": prune[c.trial_id]} if c.trial_id in prune else c.to_dict() for c in unit]


def run_unit(configs: list[dict], device: str) -> list[dict]:
    """Run one unit (config dicts in, result dicts out: plain data, so any executor can ship it)."""
    import torch

    device = _WORKER_DEVICE or device_name(device)
    if device == "cpu":
        torch.set_num_threads(1)  # one core per worker: workers, not threads, give the parallelism
    cfgs = [TrialConfig.from_dict(c) for c in configs]
    rungs = [c.get("prune") for c in configs]
    if len(cfgs) > 1 and device.startswith("cuda"):
        try:
            from calibration.proxy.vectorized import run_group

            results = run_group(cfgs, device=device, prunes=rungs)
            return [_checked_data(c, r).to_dict() for c, r in zip(cfgs, results)]
        except Exception:  # a bad group must not fail its members: run them one by one
            pass
    return [_run_one(cfg, device, r).to_dict() for cfg, r in zip(cfgs, rungs)]


def _run_one(cfg: TrialConfig, device: str, prune: list | None = None) -> TrialResult:
    from calibration.proxy.train import run_trial

    try:
        result = run_trial(cfg, device=device, prune=prune)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
        return TrialResult(trial_id=cfg.trial_id, status="failed", device=device, error=error)
    return _checked_data(cfg, result)


def _checked_data(cfg: TrialConfig, result: TrialResult) -> TrialResult:
    """A result trained on other data than its trial was planned on (the file changed during the sweep,
    or differs on this Ray node) is failed, not recorded under the planned data's key."""
    if not cfg.data_id or result.data_id == cfg.data_id:
        return result
    error = (f"the data changed: {cfg.data!r} was {cfg.data_id} when the sweep was planned and is "
             f"{result.data_id} now; rerun the sweep to plan trials on the new data")
    return TrialResult(trial_id=cfg.trial_id, status="failed", device=result.device, error=error)


def failed_results(configs: list[TrialConfig], error: str, device: str) -> list[TrialResult]:
    return [TrialResult(trial_id=c.trial_id, status="failed", device=device, error=error) for c in configs]


class InlineExecutor:
    """Runs each unit at submission, in this process."""

    def __init__(self, device: str):
        self.device, self.slots, self.done = device, 1, []

    def submit(self, unit: list[TrialConfig], prune: dict | None = None) -> None:
        results = run_unit(payload(unit, prune), self.device)
        self.done.append((unit, [TrialResult.from_dict(r) for r in results]))

    def wait_some(self) -> list[tuple[list[TrialConfig], list[TrialResult]]]:
        done, self.done = self.done, []
        return done

    def in_flight(self) -> int:
        return len(self.done)

    def shutdown(self, interrupted: bool = False) -> None:
        pass


_WORKER_SLOT = None  # set in each pool worker: (its slot, the pool's shared table of running units)


def _init_worker(slots, running, cuda_slots: bool) -> None:
    """A pool worker takes a slot: its row in `running` (pid, unit now running), and on a multi-GPU box
    its GPU (cuda:SLOT)."""
    global _WORKER_DEVICE, _WORKER_SLOT
    _exit_with_parent()
    slot = slots.get()
    running[2 * slot] = os.getpid()
    _WORKER_SLOT = (slot, running)
    if cuda_slots:
        _WORKER_DEVICE = f"cuda:{slot}"
    else:
        import torch

        torch.set_num_threads(1)


def _run_tracked(number: int, configs: list[dict], device: str) -> list[dict]:
    """run_unit in a pool worker, with the unit's number in the shared table while it runs, so that the
    sweep knows which unit a worker held when it died."""
    slot, running = _WORKER_SLOT
    running[2 * slot + 1] = number
    try:
        return run_unit(configs, device)
    finally:
        running[2 * slot + 1] = 0


def _exit_with_parent() -> None:
    """A worker whose sweep process died (SIGKILL, OOM killer) exits too, instead of waiting forever
    for work as an orphan: a daemon thread waits on the parent's sentinel (EOF when it is gone)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        from multiprocessing.connection import wait as wait_for

        wait_for([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


MAX_LOSSES = 3  # a unit in flight when this many pools broke (its worker's death unexplained) is failed


class PoolExecutor:
    """A pool of spawned worker processes (fresh interpreters: safe with torch and CUDA).

    A worker that dies (the OOM killer, kill -9, a crash) breaks the whole pool, and Python fails every
    unit in it. Only the unit the dead worker held is failed, with the cause (e.g. killed by SIGKILL);
    the other units run again on a fresh pool.
    """

    def __init__(self, device: str, workers: int):
        self.device, self.slots = device, workers
        self.futures: dict = {}  # future -> (unit number, unit)
        self.prune: dict = {}  # unit number -> its trials' pruning rungs, for a resubmission
        self.ready: list = []  # results known before any wait (units failed when the pool broke at submit)
        self.losses: dict = {}  # unit's trial ids -> pools broken while it was in flight
        self.numbers = itertools.count(1)
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        ctx = get_context("spawn")
        slots = ctx.Queue()
        for i in range(self.slots):
            slots.put(i)
        self.running = ctx.Array("q", 2 * self.slots, lock=False)  # per slot: worker pid, unit number
        self.processes: dict = {}  # pid -> Process of this pool's workers, kept for after a break
        cuda_slots = self.device.startswith("cuda") and ":" not in self.device
        return ProcessPoolExecutor(self.slots, mp_context=ctx, initializer=_init_worker,
                                   initargs=(slots, self.running, cuda_slots))

    def submit(self, unit: list[TrialConfig], prune: dict | None = None) -> None:
        number = next(self.numbers)
        self.prune[number] = prune
        try:
            future = self.pool.submit(_run_tracked, number, payload(unit, prune), self.device)
        except BrokenProcessPool:  # broken since the last wait: recover, then submit to the fresh pool
            self.ready += self._recover([])
            future = self.pool.submit(_run_tracked, number, payload(unit, prune), self.device)
        self.futures[future] = (number, unit)
        self.processes.update(getattr(self.pool, "_processes", None) or {})  # workers start on submit

    def wait_some(self):
        if self.ready:
            out, self.ready = self.ready, []
            return out
        done, _ = wait(list(self.futures), return_when=FIRST_COMPLETED)
        out, lost = [], []
        for future in done:
            number, unit = self.futures.pop(future)
            self.prune.pop(number, None)
            exc = future.exception()
            if isinstance(exc, BrokenProcessPool):
                lost.append((number, unit))
            elif exc is not None:  # e.g. a result that cannot be sent back
                out.append((unit, failed_results(unit, f"worker process failed: {type(exc).__name__}: {exc}",
                                                 self.device)))
            else:
                out.append((unit, [TrialResult.from_dict(r) for r in future.result()]))
        if lost:
            out += self._recover(lost)
        return out

    def _recover(self, lost: list) -> list:
        """The pool broke: fail the dead worker's unit with the cause, run every other unit it held again
        on a fresh pool. Returns the (unit, results) pairs that are final."""
        processes = {**self.processes, **(getattr(self.pool, "_processes", None) or {})}
        wait(list(self.futures), timeout=60)  # the pool settles every other future (a result or broken)
        out = []
        for future, (number, unit) in list(self.futures.items()):
            if future.done() and future.exception() is None:
                self.prune.pop(number, None)
                out.append((unit, [TrialResult.from_dict(r) for r in future.result()]))
            else:
                lost.append((number, unit))
        self.futures.clear()
        causes = _deaths(self.running, processes)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._new_pool()
        for number, unit in lost:
            ids = tuple(c.trial_id for c in unit)
            self.losses[ids] = self.losses.get(ids, 0) + 1
            if number in causes or self.losses[ids] >= MAX_LOSSES:
                self.prune.pop(number, None)
                cause = causes.get(number) or f"lost with its worker process {self.losses[ids]} times"
                out.append((unit, failed_results(unit, f"worker process failed: {cause}", self.device)))
            else:
                self.submit(unit, self.prune.pop(number, None))
        return out

    def in_flight(self) -> int:
        return len(self.futures) + len(self.ready)

    def shutdown(self, interrupted: bool = False) -> None:
        """Stop the pool. Interrupted (Ctrl-C, SIGTERM): end the workers now, mid-trial, since their
        trials were given back; otherwise the interpreter's exit would wait for their current trials."""
        processes = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        if interrupted:
            for p in processes:
                p.terminate()
            for p in processes:
                p.join(timeout=10)


def _deaths(running, processes: dict) -> dict[int, str]:
    """{unit number: how its worker died} for the workers that died on their own while running a unit.

    The pool ends its other workers with SIGTERM once one has died; those are not the cause.
    """
    causes = {}
    for slot in range(len(running) // 2):
        pid, number = running[2 * slot], running[2 * slot + 1]
        process = processes.get(pid)
        if not number or process is None:
            continue
        process.join(timeout=10)
        code = process.exitcode
        for _ in range(100):  # the pool's own thread may be reaping it at this moment
            if code is not None:
                break
            time.sleep(0.05)
            code = process.exitcode
        if code is None or code == -signal.SIGTERM:
            continue
        causes[number] = _exit_cause(pid, code)
    return causes


def _exit_cause(pid: int, code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        why = " (the out-of-memory killer, or kill -9)" if -code == signal.SIGKILL else ""
        return (f"its worker process (pid {pid}) was killed by {name}{why} while running it; "
                "`--retry-failed` runs it again")
    return f"its worker process (pid {pid}) exited with code {code} while running it; `--retry-failed` runs it again"


class RayExecutor:
    """One Ray task per unit. Connects to ADDRESS, or starts/joins a local instance."""

    def __init__(self, device: str, workers: int | None, address: str | None):
        try:
            import ray
        except ImportError:
            raise BackendError("--backend ray needs Ray: pip install 'scaling-advisor[ray]'") from None
        if not ray.is_initialized():
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except Exception as exc:  # unreachable address, version mismatch, ...
                raise BackendError(f"cannot start or join Ray at {address or 'a local instance'}: {exc}") from None
        resources = ray.cluster_resources()
        use_gpu = device.startswith("cuda") or (device == "auto" and resources.get("GPU", 0) > 0)
        self.device = ("cuda" if use_gpu else "cpu") if device == "auto" else device
        if self.device.startswith("cuda:"):
            self.device = "cuda"  # Ray gives each task its GPU; inside the task it is cuda (cuda:0)
        self.task = ray.remote(num_cpus=1, num_gpus=1 if use_gpu else 0)(run_unit)
        capacity = int(resources.get("GPU" if use_gpu else "CPU", 1))
        self.slots = max(1, workers or capacity)
        self.refs = {}
        self.ray = ray

    def submit(self, unit: list[TrialConfig], prune: dict | None = None) -> None:
        ref = self.task.remote(payload(unit, prune), self.device)
        self.refs[ref] = unit

    def wait_some(self):
        ready, _ = self.ray.wait(list(self.refs), num_returns=1)
        out = []
        for ref in ready:
            unit = self.refs.pop(ref)
            try:
                results = [TrialResult.from_dict(r) for r in self.ray.get(ref)]
            except Exception as exc:  # task or node lost
                results = failed_results(unit, f"ray task failed: {type(exc).__name__}: {exc}", self.device)
            out.append((unit, results))
        return out

    def in_flight(self) -> int:
        return len(self.refs)

    def shutdown(self, interrupted: bool = False) -> None:
        for ref in self.refs:
            self.ray.cancel(ref, force=True)
