"""The shipped sources and the catalog: Step Law's sweeps converted to Contract 1 (sums, rows, cells,
columns), the rebuild script on a tiny fake upstream (never the real one), name resolution, and the
`advisor sources` / `--model NAME` command lines."""
from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import subprocess
import sys
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from advisor import catalog
from advisor.cli import cli
from advisor.laws import HYPERPARAMETER_LAWS
from advisor.model import ModelError

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "data" / "sources" / "build_steplaw.py"
CONTRACT = ("trial_id status n_params n_params_total n_layer d_model n_head seq_len tokens lr batch_tokens "
            "batch_seqs steps warmup_steps schedule weight_decay beta1 beta2 grad_clip seed loss train_loss "
            "flops wall_s device data_id code_version finished_at").split()
EXPECTED = {"steplaw-dense": (1911, 17), "steplaw-moe": (708, 16)}


def _build_module():
    spec = importlib.util.spec_from_file_location("build_steplaw", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while building the class
    before, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ inside data/ (installed)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = before
    return module


build = _build_module()


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------- shipped tables


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_table_matches_its_recorded_sums_rows_and_cells(name):
    entry = catalog.entry(name, "source")
    path = catalog.resolve_source(name)
    rows = _rows(path)
    assert _sha(path) == entry["table_sha256"]
    assert entry["table_sha256"] in (path.parent / "README.md").read_text()
    assert entry["upstream_sha256"] in (path.parent / "README.md").read_text()
    assert (len(rows), build.count_cells(rows)) == EXPECTED[name] == (entry["rows"], entry["cells"])
    assert set(CONTRACT) <= set(rows[0])
    assert len({r["trial_id"] for r in rows}) == len(rows)
    assert {r["status"] for r in rows} == {"ok"} and entry["diverged"] == 0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_units(name):
    rows = _rows(catalog.resolve_source(name))
    for r in rows:
        assert int(r["batch_tokens"]) == int(r["batch_seqs"]) * 2048 and r["seq_len"] == "2048"
        # bs * steps * 2048 is the run's token budget D (within rounding of the step count)
        assert abs(int(r["batch_tokens"]) * int(r["steps"]) / int(r["tokens"]) - 1) < 0.005
        assert int(r["flops"]) == 6 * int(r["n_params_active"]) * int(r["tokens"])
        assert 1.5 < float(r["loss"]) < 12 and r["n_params_total"] == "" and r["weight_decay"] == ""
    active = {int(r["n_params_active"]) for r in rows}
    total = {int(r["n_params"]) for r in rows}
    assert (active == total) == (name == "steplaw-dense")


def test_catalog_records_what_the_build_script_checks():
    for source in build.SOURCES:
        entry = catalog.entry(source.name, "source")
        assert entry["upstream_sha256"] == source.upstream_sha256 and entry["commit"] == build.COMMIT
        assert entry["published_law"] in HYPERPARAMETER_LAWS
        for key in ("description", "upstream", "citation", "terms"):
            assert entry[key]


# ---------------------------------------------------------------------------------- converter

DENSE_HEADER = "h,ffnh,numh,numl,lr,bs,ti,loss,smooth loss,exp_name,D,N,D/N"
DENSE_LINES = [
    "960,9368,15,7,0.0003453,736,66342,2.413517,2.3976,run_a_lr3.453e-04_bs736_mlr1.00e-05,100000000000,214663680,465.8",
    "960,9368,15,7,1.221e-03,32,61035,nan,2.9,run_b_mlr1e-5,4000000000,214663680,18.6",
]
MOE_HEADER = ("seq_len,topk,nume,moeh,sed,h,ffnh,numh,numl,lr,bs,ti,loss,smooth loss,exp_name,numld,N,Na,D,"
              "total_time")
MOE_LINES = [
    "2048,1,89,352,352,1408,3904,11,16,1.726e-04,32,30517,2.7217,2.6806,moe_a_mlr1e-5_gg,1,2150612992,187973632,"
    "2000000000,12390.5",
]


def _fake_upstream(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dense_lr_bs_loss.csv").write_text("\n".join([DENSE_HEADER, *DENSE_LINES]) + "\n")
    (folder / "moe_lr_bs_loss.csv").write_text("\n".join([MOE_HEADER, *MOE_LINES]) + "\n")
    return {name: _sha(folder / name) for name in ("dense_lr_bs_loss.csv", "moe_lr_bs_loss.csv")}


def _parsed(header: str, line: str) -> dict:
    return next(csv.DictReader([header, line]))


def test_converter_maps_units_and_loss_columns():
    dense = build.SOURCES[0]
    row = build.convert_row(_parsed(DENSE_HEADER, DENSE_LINES[0]), dense, "ab" * 32, 2)
    assert row["batch_seqs"] == 736 and row["batch_tokens"] == 736 * 2048 and row["seq_len"] == 2048
    assert row["n_params"] == row["n_params_active"] == 214663680 and row["tokens"] == 100_000_000_000
    assert row["steps"] == 66342 and row["lr"] == 0.0003453 and row["final_lr"] == 1e-5
    assert (row["loss"], row["train_loss"], row["status"]) == (2.3976, 2.413517, "ok")
    assert row["data_id"] == "steplaw-dense:" + "ab" * 6 and row["n_params_total"] is None
    moe = build.SOURCES[1]
    row = build.convert_row(_parsed(MOE_HEADER, MOE_LINES[0]), moe, "cd" * 32, 2)
    assert row["n_params"] == 2150612992 and row["n_params_active"] == 187973632
    assert row["batch_tokens"] == 32 * 2048 and row["flops"] == 6 * 187973632 * 2_000_000_000
    assert row["wall_s"] == 12390.5 and row["moe_experts"] == 89 and row["moe_topk"] == 1


def test_non_finite_loss_is_diverged_and_ids_are_stable():
    dense = build.SOURCES[0]
    rows = [_parsed(DENSE_HEADER, line) for line in DENSE_LINES]
    first = build.convert(rows, dense, "ab" * 32)
    assert [r["status"] for r in first] == ["ok", "diverged"]
    respelled = dict(rows[0], lr="3.453e-04")  # the same number spelled differently: the same trial
    assert build.convert([respelled], dense, "ab" * 32)[0]["trial_id"] == first[0]["trial_id"]
    with pytest.raises(build.BuildError):
        build.convert([rows[0], respelled], dense, "ab" * 32)  # one configuration twice


def test_read_upstream_refuses_a_wrong_sum_and_a_missing_column(tmp_path):
    sums = _fake_upstream(tmp_path)
    dense = build.SOURCES[0]
    rows, sha = build.read_upstream(tmp_path, dense, sums["dense_lr_bs_loss.csv"])
    assert len(rows) == 2 and sha == sums["dense_lr_bs_loss.csv"]
    with pytest.raises(build.BuildError, match="sha256"):
        build.read_upstream(tmp_path, dense, "0" * 64)
    (tmp_path / "dense_lr_bs_loss.csv").write_text(DENSE_HEADER.replace(",smooth loss", "") + "\n")
    with pytest.raises(build.BuildError, match="smooth loss"):
        build.read_upstream(tmp_path, dense, _sha(tmp_path / "dense_lr_bs_loss.csv"))


# ---------------------------------------------------------------------------------- the script


def _script(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def _expect(sums: dict[str, str]) -> list[str]:
    return [arg for name, hexdigest in sums.items() for arg in ("--expect-sha", f"{name}={hexdigest}")]


def test_script_builds_then_checks_a_fake_upstream(tmp_path):
    sums = _fake_upstream(tmp_path / "up")
    out = _script(tmp_path / "up", "--data-dir", tmp_path / "data", *_expect(sums))
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "data" / "catalog.json").read_text())
    assert [e["rows"] for e in doc["entries"]] == [2, 1]
    table = tmp_path / "data" / "sources" / "steplaw-dense" / "trials.csv"
    assert doc["entries"][0]["table_sha256"] == _sha(table)
    assert _script(tmp_path / "up", "--data-dir", tmp_path / "data", "--check", *_expect(sums)).returncode == 0
    table.write_bytes(table.read_bytes().replace(b"2.3976", b"2.3977"))
    assert _script(tmp_path / "up", "--data-dir", tmp_path / "data", "--check", *_expect(sums)).returncode == 1


def test_script_keeps_the_rest_of_the_catalog(tmp_path):
    """A model may share a source's name (the model fitted to it): a rebuild replaces only the source."""
    sums = _fake_upstream(tmp_path / "up")
    model = {"name": "steplaw-dense", "kind": "model", "path": "models/steplaw-dense/model.json",
             "description": "fitted to the source"}
    shipped = {"schema": "scaling-advisor/catalog", "version": 1, "default_model": "steplaw-dense",
               "entries": [model, {"name": "steplaw-moe", "kind": "source", "rows": 0}]}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "catalog.json").write_text(json.dumps(shipped))
    assert _script(tmp_path / "up", "--data-dir", tmp_path / "data", *_expect(sums)).returncode == 0
    doc = json.loads((tmp_path / "data" / "catalog.json").read_text())
    assert doc["default_model"] == "steplaw-dense" and doc["entries"][0] == model
    assert [(e["name"], e["kind"], e.get("rows")) for e in doc["entries"][1:]] == [
        ("steplaw-moe", "source", 1), ("steplaw-dense", "source", 2)]


def test_script_exits_2_and_writes_nothing_on_a_changed_byte(tmp_path):
    sums = _fake_upstream(tmp_path / "up")
    moe = tmp_path / "up" / "moe_lr_bs_loss.csv"
    moe.write_bytes(moe.read_bytes().replace(b"2.7217", b"2.7218"))  # one byte changed upstream
    out = _script(tmp_path / "up", "--data-dir", tmp_path / "data", *_expect(sums))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("damage", ["missing_file", "missing_column", "bad_expect"])
def test_script_exits_2_on_bad_input(tmp_path, damage):
    sums = _fake_upstream(tmp_path / "up")
    if damage == "missing_file":
        (tmp_path / "up" / "dense_lr_bs_loss.csv").unlink()
    elif damage == "missing_column":
        (tmp_path / "up" / "dense_lr_bs_loss.csv").write_text(DENSE_HEADER.replace(",N,", ",n,") + "\n")
        sums["dense_lr_bs_loss.csv"] = _sha(tmp_path / "up" / "dense_lr_bs_loss.csv")
    else:
        sums["dense_lr_bs_loss.csv"] = "xyz"
    out = _script(tmp_path / "up", "--data-dir", tmp_path / "data", *_expect(sums))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()


# ---------------------------------------------------------------------------------- catalog


def test_catalog_resolves_names_and_paths(tmp_path):
    assert catalog.default_model_path().is_file()
    assert catalog.default_model_name() in catalog.names("model")
    assert catalog.resolve_model("cpu-default") == catalog.entry_path(catalog.entry("cpu-default", "model"))
    assert catalog.resolve_source("steplaw-moe").name == "trials.csv"
    own = tmp_path / "mine.json"
    own.write_text("{}")
    assert catalog.resolve_model(str(own)) == own
    assert catalog.resolve_model("steplaw-moe").parent.name == "steplaw-moe"  # a model and a source share it
    for bad in ("no-such-model", "a\0b"):  # unknown, an impossible path
        with pytest.raises(ModelError, match="cpu-default"):
            catalog.resolve_model(bad)
    for e in catalog.entries():
        assert e["kind"] in catalog.KINDS and catalog.entry_path(e).is_file(), e["name"]


def test_package_data_installs_every_catalog_entry():
    """pyproject's package-data globs (relative to data/) match the catalog and every shipped file."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "scaling_advisor_data"]
    data = ROOT / "data"
    installed = {p for pattern in patterns for p in data.glob(pattern) if p.is_file()}
    wanted = [data / "catalog.json"] + [catalog.entry_path(e) for e in catalog.entries()]
    wanted += [catalog.entry_path(e).parent / "README.md" for e in catalog.entries("source")]
    wanted += [data / "models" / "cpu-default" / "report" / "law_lr.png"]
    assert all(p in installed for p in wanted), [str(p) for p in wanted if p not in installed]


# ---------------------------------------------------------------------------------- command lines


def _run(*args):
    return CliRunner().invoke(cli, list(args))


def test_sources_json_lists_both_sources_and_the_default_model():
    result = _run("sources", "--json")
    assert result.exit_code == 0, result.output
    table = json.loads(result.stdout)
    kinds = {e["name"]: e["kind"] for e in table["entries"]}
    assert kinds["steplaw-dense"] == kinds["steplaw-moe"] == "source" and kinds["cpu-default"] == "model"
    assert [e["name"] for e in table["entries"] if e["default"]] == [table["default_model"]]
    assert all(e["exists"] for e in table["entries"])
    one = json.loads(_run("sources", "steplaw-dense", "--json").stdout)["entries"]
    assert [e["rows"] for e in one if e["kind"] == "source"] == [1911]  # the source and the model fitted on it
    assert [e["kind"] for e in one if e["kind"] == "model"] == ["model"]
    text = _run("sources").stdout
    assert "steplaw-moe" in text and "cpu-default" in text


def test_recommend_with_a_shipped_model_name():
    out = subprocess.run([sys.executable, "-m", "advisor.cli", "recommend", "--params", "7B", "--model",
                          "cpu-default", "--json"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["source"]["path"] == str(catalog.resolve_model("cpu-default"))
    assert rec["lr_low"] < rec["lr"] < rec["lr_high"]
    shown = _run("show", "--model", "cpu-default", "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["provenance"]["source"] == "calibration"


@pytest.mark.parametrize("args", [
    ["recommend", "--params", "7B", "--model", "no-such-model"],
    ["compare", "--params", "7B", "--model", "no-such-model"],
    ["plan", "--params", "7B", "--tokens", "2T", "--gpus", "8", "--model", "no-such-model"],
    ["show", "no-such-model"],
    ["show", "--model", "no-such-model"],
    ["sources", "no-such-model"],
])
def test_unknown_names_are_one_line_exit_2(args):
    result = _run(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("text", ["{not json", '{"schema": "other", "entries": []}',
                                  '{"schema": "scaling-advisor/catalog", "entries": [{"name": "x"}]}'])
def test_a_broken_catalog_is_one_line_exit_2(tmp_path, monkeypatch, text):
    (tmp_path / "catalog.json").write_text(text)
    monkeypatch.setattr(catalog, "data_dir", lambda: tmp_path)
    for args in (["sources"], ["recommend", "--params", "7B", "--model", "cpu-default"]):
        result = _run(*args)
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.output
