"""`advisor fit` with hostile but realistic input (issue 14): outputs that are inputs, duplicated or mixed
tables, tables without information or out of floating-point range, and disks that refuse the write.
Every refusal is one line, exit 2, and leaves the user's files as they were."""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from advisor.cli.style import InputError
from calibration.fit import ScaleLawFitter, write_artifact
from calibration.fit.synthetic import synthetic_trials
from calibration.fit.table import FitInputError

FAST = {"n_boot": 0, "loss_surface": False}


def _table(**kw) -> pd.DataFrame:
    return synthetic_trials(**{"seed": 0, "lr_points": 5, "tokens_per_param": (20,), **kw})


def _codes(fitter: ScaleLawFitter) -> set[str]:
    return {w.code for w in fitter.warnings_}


def _files(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _fit_cli(*args):
    return CliRunner().invoke(cli, ["fit", *args])


def _assert_one_line_exit_2(result):
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr


# ------------------------------------------------------------------ item 4: outputs that are inputs

@pytest.mark.parametrize("table, output, report", [
    ("t.csv", "t.csv", None),  # -o is the table itself
    ("t.csv", "link.csv", None),  # a symlink to it
    ("t.csv", "hard.csv", None),  # a hard link to it
    ("sub/../t.csv", "./t.csv", None),  # another spelling of it
    ("loss_vs_lr.png", "m.json", "."),  # the report would write its figure over the table
    ("t.csv", "rep/report.md", "rep"),  # the report would write over the model
])
def test_fit_refuses_an_output_that_is_its_input_or_the_other_output(tmp_path, monkeypatch, table, output, report):
    monkeypatch.chdir(tmp_path)
    _table().to_csv("t.csv", index=False)
    Path("sub").mkdir()
    Path("loss_vs_lr.png").write_bytes(Path("t.csv").read_bytes())
    Path("link.csv").symlink_to("t.csv")
    os.link("t.csv", "hard.csv")
    before = _files(tmp_path)
    result = _fit_cli(table, "-o", output, "--bootstrap", "0", "--force", *(["--report", report] if report else []))
    _assert_one_line_exit_2(result)
    assert _files(tmp_path) == before  # nothing replaced, nothing new


def test_the_clobbering_check_serves_any_command_with_two_outputs(tmp_path):
    """calibrate export -o x.csv --curves x.csv: two outputs on one file."""
    from advisor.cli.style import refuse_clobbering

    with pytest.raises(InputError, match="--curves"):
        refuse_clobbering({"STORE": tmp_path / "trials.sqlite"}, {"-o": tmp_path / "x.csv",
                                                                  "--curves": tmp_path / "x.csv"})
    refuse_clobbering({"STORE": tmp_path / "trials.sqlite"}, {"-o": tmp_path / "x.csv", "--curves": None})


# ------------------------------------------------------------------ item 5: duplicated and mixed tables

def test_duplicate_rows_count_once_and_are_said():
    df = synthetic_trials(seed=1, lr_points=5, tokens_per_param=(10, 40), noise=0.01)
    once = ScaleLawFitter(n_boot=40, seed=0, loss_surface=False).fit(df)
    twice = ScaleLawFitter(n_boot=40, seed=0, loss_surface=False).fit(pd.concat([df, df], ignore_index=True))
    prov = twice.provenance_
    assert (prov.n_trials, prov.n_trials_used, prov.n_excluded["duplicate"]) == (2 * len(df), len(df), len(df))
    assert "duplicate_trials" in _codes(twice) and "duplicate_trials" not in _codes(once)
    # the same fit, the same intervals: a repeated row is not a new measurement
    assert twice.lr_law_.log_coef == once.lr_law_.log_coef and twice.lr_law_.samples == once.lr_law_.samples


def test_repeated_runs_that_differ_are_not_duplicates():
    df = _table(repeats=2, noise=0.01)
    fitter = ScaleLawFitter(**FAST).fit(df)
    assert fitter.provenance_.n_trials_used == len(df) and "duplicate_trials" not in _codes(fitter)


def _two_shapes(df: pd.DataFrame) -> pd.DataFrame:
    df = df.assign(n_layer=2, d_model=64)
    one_size = df["n_params"] == df["n_params"].min()
    df.loc[one_size & (df.index % 2 == 0), ["n_layer", "d_model"]] = [4, 32]
    return df


@pytest.mark.parametrize("mix, code", [
    (lambda df: df.assign(data_id=np.where(df.index % 2, "kjv-bytes:aaa", "owt-gpt2:bbb")), "mixed_data"),
    (lambda df: df.assign(code_version=np.where(df.index % 3, "0.1.0+g1", "0.1.0+g2")), "mixed_code_versions"),
    (_two_shapes, "mixed_architectures"),
    (lambda df: df.assign(source=np.where(df.index % 2, "steplaw-dense", "mine")), "mixed_sources"),
])
def test_a_table_that_pools_several_setups_is_warned(mix, code):
    df = _table()
    assert not {c for c in _codes(ScaleLawFitter(**FAST).fit(df)) if c.startswith("mixed_")}
    mixed = ScaleLawFitter(**FAST).fit(mix(df))
    assert {c for c in _codes(mixed) if c.startswith("mixed_")} == {code}


# ------------------------------------------------------------------ item 10: no information, out of range

def test_a_table_whose_every_loss_is_equal_is_refused(tmp_path):
    table = tmp_path / "flat.csv"
    _table().assign(loss=3.0).to_csv(table, index=False)
    with pytest.raises(FitInputError, match="no information"):
        ScaleLawFitter(**FAST).fit(table)
    _assert_one_line_exit_2(_fit_cli(str(table), "-o", str(tmp_path / "m.json")))
    assert not (tmp_path / "m.json").exists()


def test_a_flat_cell_is_left_out_and_said():
    df = synthetic_trials(seed=0, lr_points=5, tokens_per_param=(10, 40))
    cell = (df["n_params"] == df["n_params"].max()) & (df["tokens"] > df["tokens"].median())
    without = ScaleLawFitter(**FAST).fit(df[~cell])
    fitter = ScaleLawFitter(**FAST).fit(df.assign(loss=np.where(cell, 3.0, df["loss"])))
    assert fitter.provenance_.n_excluded["flat_cell"] == cell.sum() and "flat_cells" in _codes(fitter)
    assert np.allclose(fitter.lr_law_.log_coef, without.lr_law_.log_coef)


@pytest.mark.parametrize("column", ["n_params", "tokens"])
def test_a_table_beyond_floating_point_is_refused_and_nothing_unreadable_is_written(tmp_path, column):
    df = _table()
    df[column] = df[column] * 1e300  # 6ND overflows
    table = tmp_path / "t.csv"
    df.to_csv(table, index=False)
    for boot in ("0", "20"):
        _assert_one_line_exit_2(_fit_cli(str(table), "-o", str(tmp_path / "m.json"), "--bootstrap", boot))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_the_writer_never_writes_a_model_the_advisor_cannot_read(tmp_path):
    doc = ScaleLawFitter(**FAST).fit(_table()).artifact_.to_json()
    doc["laws"]["lr"]["log_coef"][1] = float("inf")
    with pytest.raises(FitInputError, match="nothing written"):
        write_artifact(doc, tmp_path / "m.json")
    doc["laws"]["lr"]["log_coef"][1] = -0.3
    doc["laws"]["lr"]["log_coef"][0] = 800.0  # finite, but the LR it predicts is not
    with pytest.raises(FitInputError, match="nothing written"):
        write_artifact(doc, tmp_path / "m.json")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ item 8: disks that refuse the write

def _failing_disk(monkeypatch, code: int, create: bool, name: str) -> None:
    """Writes of files called `name` (through advisor/outputs.py) fail: on a full disk (create) the temporary
    file is made and written, then the write fails; on a read-only disk it cannot even be made."""
    import tempfile

    if create:
        original = os.replace

        def replace(src, dst, *args, **kwargs):
            if Path(dst).name == name:
                raise OSError(code, os.strerror(code), str(dst))
            return original(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, "replace", replace)
        return
    original_mkstemp = tempfile.mkstemp

    def mkstemp(*args, prefix=None, **kwargs):
        if prefix == f".{name}.":
            raise OSError(code, os.strerror(code), prefix)
        return original_mkstemp(*args, prefix=prefix, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


@pytest.mark.parametrize("code, create", [(errno.ENOSPC, True), (errno.EROFS, False)])
def test_an_unwritable_output_is_one_line_and_leaves_no_temp_file(tmp_path, monkeypatch, code, create):
    table = tmp_path / "t.csv"
    _table().to_csv(table, index=False)
    _failing_disk(monkeypatch, code, create, "m.json")
    _assert_one_line_exit_2(_fit_cli(str(table), "-o", str(tmp_path / "m.json"), "--bootstrap", "0"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_an_output_below_a_file_is_one_line(tmp_path):
    table = tmp_path / "t.csv"
    _table().to_csv(table, index=False)
    _assert_one_line_exit_2(_fit_cli(str(table), "-o", str(table / "m.json"), "--bootstrap", "0"))


def test_a_report_folder_that_cannot_be_made_is_refused_before_the_fit(tmp_path, monkeypatch):
    table = tmp_path / "t.csv"
    _table().to_csv(table, index=False)
    original = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if self.name == "rep":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    result = _fit_cli(str(table), "-o", str(tmp_path / "m.json"), "--report", str(tmp_path / "rep"),
                      "--bootstrap", "0")
    _assert_one_line_exit_2(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_a_report_that_fills_the_disk_is_one_line_after_the_model(tmp_path, monkeypatch):
    table = tmp_path / "t.csv"
    _table().to_csv(table, index=False)
    _failing_disk(monkeypatch, errno.ENOSPC, True, "report.md")
    result = _fit_cli(str(table), "-o", str(tmp_path / "m.json"), "--report", str(tmp_path / "rep"),
                      "--bootstrap", "0")
    _assert_one_line_exit_2(result)
    assert json.loads((tmp_path / "m.json").read_text())["schema"] == "scaling-advisor/fitted-model"


def test_a_trial_exported_twice_counts_once_though_its_rows_differ_in_the_last_digit():
    """The same trial twice: once with a float's last digits changed (a CSV round trip), once with its own
    finish time; and a table where one trial_id appears twice."""
    df = synthetic_trials(seed=1, lr_points=5, tokens_per_param=(10, 40), noise=0.01)
    again = df.assign(loss=df["loss"] * (1 + 1e-12), finished_at="2026-12-02T01:00:00Z")
    fitter = ScaleLawFitter(**FAST).fit(pd.concat([df.assign(finished_at="2026-12-01T00:00:00Z"), again]))
    assert fitter.provenance_.n_excluded["duplicate"] == len(df)
    ids = df.assign(trial_id=[f"t{i}" for i in range(len(df))])
    rerun = ids.iloc[:3].assign(loss=ids["loss"].iloc[:3] + 0.5)  # the same trial ids, other numbers
    fitter = ScaleLawFitter(**FAST).fit(pd.concat([ids, rerun]))
    assert fitter.provenance_.n_excluded["duplicate"] == 3
