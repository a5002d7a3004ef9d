"""Marin's optimizer sweep as shipped sources (data/sources/marin-*): the shipped tables against their recorded
sums, units and statuses; the rebuild script on a tiny fake upstream (sums checked, nothing written on a
mismatch, every layout converted). The real upstream is read only when SCALING_ADVISOR_MARIN_UPSTREAM names
its folder (then the rebuild must equal the shipped files)."""
from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from advisor import catalog
from advisor.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "data" / "sources" / "build_marin.py"
OPTIMIZERS = ("adamw", "nadamw", "mini", "lion", "mars", "cautious", "muon", "scion", "kron", "soape", "sophia")
CONTRACT = ("trial_id status n_params n_params_total n_layer d_model n_head d_ff seq_len tokens lr batch_tokens "
            "batch_seqs steps warmup_steps schedule weight_decay beta1 beta2 grad_clip seed loss train_loss "
            "flops data_id code_version optimizer setup source").split()


def _load_script():
    spec = importlib.util.spec_from_file_location("build_marin", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    before, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = before
    return module


build = _load_script()


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------- shipped tables


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_shipped_table_matches_its_catalog_entry(optimizer):
    entry = catalog.entry(f"marin-{optimizer}", "source")
    path = catalog.resolve_source(entry["name"])
    rows = _rows(path)
    readme = (path.parent / "README.md").read_text()
    assert _sha(path.read_bytes()) == entry["table_sha256"] and entry["table_sha256"] in readme
    assert entry["upstream_sha256"] in readme and "2509.02046" in readme and "Apache" in readme
    assert len(rows) == entry["rows"] == entry["setup"]["runs"]
    assert len({(r["n_params"], r["tokens"]) for r in rows}) == entry["cells"]
    assert set(CONTRACT) <= set(rows[0]) and len({r["trial_id"] for r in rows}) == len(rows)
    assert {r["optimizer"] for r in rows} == {optimizer}
    assert {r["setup"] for r in rows} == {r["source"] for r in rows} == {entry["name"]}
    assert sum(r["status"] == "diverged" for r in rows) == entry["diverged"]
    assert sum(r["status"] == "failed" for r in rows) == entry["failed"]
    for key in ("data", "tokenizer", "seq_len", "optimizer", "schedule", "sizes", "chinchilla_multiples",
                "missing", "tuned"):
        assert key in entry["setup"], key


def test_all_runs_of_the_sweep_are_shipped():
    """150 files: 1,693 ablation entries plus 149 tuned runs (the sophia 130m 2x stub has none); 77 losses
    are null upstream, 5 are the string "NaN"."""
    rows = [r for opt in OPTIMIZERS for r in _rows(catalog.resolve_source(f"marin-{opt}"))]
    assert len(rows) == 1693 + 149
    assert sum(r["status"] == "failed" for r in rows) == 77
    assert sum(r["error"] == "loss recorded as 'NaN'" for r in rows) == 5


@pytest.mark.parametrize("optimizer", ("adamw", "muon", "sophia"))
def test_shipped_units_and_statuses(optimizer):
    for r in _rows(catalog.resolve_source(f"marin-{optimizer}")):
        n, mult, batch = int(r["n_params"]), int(r["chinchilla_multiple"]), int(r["batch_seqs"])
        assert r["seq_len"] == "4096" and int(r["batch_tokens"]) == batch * 4096
        assert int(r["tokens"]) == mult * 20 * n and int(r["steps"]) == int(r["tokens"]) // (batch * 4096)
        assert n == 32 * (4 * int(r["d_model"]) ** 2 + 3 * int(r["d_model"]) * int(r["d_ff"]))
        assert int(r["n_params_total"]) == n + 2 * 128_256 * int(r["d_model"]) + 65 * int(r["d_model"])
        if r["status"] == "ok":
            assert float(r["loss"]) < 7.0 and not r["error"]
        elif r["status"] == "diverged":
            assert r["loss"] == "" or float(r["loss"]) >= 7.0
        else:
            assert r["status"] == "failed" and r["loss"] == ""


def test_adamw_tuned_lrs_are_the_papers():
    """Wen et al.: tuned AdamW LR 8e-3 at 130M down to 2e-3 at 1.2B."""
    rows = _rows(catalog.resolve_source("marin-adamw"))
    tuned = {(r["n_params"], r["chinchilla_multiple"]): float(r["lr"]) for r in rows if not r["ablated"]}
    assert tuned[("134217728", "1")] == pytest.approx(8e-3) and tuned[("1207959552", "8")] == pytest.approx(2e-3)


def test_sources_lists_the_setup():
    result = CliRunner().invoke(cli, ["sources", "--json"])
    assert result.exit_code == 0, result.output
    entries = {e["name"]: e for e in json.loads(result.output)["entries"] if e["kind"] == "source"}
    assert {f"marin-{o}" for o in OPTIMIZERS} <= set(entries)
    assert entries["marin-lion"]["setup"]["missing"] == "no 1.2b; no 16x"
    text = CliRunner().invoke(cli, ["sources"]).output
    assert "setup: AdamW; seq 4096; Llama-3" in text
    one = CliRunner().invoke(cli, ["sources", "marin-muon"]).output
    assert "decay_fraction" in one and "tokenizer" in one


# ---------------------------------------------------------------------------------- the build script

BEST = {"beta1": 0.9, "beta2": 0.98, "epsilon": 1e-20, "learning_rate": 0.008, "max_grad_norm": 1,
        "min_lr_ratio": 0, "nesterov": False, "train_batch_size": 128, "warmup": 2000, "weight_decay": 0.1}


def _fake_files() -> dict[str, dict]:
    """One file per layout: full (A), baseline only (B), older (C, with "NaN" and null losses), stub (D)."""
    abl = [{"param": "learning_rate", "value": 0.016, "loss": 3.40, "wandb_id": "r2"},
           {"param": "learning_rate", "value": 0.032, "loss": 7.6, "wandb_id": "r3"},
           {"param": "train_batch_size", "value": 256, "loss": 3.45, "wandb_id": "r4"}]
    return {
        "adamw/130m/1": {"result": {"Baseline": 3.5}, "name": {"Baseline": "r1"}, "num_left": 0,
                         "best_config": BEST, "min_loss": 3.5, "baseline": {"loss": 3.5, "wandb_id": "r1"},
                         "ablations": abl},
        "adamw/130m/16": {"best_config": BEST, "min_loss": 3.2, "baseline": {"loss": 3.2, "wandb_id": "r5"}},
        "adamw/300m/1": {"best_config": {**BEST, "learning_rate": 0.004}, "min_loss": 3.3,
                         "baseline": {"loss": 3.3, "wandb_id": None},
                         "ablations": [{"param": "learning_rate", "value": 0.008, "loss": "NaN", "wandb_id": "x"},
                                       {"param": "warmup", "value": 1000, "loss": None, "wandb_id": None}]},
        "adamw/520m/1": {"best_config": BEST, "min_loss": 3.0},
    }


def _fake_upstream(tmp_path: Path, monkeypatch) -> Path:
    upstream = tmp_path / "upstream"
    table = {}
    for key, content in _fake_files().items():
        data = json.dumps(content, indent=2).encode()
        path = upstream / "Results" / key / "result.json"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        table[key] = ("0" * 40, _sha(data))
    monkeypatch.setattr(build, "UPSTREAM_FILES", table)
    return upstream


def test_fake_upstream_converts_every_layout(tmp_path, monkeypatch):
    upstream = _fake_upstream(tmp_path, monkeypatch)
    data_dir = tmp_path / "data"
    assert build.main([str(upstream), "--data-dir", str(data_dir)]) == 0
    rows = _rows(data_dir / "sources" / "marin-adamw" / "trials.csv")
    assert len(rows) == 4 + 1 + 3  # the stub has no runs
    by_run = {(r["n_params"], r["chinchilla_multiple"], r["ablated"], r["lr"], r["warmup_steps"]): r for r in rows}
    base = by_run[("134217728", "1", "", "0.008", "2000")]
    assert (base["status"], base["loss"], base["batch_tokens"], base["steps"]) == ("ok", "3.5", "524288", "5120")
    assert by_run[("134217728", "1", "lr", "0.032", "2000")]["status"] == "diverged"
    assert by_run[("134217728", "1", "lr", "0.032", "2000")]["loss"] == "7.6"
    nan = by_run[("301989888", "1", "lr", "0.008", "2000")]
    assert (nan["status"], nan["loss"]) == ("diverged", "")
    null = by_run[("301989888", "1", "warmup_steps", "0.004", "1000")]
    assert (null["status"], null["loss"]) == ("failed", "")
    batch = next(r for r in rows if r["ablated"] == "batch_seqs")
    assert (batch["batch_seqs"], batch["steps"], batch["lr"]) == ("256", "2560", "0.008")
    entry = next(e for e in json.loads((data_dir / "catalog.json").read_text())["entries"]
                 if e["name"] == "marin-adamw")
    assert (entry["rows"], entry["cells"], entry["diverged"], entry["failed"]) == (8, 3, 2, 1)
    assert entry["setup"]["missing"] == "no 520m; no 1.2b; no 2x; no 4x; no 8x; no 16x at 300m"  # 520m: a stub
    assert build.main([str(upstream), "--data-dir", str(data_dir), "--check"]) == 0
    (data_dir / "sources" / "marin-adamw" / "trials.csv").write_text("changed\n")
    assert build.main([str(upstream), "--data-dir", str(data_dir), "--check"]) == 1


def test_a_changed_byte_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys):
    upstream = _fake_upstream(tmp_path, monkeypatch)
    target = upstream / "Results" / "adamw" / "300m" / "1" / "result.json"
    target.write_bytes(target.read_bytes().replace(b"3.3", b"3.4", 1))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "catalog.json").write_text('{"entries": []}\n')
    assert build.main([str(upstream), "--data-dir", str(data_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "adamw/300m/1/result.json" in err[0] and "sha256" in err[0]
    assert sorted(p.name for p in data_dir.rglob("*")) == ["catalog.json"]
    assert (data_dir / "catalog.json").read_text() == '{"entries": []}\n'


@pytest.mark.parametrize("damage", ("missing", "unknown_setting"))
def test_bad_upstream_exits_2(tmp_path, monkeypatch, capsys, damage):
    upstream = _fake_upstream(tmp_path, monkeypatch)
    target = upstream / "Results" / "adamw" / "130m" / "16" / "result.json"
    if damage == "missing":
        target.unlink()
    else:
        content = json.loads(target.read_text())
        content["best_config"]["mystery"] = 1
        data = json.dumps(content).encode()
        target.write_bytes(data)
        monkeypatch.setitem(build.UPSTREAM_FILES, "adamw/130m/16", ("0" * 40, _sha(data)))
    assert build.main([str(upstream), "--data-dir", str(tmp_path / "data")]) == 2
    assert "130m/16" in capsys.readouterr().err and not (tmp_path / "data").exists()


@pytest.mark.skipif(not os.environ.get("SCALING_ADVISOR_MARIN_UPSTREAM"),
                    reason="set SCALING_ADVISOR_MARIN_UPSTREAM to the upstream folder to rebuild from it")
def test_rebuild_from_the_real_upstream_equals_the_shipped_files():
    assert build.main([os.environ["SCALING_ADVISOR_MARIN_UPSTREAM"], "--check"]) == 0
