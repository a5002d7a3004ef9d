"""Trial store: claims are exclusive across processes, results never overwritten, bad stores refused untouched."""
from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import socket
import sqlite3

import pandas as pd
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from calibration.record.trial import TrialConfig, TrialResult
from calibration.sweep.store import STORE_NAME, StoreError, TrialStore, _process_start


def configs(n: int) -> list[TrialConfig]:
    return [TrialConfig(n_layer=1, d_model=16, n_head=1, d_ff=32, seq_len=32, tokens=4096, batch_seqs=4,
                        lr=1e-3 * (i + 1)) for i in range(n)]


def new_store(path, n: int = 6, spec_hash: str = "spec-a") -> TrialStore:
    store = TrialStore.open_or_create(path, spec_hash, {"name": spec_hash})
    store.add_trials([(c, "cell", "grid") for c in configs(n)])
    return store


def ok(cfg: TrialConfig, loss: float) -> TrialResult:
    return TrialResult(trial_id=cfg.trial_id, status="ok", loss=loss, curve=[[1, 128, loss, cfg.lr]])


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_claim_record_and_no_overwrite(tmp_path):
    store = new_store(tmp_path)
    assert store.add_trials([(c, "cell", "grid") for c in configs(6)]) == 0  # idempotent
    a = store.claim("me:1", limit=2)
    assert len(a) == 2 and store.counts()["running"] == 2
    assert store.record(ok(a[0], 2.5), "me:1")
    assert not store.record(ok(a[1], 9.9), "someone-else:2")  # not the claimant
    assert not store.record(ok(a[0], 9.9), "me:1")  # already finished: kept as it was
    rows = {r["trial_id"]: r for r in store.trials(curves=True)}
    assert rows[a[0].trial_id]["result"].loss == 2.5
    assert rows[a[0].trial_id]["result"].curve == [[1, 128, 2.5, a[0].lr]]
    assert store.counts() == {"pending": 4, "running": 1, "ok": 1, "diverged": 0, "pruned": 0, "failed": 0}


def test_group_claim_takes_one_key(tmp_path):
    store = new_store(tmp_path)
    got = store.claim("me:1", limit=10, key=lambda c: c.lr < 3.5e-3)
    assert [c.lr for c in got] == [1e-3, 2e-3, 3e-3]


def test_stale_claims_of_dead_processes_are_released(tmp_path):
    store = new_store(tmp_path)
    host = socket.gethostname()
    proc = mp.get_context("spawn").Process(target=os.getpid)
    proc.start()
    proc.join()
    ppid = os.getppid()
    dead, alive = f"{host}:{proc.pid}", f"{host}:{ppid}:{_process_start(ppid)}"
    reused = f"{host}:{ppid}:1"  # a live pid, but started at another time: the claimant is gone
    store.claim(dead, limit=2)
    store.claim(reused, limit=1)
    store.claim(alive, limit=1)
    store.claim("other-host:1", limit=1)
    assert store.release_stale(owner="me:1") == 3
    assert store.counts()["running"] == 2 and store.counts()["pending"] == 4


def _worker(path: str, owner: str) -> None:
    store = TrialStore.open(path)
    while True:
        got = store.claim(owner, limit=1)
        if not got:
            return
        assert store.record(ok(got[0], float(got[0].lr)), owner)


def test_concurrent_processes_never_duplicate(tmp_path):
    store = new_store(tmp_path, n=60)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), f"w{i}:{i}")) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    rows = store.conn.execute("SELECT status, attempts, COUNT(*) FROM trials GROUP BY status, attempts").fetchall()
    assert rows == [("ok", 1, 60)]  # every trial claimed exactly once, all recorded
    assert store.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_corrupt_store_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / STORE_NAME
    path.write_bytes(b"not a database at all" * 100)
    before = sha(path)
    with pytest.raises(StoreError, match="not a SQLite"):
        TrialStore.open(tmp_path)
    res = CliRunner().invoke(cli, ["calibrate", "status", str(tmp_path)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    # a SQLite file with a damaged body
    new_store(tmp_path / "b").close()
    damaged = tmp_path / "b" / STORE_NAME
    data = bytearray(damaged.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    damaged.write_bytes(bytes(data))
    before_b = sha(damaged)
    with pytest.raises(StoreError):
        TrialStore.open(tmp_path / "b")
    assert sha(path) == before and sha(damaged) == before_b


def test_other_version_is_refused_untouched(tmp_path):
    new_store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / STORE_NAME)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'version'")
    conn.commit()
    conn.close()
    before = sha(tmp_path / STORE_NAME)
    with pytest.raises(StoreError, match="version 99"):
        TrialStore.open(tmp_path)
    with pytest.raises(StoreError, match="version 99"):
        TrialStore.open_or_create(tmp_path, "spec-a", {})
    assert sha(tmp_path / STORE_NAME) == before


def test_other_spec_refused_unless_forced_and_then_recorded(tmp_path):
    store = new_store(tmp_path, n=3)
    cfg = store.claim("me:1")[0]
    store.record(ok(cfg, 2.0), "me:1")
    store.close()
    with pytest.raises(StoreError, match="another spec"):
        TrialStore.open_or_create(tmp_path, "spec-b", {})
    store = TrialStore.open_or_create(tmp_path, "spec-b", {"name": "b"}, force=True)
    store.add_trials([(c, "cell", "grid") for c in configs(4)[2:]])
    history = store.meta("spec_history")
    assert store.meta("spec_hash") == "spec-b" and "spec-a" in history and "forced" in history
    assert len(store.trials()) == 4  # old trials kept, one shared, one new
    assert len(store.trials(spec_hash="spec-b")) == 2
    assert store.trials(statuses=["ok"])[0]["result"].loss == 2.0


def test_export_csv_parquet_curves_and_no_overwrite(tmp_path):
    store = new_store(tmp_path, n=3)
    for cfg in store.claim("me:1", limit=2):
        store.record(ok(cfg, 2.0 + cfg.lr), "me:1")
    store.close()
    runner = CliRunner()
    out = tmp_path / "t.csv"
    res = runner.invoke(cli, ["calibrate", "export", str(tmp_path), "-o", str(out), "--curves", str(tmp_path / "c.parquet")])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    design = ("trial_id status n_params n_params_total n_layer d_model n_head seq_len tokens lr batch_tokens "
              "batch_seqs steps warmup_steps schedule weight_decay beta1 beta2 grad_clip seed loss train_loss "
              "flops wall_s device data_id code_version finished_at").split()
    assert set(design) <= set(df.columns)
    assert len(df) == 2 and set(df.status) == {"ok"} and (df.n_params == 2608).all()
    curves = pd.read_parquet(tmp_path / "c.parquet")
    assert list(curves.columns) == ["trial_id", "step", "tokens", "train_loss", "lr", "grad_norm"] and len(curves) == 2
    before = out.read_bytes()
    res = runner.invoke(cli, ["calibrate", "export", str(tmp_path), "-o", str(out)])
    assert res.exit_code == 2 and "--force" in res.output and out.read_bytes() == before
    res = runner.invoke(cli, ["calibrate", "export", str(tmp_path), "-o", str(tmp_path / "t.xlsx")])
    assert res.exit_code == 2
    res = runner.invoke(cli, ["calibrate", "export", str(tmp_path), "-o", str(tmp_path / "t.parquet")])
    assert res.exit_code == 0 and len(pd.read_parquet(tmp_path / "t.parquet")) == 2


def test_export_creates_a_missing_folder_and_write_errors_are_one_line(tmp_path):
    store = new_store(tmp_path, n=2)
    for cfg in store.claim("me:1", limit=2):
        store.record(ok(cfg, 2.0), "me:1")
    store.close()
    runner = CliRunner()
    nested = tmp_path / "new" / "folder" / "t.csv"  # a missing parent is made, as `advisor fit -o` does
    res = runner.invoke(cli, ["calibrate", "export", str(tmp_path), "-o", str(nested)])
    assert res.exit_code == 0 and len(pd.read_csv(nested)) == 2, res.output
    (tmp_path / "a-file").write_text("x")
    for args in (["-o", str(tmp_path / "a-file" / "t.csv")],
                 ["-o", str(tmp_path / "t2.csv"), "--curves", str(tmp_path / "a-file" / "c.parquet")]):
        res = runner.invoke(cli, ["calibrate", "export", str(tmp_path), *args])
        assert res.exit_code == 2 and "is a file, not a folder" in res.output, res.output
        assert isinstance(res.exception, SystemExit) and "Traceback" not in res.output
        assert len([line for line in res.output.splitlines() if line.startswith("Error")]) == 1
    assert not list(tmp_path.glob(".*.tmp"))


def test_status_flags_a_best_lr_or_batch_on_the_grid_edge(tmp_path):
    from calibration.sweep.plan import cell_key

    def cfg(lr, batch=4, tokens=4096):
        return TrialConfig(n_layer=1, d_model=16, n_head=1, d_ff=32, seq_len=32, tokens=tokens, batch_seqs=batch, lr=lr)

    # cell A: loss falls with LR up to the top of the grid; cell B: interior LR, but the best batch is the
    # largest; cell C: the top LR diverged, so the best LR below it is bracketed (and one batch: no batch flag)
    grid = {
        "A": [(cfg(1e-3, tokens=4096), 3.0), (cfg(2e-3, tokens=4096), 2.5), (cfg(4e-3, tokens=4096), 2.0)],
        "B": [(cfg(lr, b, 8192), loss - (b == 8) * 0.5) for lr, loss in ((1e-3, 3.0), (2e-3, 2.0), (4e-3, 2.5))
              for b in (4, 8)],
        "C": [(cfg(1e-3, tokens=16384), 3.0), (cfg(2e-3, tokens=16384), 2.0), (cfg(4e-3, tokens=16384), None)],
    }
    store = TrialStore.open_or_create(tmp_path, "spec-a", {"name": "edges"})
    for rows in grid.values():
        store.add_trials([(c, cell_key(c), "grid") for c, _ in rows])
    claimed = {c.trial_id for c in store.claim("me:1", limit=100)}
    for rows in grid.values():
        for c, loss in rows:
            assert c.trial_id in claimed
            result = ok(c, loss) if loss is not None else TrialResult(trial_id=c.trial_id, status="diverged")
            store.record(result, "me:1")
    store.close()
    res = CliRunner().invoke(cli, ["calibrate", "status", str(tmp_path)])
    assert res.exit_code == 0, res.output
    lines = {key: next(line for line in res.output.splitlines() if f"D={tokens:.3g}" in line)
             for key, tokens in (("A", 4096), ("B", 8192), ("C", 16384))}
    assert "lr 0.004" in lines["A"] and "(on the grid's upper LR edge" in lines["A"]
    assert "lr 0.002, batch 8" in lines["B"] and "upper batch edge" in lines["B"] and "LR edge" not in lines["B"]
    assert "lr 0.002" in lines["C"] and "edge" not in lines["C"]
