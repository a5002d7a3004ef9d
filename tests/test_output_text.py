"""Output text a tester found wrong: numbers written as people write them, lines wrapped not cut, notes that
say which value was used and why."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from advisor.cli import cli
from advisor.units import format_days


def _out(*args) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("schedule", ["wsd", "linear"])
def test_a_schedule_to_zero_says_0(schedule):
    out = _out("recommend", "--params", "7B", "--tokens", "2T", "--schedule", schedule)
    assert f"then {schedule} to 0\n" in out and "0e0" not in out and "0× peak" not in out


@pytest.mark.parametrize("extra", [["--setup", "marin-adamw"], ["--batch", "64M"], ["--schedule", "wsd"]])
def test_short_answer_wraps_instead_of_cutting(extra):
    out = _out("recommend", "--params", "7B", "--tokens", "2T", *extra)
    assert "…" not in out and all(len(line) <= 100 for line in out.splitlines())
    if extra[0] == "--setup":
        assert re.search(r"deepseek\s+\d", out)  # the third setup's LR, once cut at "deepseek…"


def test_tokens_per_param_is_said_whole():
    assert "(20 tokens per (total) parameter)" in _out("recommend", "--params", "7B", "--tokens-per-param", "20")


def test_durations_read_as_people_say_them():
    assert format_days(1.0) == "1 day" and format_days(12.5) == "12.5 days" and format_days(0.3) == "7.2 hours"
    assert format_days(1258.2) == "1,258 days (3.44 years)"
    out = _out("plan", "--gpus", "8", "--days", "1")
    assert "1 day on 8 GPUs" in out and "1 days" not in out


def test_a_run_of_years_is_warned():
    from advisor.planning import plan

    p = plan(params="70B", tokens="2T", gpus=64, gpu="a100-40gb")
    assert p.wall_days > 365 and "run_too_long" in [getattr(w, "code", None) for w in p.warnings]
    assert "run_too_long" not in [getattr(w, "code", None) for w in plan(params="7B", tokens="2T", gpus=256).warnings]


def test_compare_counts_sequences_as_integers():
    out = _out("compare", "--params", "70B", "--tokens", "15T")
    table = out.split("Notes:")[0].split("-----\n", 1)[1]  # the rows, not the header's C = 6.25e+24
    assert "DeepSeek LLM" in table and not re.search(r"\de\+\d", table)


def test_explain_gives_whole_layers():
    out = _out("recommend", "--params", "7B", "--tokens", "2T", "--explain")
    assert re.search(r"n_layer ≈ \d+ under the standard shape", out)


def test_a_total_too_small_for_any_non_embedding_parameter_is_refused():
    result = CliRunner().invoke(cli, ["recommend", "--params", "1K", "--tokens", "2T"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "leave no non-embedding parameters" in result.output and "e-0" not in result.output


def test_setups_disagree_names_the_anchor_command_not_a_missing_section():
    out = _out("check", "--params", "7B", "--tokens", "2T", "--lr", "3e-4", "--batch", "4M")
    assert "'Setups' above" not in out and "`advisor recalibrate anchor --with" in out


def test_a_config_context_not_used_is_said():
    out = _out("recommend", "--config", "tests/fixtures/configs/llama-3-8b.json", "--tokens", "15T")
    assert "4,096, not the config's 8,192" in out.splitlines()[1]
