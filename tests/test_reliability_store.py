"""The store under hostile conditions (issue 14): changed data, failed trials retried, two processes creating
one store, read-only media, copies of the file alone, killed runs, full disks, damaged pages, and export
outputs that would overwrite each other."""
from __future__ import annotations

import contextlib
import gzip
import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading

import pandas as pd
import pytest
from click.testing import CliRunner
from test_sweep import tiny_spec

from advisor.cli import cli
from advisor.paths import data_dir
from calibration.record.trial import TrialConfig, TrialResult
from calibration.sweep.plan import cell_key
from calibration.sweep.run import run_sweep
from calibration.sweep.spec import load_spec
from calibration.sweep.store import STORE_NAME, TrialStore


def _corpus_text(reverse: bool = False) -> str:
    text = gzip.open(data_dir() / "corpus" / "kjv.txt.gz", "rt", encoding="utf-8").read(200_000)
    return "\n".join(line[::-1] for line in text.splitlines()) if reverse else text


def _invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_line_error(res, code: int = 2) -> None:
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output and (res.exception is None or isinstance(res.exception, SystemExit))
    assert len(res.output.strip().splitlines()) == 1, res.output


def filled_store(path, n: int = 30, points: int = 400, key: str = "spec-a") -> list[TrialConfig]:
    """A store of n finished trials with long loss curves (several pages each), written without training."""
    cfgs = [TrialConfig(n_layer=1, d_model=16, n_head=1, d_ff=32, seq_len=32, tokens=4096, batch_seqs=4,
                        lr=1e-3 * (1 + i / 10)) for i in range(n)]
    with TrialStore.open_or_create(path, key, {"name": key}) as store:
        store.add_trials([(c, cell_key(c), "grid") for c in cfgs])
        for i, cfg in enumerate(store.claim("me:1", limit=n)):
            curve = [[s, s * 128, 3.0 + 1.0 / (s + 1) + i * 1e-4, cfg.lr] for s in range(points)]
            store.record(TrialResult(trial_id=cfg.trial_id, status="ok", loss=3.0 + i * 0.01, curve=curve), "me:1")
    return cfgs


# ---------------------------------------------------------------------------- item 3: data content, retries

def test_a_changed_data_file_gets_new_trials_not_the_old_results(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(_corpus_text())
    spec = load_spec(tiny_spec(tmp_path, data=str(corpus), lrs="[1e-2]", batch="[4]", tokens=4096, extend="false"))
    first = run_sweep(spec, tmp_path / "out", workers=1, progress=False)
    assert first.ran == 2 and first.counts["ok"] == 2
    corpus.write_text(_corpus_text(reverse=True))  # same path, other content
    second = run_sweep(spec, tmp_path / "out", workers=1, progress=False)
    assert second.ran == 2 and second.counts["ok"] == 2
    res = _invoke("calibrate", "export", tmp_path / "out", "-o", tmp_path / "t.csv", "--current-spec")
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "t.csv")
    with TrialStore.open(tmp_path / "out") as store:
        all_ids = {r["result"].data_id for r in store.trials()}
    assert len(table) == 2 and table.data_id.nunique() == 1 and len(all_ids) == 2  # old trials kept, not exported
    assert table.data_id[0] != (all_ids - {table.data_id[0]}).pop()
    res = _invoke("calibrate", "status", tmp_path / "out")  # the current data's trials; the old ones apart
    assert res.exit_code == 0 and "2 trials: 2 ok" in res.output and "2 more of earlier" in res.output, res.output
    third = run_sweep(spec, tmp_path / "out", workers=1, progress=False)  # unchanged data: nothing to run
    assert third.ran == 0


def test_failed_trials_are_retried_by_run_and_recalibrate(tmp_path):
    spec_path = tiny_spec(tmp_path, lrs="[3e-3, 1e-2, 3e-2]", batch="[4]", tokens="4096, 8192", extend="false")
    out = tmp_path / "mine"
    args = ["recalibrate", spec_path, "--out", out, "--data", "kjv", "--workers", "1", "--bootstrap", "0", "--quiet"]
    assert _invoke(*args).exit_code == 0
    with contextlib.closing(sqlite3.connect(out / STORE_NAME)) as conn, conn:  # two trials lost to an OOM kill
        conn.execute("UPDATE trials SET status = 'failed', result = '{\"trial_id\": \"x\", \"status\": \"failed\", "
                     "\"error\": \"worker process failed: killed by SIGKILL\"}' WHERE seq IN (1, 2)")
    res = _invoke(*args)
    assert res.exit_code == 0 and "ran 0 trials" in res.output and "2 failed" in res.output, res.output
    res = _invoke(*args, "--retry-failed")
    assert res.exit_code == 0 and "ran 2 trials" in res.output and "0 failed" in res.output, res.output
    with TrialStore.open(out) as store:
        assert store.counts()["failed"] == 0
        store.conn.execute("UPDATE trials SET status = 'failed' WHERE seq = 3")
    res = _invoke("calibrate", "run", spec_path, "--out", out, "--workers", "1", "--quiet", "--retry-failed")
    assert res.exit_code == 0 and "ran 1 trials" in res.output, res.output  # the recalibrate's spec: kjv data


# ---------------------------------------------------------------------------- item 6: creation race

def test_many_processes_creating_one_store_at_once_share_it(tmp_path):
    cfgs = [TrialConfig(n_layer=1, d_model=16, n_head=1, d_ff=32, lr=1e-3 * (i + 1)) for i in range(4)]
    for round_ in range(6):
        out, errors, barrier = tmp_path / f"r{round_}", [], threading.Barrier(8)

        def create(i: int) -> None:
            try:
                barrier.wait()
                with TrialStore.open_or_create(out, "spec-a", {"name": "a"}) as store:
                    store.add_trials([(cfgs[i % 4], "cell", "grid")])
            except Exception as exc:  # noqa: BLE001 - any failure is what this test looks for
                errors.append(repr(exc))

        threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sorted(p.name for p in out.iterdir() if not p.name.startswith(STORE_NAME + "-")) == [STORE_NAME]
        with TrialStore.open(out) as store:
            assert store.counts()["pending"] == 4


# ---------------------------------------------------------------------------- item 7: read-only, copies

@contextlib.contextmanager
def read_only(*paths):
    """Make paths unwritable: chmod, and for root (whom chmod does not stop) the immutable attribute."""
    modes = {p: p.stat().st_mode for p in paths}
    for p in paths:
        p.chmod(0o555 if p.is_dir() else 0o444)
    immutable = os.geteuid() == 0
    if immutable and subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True).returncode != 0:
        for p in paths:
            p.chmod(modes[p])
        pytest.skip("running as root without chattr +i: cannot make a read-only folder")
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
        for p in paths:
            p.chmod(modes[p])


def test_a_read_only_store_can_be_read_by_status_and_export(tmp_path):
    store_dir = tmp_path / "store"
    filled_store(store_dir, n=5, points=10)
    with read_only(store_dir / STORE_NAME, store_dir):
        res = _invoke("calibrate", "status", store_dir)
        assert res.exit_code == 0 and "5 ok" in res.output, res.output
        res = _invoke("calibrate", "export", store_dir, "-o", tmp_path / "t.csv", "--curves", tmp_path / "c.csv")
        assert res.exit_code == 0, res.output
        spec_path = tiny_spec(tmp_path, lrs="[1e-2]", batch="[4]", tokens=4096, extend="false")
        _one_line_error(_invoke("calibrate", "run", spec_path, "--out", store_dir, "--quiet"))  # a run must write
        assert sorted(p.name for p in store_dir.iterdir()) == [STORE_NAME]  # nothing written beside it
    assert len(pd.read_csv(tmp_path / "t.csv")) == 5 and len(pd.read_csv(tmp_path / "c.csv")) == 50


def test_after_a_run_trials_sqlite_alone_holds_every_trial(tmp_path):
    """Even while another process has the store open (a second run, a status), the run ends by folding
    its write-ahead log into trials.sqlite: a copy of that one file has every trial."""
    spec = load_spec(tiny_spec(tmp_path, lrs="[1e-2]", batch="[4]", tokens=4096, extend="false"))
    out = tmp_path / "out"
    TrialStore.open_or_create(out, spec.spec_hash, spec.to_dict()).close()
    with TrialStore.open(out) as other:
        other.counts()
        assert run_sweep(spec, out, workers=1, progress=False).ran == 2
        (tmp_path / "copy").mkdir()
        shutil.copy(out / STORE_NAME, tmp_path / "copy" / STORE_NAME)
    with TrialStore.open(tmp_path / "copy") as copy:
        assert copy.counts()["ok"] == 2


# ---------------------------------------------------------------------------- item 11: killed runs

def test_status_shows_the_trials_of_a_killed_run_as_interrupted_not_running(tmp_path):
    filled_store(tmp_path, n=2, points=2)
    cfgs = [TrialConfig(n_layer=1, d_model=16, n_head=1, d_ff=32, seq_len=32, tokens=4096, batch_seqs=4, lr=lr)
            for lr in (0.1, 0.2, 0.3)]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with TrialStore.open(tmp_path) as store:
        store.add_trials([(c, cell_key(c), "grid") for c in cfgs])
        store.claim(f"{socket.gethostname()}:{dead.pid}", limit=2)  # a run killed with -9 mid-trial
        store.claim(f"{socket.gethostname()}:{os.getpid()}", limit=1)  # a live run
    res = _invoke("calibrate", "status", tmp_path)
    assert res.exit_code == 0, res.output
    assert "1 running, 2 interrupted" in res.output, res.output


# ---------------------------------------------------------------------------- item 8: one-line errors

def test_a_new_out_below_a_file_or_in_a_read_only_folder_is_one_line(tmp_path):
    spec_path = tiny_spec(tmp_path, lrs="[1e-2]", batch="[4]", tokens=4096, extend="false")
    (tmp_path / "a-file").write_text("x")
    res = _invoke("calibrate", "run", spec_path, "--out", tmp_path / "a-file" / "sweep", "--quiet")
    _one_line_error(res)
    locked = tmp_path / "locked"
    locked.mkdir()
    with read_only(locked):
        res = _invoke("calibrate", "run", spec_path, "--out", locked / "sweep", "--quiet")
        _one_line_error(res)
        assert list(locked.iterdir()) == []


def _limit_file_size(max_bytes: int):
    def limit() -> None:  # in the child: writes past max_bytes fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return limit


def test_a_disk_filling_mid_run_is_one_line_and_the_run_resumes(tmp_path):
    spec_path = tiny_spec(tmp_path, lrs="[1e-3, 3e-3, 1e-2, 3e-2]", tokens=8192, extend="false")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "advisor.cli", "calibrate", "run", str(spec_path), "--out", str(out),
           "--workers", "1", "--quiet"]
    res = subprocess.run(cmd, preexec_fn=_limit_file_size(160_000), capture_output=True, text=True, timeout=600)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "rerun" in res.stderr, res.stderr
    with TrialStore.open(out) as store:
        assert store.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        before = store.counts()
    assert 0 < before["ok"] < 16
    summary = run_sweep(load_spec(spec_path), out, workers=1, progress=False)
    assert summary.ran == 16 - before["ok"] and summary.counts["ok"] == 16


def _damage_pages(path, needle: bytes, page_size: int = 4096) -> int:
    """Fill every page (but the first) holding `needle` with 0xff bytes; returns how many."""
    data = bytearray(path.read_bytes())
    pages = {i // page_size for i in range(len(data)) if data.startswith(needle, i)} - {0}
    for page in pages:
        data[page * page_size:(page + 1) * page_size] = b"\xff" * page_size
    path.write_bytes(bytes(data))
    return len(pages)


def test_a_damaged_page_deep_in_the_store_is_one_line(tmp_path):
    cfgs = filled_store(tmp_path)
    assert _damage_pages(tmp_path / STORE_NAME, cfgs[15].trial_id.encode()) >= 1
    before = (tmp_path / STORE_NAME).read_bytes()
    _one_line_error(_invoke("calibrate", "status", tmp_path))
    _one_line_error(_invoke("calibrate", "export", tmp_path, "-o", tmp_path / "t.csv"))
    assert not (tmp_path / "t.csv").exists() and (tmp_path / STORE_NAME).read_bytes() == before


def test_damaged_curve_pages_under_export_curves_say_what_was_written(tmp_path):
    filled_store(tmp_path)
    with TrialStore.open(tmp_path) as store:
        curve = store.conn.execute("SELECT curve FROM trials WHERE seq = 10").fetchone()[0]
    assert _damage_pages(tmp_path / STORE_NAME, curve[12000:12040].encode()) == 1  # a page deep in one curve
    res = _invoke("calibrate", "export", tmp_path, "-o", tmp_path / "t.csv", "--curves", tmp_path / "c.csv")
    _one_line_error(res)
    assert f"wrote 30 trials to {tmp_path / 't.csv'}" in res.output and "curves" in res.output
    assert len(pd.read_csv(tmp_path / "t.csv")) == 30 and not (tmp_path / "c.csv").exists()


# ---------------------------------------------------------------------------- item 4: outputs

def test_export_refuses_one_file_for_both_outputs_or_the_store(tmp_path):
    filled_store(tmp_path / "s", n=3, points=5)
    for output, curves in (("x.csv", "x.csv"), ("x.csv", "./x.csv"), ("s/trials.sqlite", None)):
        args = ["calibrate", "export", tmp_path / "s", "-o", tmp_path / output]
        if curves:
            args += ["--curves", f"{tmp_path}/{curves}"]
        for force in ([], ["--force"]):
            _one_line_error(_invoke(*args, *force))
        assert not (tmp_path / "x.csv").exists()
    with TrialStore.open(tmp_path / "s") as store:
        assert store.counts()["ok"] == 3
