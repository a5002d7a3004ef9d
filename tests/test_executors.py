"""Executors: a worker process that dies fails the units it held, and the sweep goes on with a fresh pool."""
from __future__ import annotations

import concurrent.futures
import os
import time

from calibration.sweep.executors import PoolExecutor
from calibration.sweep.trial import TrialConfig


def _unit(lr: float) -> list[TrialConfig]:
    return [TrialConfig(n_layer=1, d_model=16, n_head=1, d_ff=32, seq_len=32, tokens=4096, batch_seqs=4, lr=lr)]


def test_a_dead_worker_fails_every_unit_of_the_broken_pool_once_and_a_fresh_pool_runs_on():
    executor = PoolExecutor("cpu", 2)
    try:
        dies, waits = _unit(1e-3), _unit(2e-3)
        # Two units in flight; one worker exits mid-unit (as the OOM killer would), which breaks the pool
        # and so both units' futures, finished together.
        executor.futures[executor.pool.submit(os._exit, 1)] = dies
        executor.futures[executor.pool.submit(time.sleep, 60)] = waits
        concurrent.futures.wait(list(executor.futures), timeout=120)
        done = executor.wait_some()
        assert sorted(unit[0].lr for unit, _ in done) == [1e-3, 2e-3] and executor.in_flight() == 0
        for unit, [result] in done:
            assert result.trial_id == unit[0].trial_id and result.status == "failed"
            assert "worker process failed" in result.error
        assert executor.pool.submit(pow, 2, 10).result(timeout=120) == 1024  # the fresh pool works
    finally:
        executor.shutdown(interrupted=True)
