"""Sweeps end to end on tiny proxies: adaptive extension, failure recording, SIGKILL + resume, Ray = local."""
from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from calibration.sweep.adaptive import PointResult, propose
from calibration.sweep.export import trial_table
from calibration.sweep.spec import AdaptiveSettings, load_spec
from calibration.sweep.store import STORE_NAME, TrialStore
from calibration.sweep.run import run_sweep

TINY = """
name = "tiny"
device = "cpu"
min_steps = 8
seeds = {seeds}
[sizes]
shapes = [{{n_layer = 1, d_model = 16, n_head = 1, d_ff = 32}}, {{n_layer = 1, d_model = 32, n_head = 2, d_ff = 64}}]
[budget]
tokens = [{tokens}]
[lr]
values = {lrs}
[batch]
seqs = {batch}
[trial]
seq_len = 32
eval_tokens = 1024
data = "{data}"
[adaptive]
extend = {extend}
extend_batch = false
max_extensions = 8
lr_min = 1e-5
lr_max = 2.0
"""


def tiny_spec(tmp_path, name="tiny.toml", seeds="[0]", tokens=8192, lrs="[3e-3, 1e-2, 3e-2]", batch="[4, 8]",
              data="kjv", extend="true"):
    path = tmp_path / name
    path.write_text(TINY.format(seeds=seeds, tokens=tokens, lrs=lrs, batch=batch, data=data, extend=extend))
    return path


# ---------------------------------------------------------------------------- adaptive rules (pure)

S = AdaptiveSettings(max_extensions=2, lr_min=1e-4, lr_max=1.0, batch_min=2, batch_max=64)
LRS = (1e-3, 2e-3, 4e-3)


def row(batch, losses, lrs=LRS, statuses=None):
    statuses = statuses or ["ok"] * len(lrs)
    return [PointResult(lr, batch, 0, st, loss if st == "ok" else None) for lr, loss, st in zip(lrs, losses, statuses)]


def test_lr_edges_extend_by_the_grid_step():
    low = propose(row(8, [1.0, 2.0, 3.0]), S, LRS, (8,), 1000)
    assert low.points == ((5e-4, 8),)
    high = propose(row(8, [3.0, 2.0, 1.0]), S, LRS, (8,), 1000)
    assert high.points == ((8e-3, 8),)
    interior = propose(row(8, [2.0, 1.0, 3.0]), S, LRS, (8,), 1000)
    assert interior.points == () and interior.events == ()


def test_diverged_high_edge_is_interior_and_all_diverged_goes_down():
    p = propose(row(8, [2.0, 1.0, 0], statuses=["ok", "ok", "diverged"]), S, LRS, (8,), 1000)
    assert p.points == ()
    p = propose(row(8, [0, 0, 0], statuses=["diverged"] * 3), S, LRS, (8,), 1000)
    assert p.points == ((5e-4, 8),)


def test_bounds_stop_extension_and_are_reported():
    lrs = (1.25e-4, 2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3)  # already two extensions below the spec grid
    p = propose(row(8, [1, 2, 3, 4, 5, 6], lrs=lrs), S, LRS, (8,), 1000)
    assert p.points == () and p.events[0][1]["bound"] in ("max_extensions", "lr_min")
    p = propose(row(8, [3.0, 2.0, 1.0], lrs=(0.25, 0.5, 1.0)), S, (0.25, 0.5, 1.0), (8,), 1000)
    assert p.points == () and p.events[0][1]["bound"] == "lr_max"


def test_batch_edge_adds_a_row_with_the_best_rows_lrs():
    results = row(8, [2.0, 1.5, 2.5]) + row(16, [1.8, 1.2, 2.2])
    p = propose(results, S, LRS, (8, 16), 1000)
    assert set(p.points) == {(lr, 32) for lr in LRS}
    p = propose(results, S, LRS, (8, 16), 20)  # 32 seqs would take too few steps
    assert p.points == () and p.events[0][1]["bound"] == "min_steps"


def test_refine_adds_midpoints_once():
    s = AdaptiveSettings(refine=True)
    p = propose(row(8, [2.0, 1.0, 3.0]), s, LRS, (8,), 1000)
    mids = sorted(lr for lr, _ in p.points)
    assert mids == pytest.approx([2 ** 0.5 * 1e-3, 2 ** 0.5 * 2e-3], rel=1e-5)
    lrs = tuple(sorted(LRS + tuple(mids)))
    p = propose(row(8, [2.0, 1.5, 1.0, 1.6, 3.0], lrs=lrs), s, LRS, (8,), 1000)
    assert p.points == ()


# ---------------------------------------------------------------------------- real sweeps


def test_too_low_lr_grid_ends_interior_after_extension(tmp_path):
    spec = load_spec(tiny_spec(tmp_path, lrs="[1e-4, 3e-4]", batch="[8]"))
    summary = run_sweep(spec, tmp_path / "out", workers=1, progress=False)
    assert summary.extension_trials > 0 and summary.counts["pending"] == 0
    with TrialStore.open(tmp_path / "out") as store:
        assert store.events() == []  # no bound was hit
        df = trial_table(store)
    for _, cell in df.groupby("cell"):
        cell = cell.sort_values("lr")
        best = cell.loc[cell.loss.idxmin()]
        assert cell.lr.min() < best.lr < cell.lr.max(), cell[["lr", "loss", "status"]]
        assert best.lr > 3e-4 and best.origin == "extend"


def test_extra_seeds_go_to_each_settled_cells_best_points_once(tmp_path):
    seeds = "{values = [0], extra = [1, 2], extra_near_best = 2}"
    spec = load_spec(tiny_spec(tmp_path, seeds=seeds, lrs="[3e-3, 1e-2, 3e-2]", batch="[4]", extend="false"))
    summary = run_sweep(spec, tmp_path / "out", workers=1, progress=False)
    assert summary.counts["pending"] == 0
    with TrialStore.open(tmp_path / "out") as store:
        df = trial_table(store)
    for _, cell in df.groupby("cell"):
        grid, reseed = cell[cell.origin == "grid"], cell[cell.origin == "reseed"]
        assert len(grid) == 3 and set(grid.seed) == {0}
        best_two = set(grid.nsmallest(2, "loss").lr)
        assert len(reseed) == 4 and set(reseed.lr) == best_two and set(reseed.seed) == {1, 2}
    again = run_sweep(spec, tmp_path / "out", workers=1, progress=False)
    assert again.ran == 0


def test_failing_trials_are_recorded_and_the_sweep_goes_on(tmp_path):
    corpus = tmp_path / "too-short-corpus.txt"  # exists, so the spec is valid; too short for one sequence
    corpus.write_text("in the beginning")
    spec_path = tiny_spec(tmp_path, data=str(corpus), lrs="[1e-2]", batch="[4]")
    summary = run_sweep(load_spec(spec_path), tmp_path / "out", workers=1, progress=False)
    assert summary.counts["failed"] == 2 and summary.ran == 2 and summary.ran_failed == 2
    with TrialStore.open(tmp_path / "out") as store:
        errors = [r["result"].error for r in store.trials()]
    assert all("seq_len 32 is longer than" in e for e in errors)
    res = CliRunner().invoke(cli, ["calibrate", "status", str(tmp_path / "out")])
    assert res.exit_code == 0 and "2 failed" in res.output and "seq_len 32 is longer than" in res.output
    # a run in which every trial failed does not end as a success
    res = CliRunner().invoke(cli, ["calibrate", "run", str(spec_path), "--out", str(tmp_path / "o2"),
                                   "--workers", "1", "--quiet"])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert "every trial of this run failed (2)" in res.output and f"calibrate status {tmp_path / 'o2'}" in res.output


def _finished(store_path) -> dict:
    conn = sqlite3.connect(store_path)
    rows = conn.execute("SELECT trial_id, result, curve FROM trials WHERE status IN ('ok', 'diverged', 'failed')")
    out = {tid: (res, curve) for tid, res, curve in rows}
    conn.close()
    return out


def _start_sweep(tmp_path):
    """A 16-trial sweep on two workers in its own process group: (spec path, out dir, process)."""
    spec_path = tiny_spec(tmp_path, lrs="[1e-3, 3e-3, 1e-2, 3e-2]", extend="false", tokens=16384)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "advisor.cli", "calibrate", "run", str(spec_path), "--out", str(out),
           "--workers", "2", "--quiet"]
    return spec_path, out, subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigkill_at_a_random_point_then_resume(tmp_path):
    rng = random.Random(1234)
    spec_path, out, proc = _start_sweep(tmp_path)
    kill_after = rng.randint(2, 9)  # finished trials before the kill, of 16
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if (out / STORE_NAME).exists() and len(_finished(out / STORE_NAME)) >= kill_after:
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.1))
        assert proc.poll() is None, "the sweep finished before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, like a lost machine
        proc.wait()
    before = _finished(out / STORE_NAME)
    conn = sqlite3.connect(out / STORE_NAME)
    left_running = conn.execute("SELECT COUNT(*) FROM trials WHERE status = 'running'").fetchone()[0]
    conn.close()
    assert kill_after <= len(before) < 16 and left_running > 0

    summary = run_sweep(load_spec(spec_path), out, workers=1, progress=False)
    assert summary.ran == 16 - len(before)
    after = _finished(out / STORE_NAME)
    assert len(after) == 16  # every planned trial, once (trial_id is the primary key)
    assert all(after[tid] == before[tid] for tid in before)  # finished results unchanged
    with TrialStore.open(out) as store:
        assert store.counts() == {"pending": 0, "running": 0, "ok": 16, "diverged": 0, "pruned": 0, "failed": 0}
        ids = [r["trial_id"] for r in store.trials()]
    assert len(ids) == len(set(ids)) == 16


def _children(pid: int) -> list[int]:
    """Live (not zombie) child processes of pid, from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":\t", 1) for line in f if ":\t" in line)
        except OSError:
            continue
        if int(fields.get("PPid", "0")) == pid and not fields.get("State", "").startswith("Z"):
            out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(line.startswith("State:\tZ") for line in f)
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads processes from /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_the_sweep_process_ends_its_workers_then_resume(tmp_path, sig):
    """`kill PID` (SIGTERM) stops a sweep like Ctrl-C; even SIGKILL of the parent alone leaves no orphans."""
    spec_path, out, proc = _start_sweep(tmp_path)
    children: set[int] = set()
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            children.update(_children(proc.pid))  # two workers and the resource tracker
            if (out / STORE_NAME).exists() and len(_finished(out / STORE_NAME)) >= 1:
                break
            time.sleep(0.05)
        children.update(_children(proc.pid))
        assert proc.poll() is None, "the sweep finished before it could be stopped"
        assert len(children) >= 2, children
        os.kill(proc.pid, sig)  # the parent only, as `kill PID` or a container stop does
        proc.wait(timeout=60)
        until = time.time() + 30
        while time.time() < until and any(_alive(p) for p in children):
            time.sleep(0.1)
        assert not [p for p in children if _alive(p)], "worker processes outlived the sweep"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = _finished(out / STORE_NAME)
    if sig == signal.SIGTERM:  # a clean stop gives its claims back
        conn = sqlite3.connect(out / STORE_NAME)
        assert conn.execute("SELECT COUNT(*) FROM trials WHERE status = 'running'").fetchone()[0] == 0
        conn.close()
    summary = run_sweep(load_spec(spec_path), out, workers=1, progress=False)
    assert summary.ran == 16 - len(before)
    after = _finished(out / STORE_NAME)
    assert len(after) == 16 and all(after[tid] == before[tid] for tid in before)
    with TrialStore.open(out) as store:
        assert store.counts() == {"pending": 0, "running": 0, "ok": 16, "diverged": 0, "pruned": 0, "failed": 0}


def _table(out) -> pd.DataFrame:
    with TrialStore.open(out) as store:
        df = trial_table(store)
    return df.sort_values("trial_id").reset_index(drop=True)


def assert_same_tables(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.trial_id) == list(b.trial_id)
    assert list(a.status) == list(b.status)
    pd.testing.assert_series_equal(a.loss, b.loss, rtol=1e-5)
    pd.testing.assert_series_equal(a.train_loss, b.train_loss, rtol=1e-5)
    for col in ("n_params", "tokens", "lr", "batch_tokens", "steps", "flops", "origin"):
        assert list(a[col]) == list(b[col]), col


@pytest.fixture(scope="module")
def local_ray():
    """A one-CPU local Ray instance: one worker process (one torch import), no dashboard."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_backend_gives_the_local_trial_table(tmp_path, local_ray):
    """The grid and the adaptive extension it triggers, as Ray tasks, against the same sweep in this process."""
    spec = load_spec(tiny_spec(tmp_path, lrs="[1e-3, 1e-2]", batch="[4]", tokens=4096))
    local = run_sweep(spec, tmp_path / "local", backend="local", workers=1, progress=False)
    on_ray = run_sweep(spec, tmp_path / "ray", backend="ray", progress=False)
    assert local.counts == on_ray.counts and local.counts["ok"] >= 4 and on_ray.extension_trials > 0
    assert_same_tables(_table(tmp_path / "local"), _table(tmp_path / "ray"))


@pytest.mark.slow
def test_quick_spec_on_ray_equals_local(tmp_path, local_ray):
    spec = load_spec("quick")
    run_sweep(spec, tmp_path / "local", backend="local", workers=2, progress=False)
    run_sweep(spec, tmp_path / "ray", backend="ray", progress=False)
    assert_same_tables(_table(tmp_path / "local"), _table(tmp_path / "ray"))


def test_cli_run_status_and_resume(tmp_path):
    spec_path = tiny_spec(tmp_path, lrs="[1e-2]", batch="[4]", tokens=4096, extend="false")
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(cli, ["calibrate", "run", str(spec_path), "--out", str(out), "--workers", "1", "--quiet"])
    assert res.exit_code == 0 and "ran 2 trials" in res.output, res.output
    res = runner.invoke(cli, ["calibrate", "run", str(spec_path), "--out", str(out), "--workers", "1", "--quiet"])
    assert res.exit_code == 0 and "ran 0 trials" in res.output and "2 already done" in res.output
    res = runner.invoke(cli, ["calibrate", "status", str(out)])
    assert res.exit_code == 0 and "2 ok" in res.output and "lr 0.01" in res.output
    other = tiny_spec(tmp_path, name="other.toml", lrs="[2e-2]", batch="[4]", tokens=4096, extend="false")
    res = runner.invoke(cli, ["calibrate", "run", str(other), "--out", str(out), "--workers", "1", "--quiet"])
    assert res.exit_code == 2 and "--allow-other-spec" in res.output
    res = runner.invoke(cli, ["calibrate", "run", str(other), "--out", str(out), "--workers", "1", "--quiet", "--force"])
    assert res.exit_code == 0 and "ran 2 trials" in res.output
    with TrialStore.open(out) as store:
        assert len(store.trials()) == 4 and len(json.loads(store.meta("spec_history"))) == 2
    res = runner.invoke(cli, ["calibrate", "status", str(tmp_path / "nothing-here")])
    assert res.exit_code == 2 and "no trial store" in res.output
    for bad in (["--device", "gpu"], ["--address", "auto"], ["--backend", "spark"], ["--workers", "0"]):
        res = runner.invoke(cli, ["calibrate", "run", str(spec_path), "--out", str(tmp_path / "o2"), *bad])
        assert res.exit_code == 2 and "Traceback" not in res.output, (bad, res.output)
    assert not (tmp_path / "o2").exists()
