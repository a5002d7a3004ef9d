"""Issue 25, items 1-3: every file a command writes goes through one clobbering check and one writer
(advisor/outputs.py). Symlinks and temporary names never redirect a write onto the user's files, --plot is
checked like any other output before any work, and the installed package's data is never replaced."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from advisor.cli import cli
from calibration.fit.synthetic import synthetic_trials


def _run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def _one_line_exit_2(result):
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A working folder with a trial table t.csv and a precious keep.csv."""
    monkeypatch.chdir(tmp_path)
    synthetic_trials(seed=0, lr_points=5, tokens_per_param=(20,)).to_csv("t.csv", index=False)
    Path("keep.csv").write_text("precious\n")
    return tmp_path


# ------------------------------------------------------------------ item 1: symlinks and temporary names

def test_a_report_file_that_links_to_the_table_is_refused(folder):
    Path("rep").mkdir()
    Path("rep/report.md").symlink_to(folder / "t.csv")
    before = Path("t.csv").read_bytes()
    _one_line_exit_2(_run("fit", "t.csv", "-o", "m.json", "--report", "rep", "--force", "--bootstrap", "0"))
    assert Path("t.csv").read_bytes() == before and not Path("m.json").exists()


def test_the_table_at_the_old_temporary_name_is_not_renamed_into_the_model(folder):
    os.rename("t.csv", "m.json.tmp")
    before = Path("m.json.tmp").read_bytes()
    result = _run("fit", "m.json.tmp", "-o", "m.json", "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    assert Path("m.json.tmp").read_bytes() == before  # the input is still there, untouched
    assert json.loads(Path("m.json").read_text())["schema"] == "scaling-advisor/fitted-model"


def test_a_symlink_planted_at_a_temporary_name_is_never_followed(folder):
    Path("new.json.tmp").symlink_to(folder / "keep.csv")
    assert _run("fit", "t.csv", "-o", "new.json", "--bootstrap", "0").exit_code == 0
    assert Path("keep.csv").read_text() == "precious\n"
    assert not Path("new.json").is_symlink() and json.loads(Path("new.json").read_text())["laws"]


def test_export_never_writes_through_a_planted_temporary_symlink(folder):
    import pandas as pd

    from calibration.sweep.export import write_table

    Path(".exp.csv.tmp").symlink_to(folder / "keep.csv")
    write_table(pd.DataFrame({"a": [1, 2]}), folder / "exp.csv")
    assert Path("keep.csv").read_text() == "precious\n"
    assert pd.read_csv("exp.csv")["a"].tolist() == [1, 2]
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")) == [".exp.csv.tmp"]  # no leftovers


def test_an_output_symlink_is_checked_as_the_file_it_points_to(folder):
    Path("out.csv").symlink_to(folder / "keep.csv")
    from advisor.cli.style import InputError, refuse_clobbering

    with pytest.raises(InputError, match="exists"):
        refuse_clobbering({}, {"-o": "out.csv"}, force=False)
    with pytest.raises(InputError, match="same file"):
        refuse_clobbering({"TABLE": "keep.csv"}, {"-o": "out.csv"}, force=True)


# ------------------------------------------------------------------ item 2: --plot like any other output

def _config(path: Path) -> Path:
    path.write_text(json.dumps({"model_type": "llama", "hidden_size": 1024, "intermediate_size": 2816,
                                "num_hidden_layers": 8, "num_attention_heads": 8, "vocab_size": 32000,
                                "max_position_embeddings": 2048}))
    return path


def test_plot_never_replaces_the_input_config(folder):
    before = _config(Path("cfg.png")).read_bytes()
    for force in ([], ["--force"]):
        result = _run("recommend", "--config", "cfg.png", "--tokens", "20B", "--plot", "cfg.png", *force)
        _one_line_exit_2(result)
        assert Path("cfg.png").read_bytes() == before
    assert "same file as --config" in result.stderr


def test_plot_refuses_an_existing_file_without_force(folder):
    Path("map.png").write_bytes(b"mine")
    result = _run("check", "--params", "1B", "--tokens", "20B", "--lr", "1e-3", "--batch", "1M", "--plot", "map.png")
    _one_line_exit_2(result)
    assert "--force" in result.stderr and Path("map.png").read_bytes() == b"mine"


@pytest.mark.parametrize("name", ["out.csv", "mymodel"])
def test_plot_refuses_a_name_it_would_not_write_before_computing(folder, name):
    result = _run("recommend", "--params", "1B", "--tokens", "20B", "--plot", name)
    _one_line_exit_2(result)
    assert ".png" in result.stderr and result.stdout == ""  # refused up front: no answer computed
    assert not Path(name).exists() and not Path(name + ".png").exists()


def test_plot_names_the_file_it_writes(folder):
    result = _run("recommend", "--params", "1B", "--tokens", "20B", "--plot", "sub/map.svg")
    assert result.exit_code == 0, result.output
    assert "wrote sub/map.svg" in result.stderr and Path("sub/map.svg").read_text().lstrip().startswith("<?xml")


# ------------------------------------------------------------------ item 3: the installed package's data

def test_outputs_inside_the_installed_data_are_refused(folder, monkeypatch):
    import advisor.paths

    installed = folder / "site-packages" / "scaling_advisor_data"
    (installed / "models" / "m").mkdir(parents=True)
    (installed / "catalog.json").write_text("{}")
    monkeypatch.setattr(advisor.paths, "installed_data_dir", lambda: installed)
    for target in (installed / "catalog.json", installed / "models" / "m" / "model.json"):
        result = _run("fit", "t.csv", "-o", target, "--force", "--bootstrap", "0")
        _one_line_exit_2(result)
        assert "installed data" in result.stderr
    _one_line_exit_2(_run("fit", "t.csv", "-o", "m.json", "--report", installed / "models", "--bootstrap", "0"))
    assert (installed / "catalog.json").read_text() == "{}"


def test_a_checkout_data_folder_is_the_developers():
    from advisor.paths import installed_data_dir

    assert installed_data_dir() is None  # the tests run from the checkout: data/ is under git


def test_design_out_is_checked_like_any_other_output(folder):
    Path("corpus.txt").write_text("some text " * 1000)
    before = Path("corpus.txt").read_bytes()
    result = _run("calibrate", "design", "--target", "7B", "--tokens", "2T", "--budget-flops", "1e18",
                  "--data", "corpus.txt", "--out", "corpus.txt", "--force")
    _one_line_exit_2(result)
    assert "same file as --data" in result.stderr and Path("corpus.txt").read_bytes() == before


def test_an_output_under_a_file_or_on_a_folder_is_refused_before_any_work(folder):
    from advisor.outputs import OutputError, check_outputs

    with pytest.raises(OutputError, match="keep.csv is a file, not a folder"):
        check_outputs({}, {"-o": "keep.csv/m.json"})
    os.mkdir("reports")
    with pytest.raises(OutputError, match="reports is a folder"):
        check_outputs({}, {"-o": "reports"}, force=True)
    check_outputs({}, {"-o": "new/sub/m.json"})  # missing folders: the writer makes them
    result = _run("fit", "t.csv", "-o", "keep.csv/m.json", "--bootstrap", "0")
    _one_line_exit_2(result)
    assert "is a file, not a folder" in result.stderr and Path("keep.csv").is_file()
