"""Where trials run: in this process, in a local pool of worker processes, or as Ray tasks.

Every executor runs a *unit* (a list of TrialConfig: one trial, or a group of trials that differ only in
LR, which the GPU trains as one vectorized run) through `run_unit`, and hands back (unit, results) pairs
as units finish. A trial that raises becomes a `failed` result with the traceback kept; the sweep goes on.

- InlineExecutor: one unit at a time in this process (--workers 1).
- PoolExecutor: on the CPU one single-threaded worker process per core; on a multi-GPU box one worker
  per GPU (each worker pinned to its own device).
- RayExecutor: one Ray task per unit with its resources declared (num_cpus=1, plus num_gpus=1 on GPU).
"""
from __future__ import annotations

import multiprocessing
import os
import threading
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from calibration.sweep.trial import TrialConfig, TrialResult

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


def run_unit(configs: list[dict], device: str) -> list[dict]:
    """Run one unit (config dicts in, result dicts out: plain data, so any executor can ship it)."""
    import torch

    device = _WORKER_DEVICE or device_name(device)
    if device == "cpu":
        torch.set_num_threads(1)  # one core per worker: workers, not threads, give the parallelism
    cfgs = [TrialConfig.from_dict(c) for c in configs]
    if len(cfgs) > 1 and device.startswith("cuda"):
        try:
            from calibration.proxy.vectorized import run_group

            return [r.to_dict() for r in run_group(cfgs, device=device)]
        except Exception:  # a bad group must not fail its members: run them one by one
            pass
    return [_run_one(cfg, device).to_dict() for cfg in cfgs]


def _run_one(cfg: TrialConfig, device: str) -> TrialResult:
    from calibration.proxy.train import run_trial

    try:
        return run_trial(cfg, device=device)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
        return TrialResult(trial_id=cfg.trial_id, status="failed", device=device, error=error)


def failed_results(configs: list[TrialConfig], error: str, device: str) -> list[TrialResult]:
    return [TrialResult(trial_id=c.trial_id, status="failed", device=device, error=error) for c in configs]


class InlineExecutor:
    """Runs each unit at submission, in this process."""

    def __init__(self, device: str):
        self.device, self.slots, self.done = device, 1, []

    def submit(self, unit: list[TrialConfig]) -> None:
        results = run_unit([c.to_dict() for c in unit], self.device)
        self.done.append((unit, [TrialResult.from_dict(r) for r in results]))

    def wait_some(self) -> list[tuple[list[TrialConfig], list[TrialResult]]]:
        done, self.done = self.done, []
        return done

    def in_flight(self) -> int:
        return len(self.done)

    def shutdown(self, interrupted: bool = False) -> None:
        pass


def _init_worker(device_queue) -> None:
    global _WORKER_DEVICE
    _exit_with_parent()
    if device_queue is not None:
        _WORKER_DEVICE = device_queue.get()
    else:
        import torch

        torch.set_num_threads(1)


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


class PoolExecutor:
    """A pool of spawned worker processes (fresh interpreters: safe with torch and CUDA)."""

    def __init__(self, device: str, workers: int):
        self.device, self.slots, self.futures = device, workers, {}
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        ctx = get_context("spawn")
        queue = None
        if self.device.startswith("cuda") and ":" not in self.device:
            queue = ctx.Queue()
            for i in range(self.slots):
                queue.put(f"cuda:{i}")
        return ProcessPoolExecutor(self.slots, mp_context=ctx, initializer=_init_worker, initargs=(queue,))

    def submit(self, unit: list[TrialConfig]) -> None:
        future = self.pool.submit(run_unit, [c.to_dict() for c in unit], self.device)
        self.futures[future] = unit

    def wait_some(self):
        done, _ = wait(list(self.futures), return_when=FIRST_COMPLETED)
        out = []
        for future in done:
            unit = self.futures.pop(future, None)
            if unit is None:  # already failed by _replace_broken_pool for an earlier future of this batch
                continue
            try:
                results = [TrialResult.from_dict(r) for r in future.result()]
            except Exception as exc:  # the worker process died (e.g. out of memory)
                results = failed_results(unit, f"worker process failed: {type(exc).__name__}: {exc}", self.device)
                if isinstance(exc, BrokenProcessPool):
                    self._replace_broken_pool(out)
            out.append((unit, results))
        return out

    def _replace_broken_pool(self, out: list) -> None:
        """A dead worker breaks the whole pool: fail what it held, start a fresh pool for the rest."""
        for future, unit in list(self.futures.items()):
            self.futures.pop(future)
            out.append((unit, failed_results(unit, "worker process failed: BrokenProcessPool", self.device)))
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._new_pool()

    def in_flight(self) -> int:
        return len(self.futures)

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

    def submit(self, unit: list[TrialConfig]) -> None:
        ref = self.task.remote([c.to_dict() for c in unit], self.device)
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
