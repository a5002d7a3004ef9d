"""Issue 25, item 14: messages that point at the real problem."""
from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from advisor.cli import cli


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_line_exit_2(result) -> str:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_a_tiny_active_count_is_named_not_the_total():
    line = _one_line_exit_2(_run("recommend", "--params", "7B", "--active-params", "1", "--tokens", "2T"))
    assert "active count 1" in line and "7B parameters" not in line


def test_a_candidate_without_its_batch_names_the_empty_column(tmp_path):
    (tmp_path / "c.csv").write_text("name,lr,batch_tokens\nfirst,3e-4,4000000\nsecond,3e-4,\n")
    line = _one_line_exit_2(_run("check", "--params", "7B", "--tokens", "2T", "--configs", tmp_path / "c.csv"))
    assert "second" in line and "batch_tokens is empty" in line and "give the batch once" not in line


def test_a_candidates_csv_with_a_byte_order_mark_keeps_its_names(tmp_path):
    (tmp_path / "c.csv").write_bytes("name,lr,batch_tokens\nmine,3e-4,4000000\n".encode("utf-8-sig"))
    result = _run("check", "--params", "7B", "--tokens", "2T", "--configs", tmp_path / "c.csv", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["name"] == "mine"


def test_an_empty_model_name_says_so():
    line = _one_line_exit_2(_run("recommend", "--params", "7B", "--tokens", "2T", "--model", ""))
    assert "empty" in line and "directory" not in line


def test_a_nanogpt_config_with_arithmetic_is_read(tmp_path):
    (tmp_path / "cfg.py").write_text("n_layer = 12\nn_head = 12\nn_embd = 768 * 1\nblock_size = 1024\n"
                                     "vocab_size = 50304\nbatch_size = 5 * 8\n")
    result = _run("recommend", "--config", tmp_path / "cfg.py", "--tokens", "2T", "--json")
    assert result.exit_code == 0, result.output
    assert 8e7 < json.loads(result.stdout)["n_params"] < 9e7  # GPT-2 small: 85M non-embedding


def test_a_run_says_when_trials_are_left_marked_running(tmp_path):
    from calibration.cli.calibrate import run_line
    from calibration.sweep.run import RunSummary

    counts = {"ok": 71, "diverged": 0, "pruned": 0, "failed": 0, "running": 1, "pending": 0}
    line = run_line(tmp_path, RunSummary(str(tmp_path), planned=72, ran=40, skipped=31, counts=counts))
    assert "71 ok" in line and "1 still marked running" in line and "calibrate status" in line
    assert "still marked running" not in run_line(tmp_path, RunSummary(str(tmp_path), planned=72,
                                                                       counts={**counts, "running": 0}))


def test_a_deleted_working_folder_is_one_line(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    script = f"cd {gone} && rmdir {gone} && exec {sys.executable} -m advisor.cli calibrate status {tmp_path}"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        "Error: the current folder no longer exists (it was deleted while in use): cd to an existing folder"]
