"""The model's verdict that it does not know the optimum at a target is one fact on the Recommendation
(lr_informative, batch_informative, assumed) that every command respects: recommend (text and --json),
check, compare, the batch ramp, plan and the constrained answers. Real code paths on the shipped models."""
from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from advisor.cli import cli
from advisor.recipe import recommend

LLAMA3 = ["--params", "405B", "--tokens", "15T"]  # the default model's intervals: LR 681x, batch 4,010x wide


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_the_verdict_is_on_the_recommendation_and_in_json():
    rec = json.loads(_run("recommend", *LLAMA3, "--json").stdout)
    assert rec["lr_informative"] is False and rec["batch_informative"] is False
    assert rec["lr_high"] / rec["lr_low"] > 100 and "lr" in rec  # the existing keys stay
    known = json.loads(_run("recommend", "--params", "1B", "--tokens", "20B", "--json").stdout)
    assert known["lr_informative"] is True and known["batch_informative"] is True and known["assumed"] is None


def test_derived_quantities_rest_on_the_assumed_point_not_the_hidden_one():
    rec = recommend("405B", "15T")
    assumed = rec.assumed
    assert assumed["batch_tokens"] == pytest.approx(math.sqrt(67.5e6 * 19.4e6), rel=0.02)  # DeepSeek, Step Law
    assert "DeepSeek LLM" in assumed["batch_tokens_basis"] and "Step Law" in assumed["lr_basis"]
    assert 0.7 < rec.batch_tokens_rounded / assumed["batch_tokens"] < 1.5  # the practical batch of the assumed one
    assert rec.steps == pytest.approx(rec.tokens / rec.batch_tokens_rounded, rel=1e-3)
    assert rec.steps < 0.5 * rec.tokens / rec.batch_tokens  # not from the hidden 11.5M point
    assert rec.final_lr / rec.final_lr_frac == pytest.approx(assumed["lr"], rel=1e-6)
    assert rec.tau_frac == pytest.approx(1 / (assumed["lr"] * rec.weight_decay * rec.steps), rel=1e-6)
    out = _run("recommend", *LLAMA3).stdout
    assert "assumed" in out and "not the model's point" in out and "1,192,092" not in out


def test_check_gives_no_penalty_or_change_against_an_unknown_optimum():
    res = _run("check", *LLAMA3, "--lr", "8e-5", "--batch", "16M")
    assert res.exit_code == 0
    assert "not known at this target" in res.stdout
    assert "penalty 0." not in res.stdout and "LR →" not in res.stdout and "4.68e-05" not in res.stdout
    data = json.loads(_run("check", *LLAMA3, "--lr", "8e-5", "--batch", "16M", "--json").stdout)
    assert data["lr_informative"] is False and data["penalty_pct"] is None and data["suggestion"] == {}
    assert not data["risky"] and {name for name, _ in data["published_lr"]} == {"DeepSeek LLM", "Step Law"}
    hot = json.loads(_run("check", *LLAMA3, "--lr", "2e-3", "--batch", "16M", "--json").stdout)
    assert hot["risky"] and hot["risk_reasons"] == ["lr_far_above_published"]  # > 4x every published law's LR


def test_compare_marks_the_row_and_the_ramp_refuses():
    out = _run("compare", *LLAMA3).stdout
    row = next(line for line in out.splitlines() if line.startswith("this model"))
    assert "not known" in row and "4.68e-05" not in row
    ramp = _run("recommend", "--params", "70B", "--tokens", "15T", "--batch-ramp")
    assert ramp.exit_code == 2 and "no batch ramp here" in ramp.output and "Traceback" not in ramp.output
    assert len(ramp.output.strip().splitlines()) == 1


def test_plan_does_not_cost_a_layout_against_an_unknown_optimum():
    res = _run("plan", "--params", "70B", "--tokens", "2T", "--gpus", "64", "--gpu", "a100-40gb")
    assert res.exit_code == 0 and "costs 0.00% in loss" not in res.stdout
    assert "this layout's batch is not costed" in res.stdout
    data = json.loads(_run("plan", "--params", "70B", "--tokens", "2T", "--gpus", "64", "--gpu", "a100-40gb",
                           "--json").stdout)
    assert data["batch_cost"] is None


def test_a_held_batch_gives_no_cost_against_an_unknown_optimum():
    out = _run("recommend", "--params", "70B", "--tokens", "2T", "--batch", "4M").stdout
    assert "no cost given: the optimum batch is not known" in out and "costs 0.00%" not in out


def test_the_known_case_is_unchanged():
    out = _run("check", "--params", "7B", "--tokens", "2T", "--lr", "3e-4", "--batch", "4M").stdout
    assert "optimum peak LR" in out and "penalty" in out and "not known" not in out
    assert "assumed" not in _run("recommend", "--params", "7B", "--tokens", "2T").stdout


def test_a_sensible_lr_is_not_refused_against_a_hidden_point():
    # cpu-default's optimum at 7B is not known (its point, 2.6e-7, is 1,000x below any published law's):
    # 3e-4 used to be refused as "1,140x the optimum"; an absurd LR is still refused against the published laws
    res = _run("check", "--params", "7B", "--tokens", "2T", "--lr", "3e-4", "--batch", "4M", "--model", "cpu-default")
    assert res.exit_code == 0 and "not known at this target" in res.stdout
    bad = _run("check", *LLAMA3, "--lr", "0.9", "--batch", "4M")
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1 and "published laws" in bad.output
