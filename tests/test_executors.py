"""Executors: a worker process that dies costs only the unit it held; the other units run again on a fresh
pool, and the sweep goes on."""
from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from test_sweep import _children, tiny_spec

from calibration.record.trial import TrialConfig
from calibration.sweep.executors import PoolExecutor
from calibration.sweep.store import STORE_NAME, TrialStore


def _unit(lr: float, tokens: int = 4096) -> list[TrialConfig]:
    return [TrialConfig(n_layer=1, d_model=16, n_head=1, d_ff=32, seq_len=32, tokens=tokens, batch_seqs=4,
                        lr=lr, eval_tokens=1024)]


def _collect(executor: PoolExecutor, timeout: float = 180) -> dict:
    """Wait for every unit in flight: {lr: result}."""
    out, deadline = {}, time.time() + timeout
    while executor.in_flight() and time.time() < deadline:
        for unit, [result] in executor.wait_some():
            out[unit[0].lr] = result
    return out


def _running_pid(executor: PoolExecutor, number: int, timeout: float = 120) -> int:
    """The pid of the worker running unit `number`, once it runs (read from the pool's shared table)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        table = list(executor.running)
        for slot in range(executor.slots):
            if table[2 * slot + 1] == number:
                return table[2 * slot]
        time.sleep(0.01)
    raise AssertionError(f"unit {number} never started")


def test_a_killed_worker_fails_only_its_unit_and_the_other_runs_again():
    executor = PoolExecutor("cpu", 2)
    try:
        executor.submit(_unit(1e-3, tokens=65536))  # unit 1: its worker gets killed mid-trial
        executor.submit(_unit(2e-3))  # unit 2, on the other worker: lost with the pool, run again
        _running_pid(executor, 2)
        os.kill(_running_pid(executor, 1), signal.SIGKILL)  # as the OOM killer does
        results = _collect(executor)
        assert set(results) == {1e-3, 2e-3} and executor.in_flight() == 0
        killed, other = results[1e-3], results[2e-3]
        assert killed.status == "failed" and "SIGKILL" in killed.error and "--retry-failed" in killed.error
        assert other.status == "ok" and other.loss > 0
        executor.submit(_unit(3e-3))  # the fresh pool works
        assert _collect(executor)[3e-3].status == "ok"
    finally:
        executor.shutdown(interrupted=True)


def test_a_worker_death_of_unknown_cause_runs_every_unit_again():
    executor = PoolExecutor("cpu", 2)
    try:
        # A worker exits outside any unit (nothing says which unit it held): the pool breaks and both
        # units in it are lost; both run again on a fresh pool.
        dies = executor.pool.submit(os._exit, 1)
        executor.futures[dies] = (0, _unit(1e-3))
        executor.submit(_unit(2e-3))
        concurrent.futures.wait([dies], timeout=120)
        results = _collect(executor)
        assert {lr: r.status for lr, r in results.items()} == {1e-3: "ok", 2e-3: "ok"}
    finally:
        executor.shutdown(interrupted=True)


def _worker_pids(pid: int) -> list[int]:
    """The pool's worker processes among pid's children (not the resource tracker)."""
    out = []
    for child in _children(pid):
        with contextlib.suppress(OSError), open(f"/proc/{child}/cmdline", "rb") as f:
            if b"spawn_main" in f.read():
                out.append(child)
    return out


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the worker processes in /proc (Linux)")
def test_kill_9_of_a_worker_during_calibrate_run_costs_only_its_trial(tmp_path):
    """`advisor calibrate run` on two workers; one worker is killed with SIGKILL mid-trial. The run ends
    normally (exit 0) with every trial recorded: at most the killed worker's trial failed, with the cause."""
    spec_path = tiny_spec(tmp_path, lrs="[1e-3, 1e-2]", extend="false", tokens=16384)  # 8 trials
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "advisor.cli", "calibrate", "run", str(spec_path), "--out", str(out),
           "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        victim, deadline = None, time.time() + 120
        while victim is None and time.time() < deadline and proc.poll() is None:
            done = 0
            if (out / STORE_NAME).exists():
                with contextlib.closing(sqlite3.connect(out / STORE_NAME, timeout=30)) as conn:
                    done = conn.execute("SELECT COUNT(*) FROM trials WHERE status = 'ok'").fetchone()[0]
            workers = _worker_pids(proc.pid)
            if done >= 1 and len(workers) == 2:  # both workers warm; kill one while it trains
                ticks = _cpu_ticks(workers[0])
                time.sleep(0.1)
                if _cpu_ticks(workers[0]) > ticks:
                    victim = workers[0]
                    os.kill(victim, signal.SIGKILL)
            time.sleep(0.05)
        assert victim is not None, "no worker could be killed before the sweep finished"
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert b"Traceback" not in stderr and b"ran " in stdout
    with TrialStore.open(out) as store:
        counts = store.counts()
        failed = [r["result"].error for r in store.trials(statuses=["failed"])]
    assert counts["pending"] == counts["running"] == 0 and counts["ok"] + counts["failed"] == 8
    assert counts["failed"] <= 1  # the killed worker's trial at most, never the other worker's
    assert all(f"pid {victim}" in e and "SIGKILL" in e for e in failed)
