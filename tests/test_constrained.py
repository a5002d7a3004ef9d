"""Issue 21: the optimum under a constraint (recommend --batch / --lr), check's single change from the same
surface, the batch ramp, and their validation."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from advisor.checking import check
from advisor.cli import cli
from advisor.constrained import best_offset, constrained_optimum
from advisor.constrained_recipe import recommend_constrained
from advisor.penalty import FEATURES, PenaltyModel
from advisor.ramp import megatron_schedule, recommend_with_ramp
from advisor.recipe import recommend
from advisor.rules import beta2_rule

TARGET = dict(params="7B", tokens="2T")


def _run(*args):
    return CliRunner().invoke(cli, list(args))


def _surface(**coef) -> PenaltyModel:
    c = tuple(coef.get(f, 0.0) for f in FEATURES)
    return PenaltyModel(c, [], {"n_params": 1e9, "tokens": 1e11},
                        {"n_params": (1e8, 1e10), "tokens": (1e10, 1e12)})


def test_the_best_lr_at_a_batch_follows_the_cross_term_of_a_known_quadratic():
    """P = a·u² + b·v² + c·u·v: the best u at v is −c·v/(2a), and holding v costs (b − c²/4a)·v²."""
    a, b, c = 0.3, 0.4, -0.24
    pm = _surface(u2=a, v2=b, uv=c)
    for v in (-2.0, -1.0, 1.0, 2.0):
        u = best_offset(pm.coef, 0.0, 0.0, "batch", v)
        assert u == pytest.approx(-c * v / (2 * a), abs=0.01)
        cost = constrained_optimum(pm, 1e9, 1e11, "batch", v)["cost"].pct
        assert cost == pytest.approx((b - c * c / (4 * a)) * v * v, rel=0.02, abs=0.002)
        assert best_offset(pm.coef, 0.0, 0.0, "lr", v) == pytest.approx(-c * v / (2 * b), abs=0.01)


def test_a_surface_that_falls_away_far_out_answers_with_the_valley_of_the_optimum():
    """A cubic fitted near the optimum may turn down far out: the answer stays in the optimum's valley."""
    pm = _surface(u2=0.3, v2=0.3, up3=-0.2)
    assert abs(best_offset(pm.coef, 0.0, 0.0, "batch", 0.5)) < 0.1


def test_recommend_at_a_batch_moves_the_lr_with_the_batch_and_costs_more_further_away():
    joint = recommend(**TARGET)
    small, large = (recommend_constrained(**TARGET, batch=b) for b in ("1M", "16M"))
    assert small.lr < joint.lr * 1.2 < large.lr * 1.2 and small.lr < large.lr
    for rec, b in ((small, 1e6), (large, 16e6)):
        assert rec.batch_tokens_rounded == pytest.approx(b, rel=0.01)
        assert rec.unconstrained["lr"] == pytest.approx(joint.lr, rel=1e-9)
        assert rec.constraint["cost_pct_low"] <= rec.constraint["cost_pct"] <= rec.constraint["cost_pct_high"]
        assert rec.lr_low < rec.lr < rec.lr_high
        assert rec.steps == pytest.approx(2e12 / rec.batch_tokens_rounded, rel=0.001)
    at_optimum = recommend_constrained(**TARGET, batch=str(joint.batch_tokens_rounded))
    assert at_optimum.constraint["cost_pct"] < small.constraint["cost_pct"]
    assert at_optimum.constraint["cost_pct"] < large.constraint["cost_pct"]


def test_recommend_at_an_lr_gives_a_larger_batch_for_a_larger_lr():
    low, high = (recommend_constrained(**TARGET, lr=x) for x in ("3e-4", "1.5e-3"))
    assert low.batch_tokens < high.batch_tokens
    assert low.lr == pytest.approx(3e-4) and high.lr == pytest.approx(1.5e-3)
    assert low.batch_seqs * low.seq_len == low.batch_tokens_rounded


def test_recommend_batch_json_trains_with_the_constrained_pair_and_keeps_the_joint_optimum_beside_it():
    out = _run("recommend", "--params", "7B", "--tokens", "2T", "--batch", "4M", "--json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["batch_tokens"] == pytest.approx(4e6, rel=0.001)
    assert doc["lr"] != pytest.approx(doc["unconstrained"]["lr"], rel=1e-6)
    assert {"cost_pct", "cost_pct_low", "cost_pct_high", "rules_lr"} <= set(doc["constraint"])
    text = _run("recommend", "--params", "7B", "--tokens", "2T", "--batch", "4M", "--explain").output
    assert "the best LR at this batch" in text and "unconstrained" in text and "√ rule" in text
    short = _run("recommend", "--params", "7B", "--tokens", "2T", "--batch", "4M").output
    assert "held (--batch)" in short and "unconstrained" in short and "costs" in short


@pytest.mark.parametrize("args", [
    ("--batch", "1000"),                      # below one sequence of 4096
    ("--batch", "3T"),                        # above the whole run
    ("--lr", "0"),
    ("--lr", "5"),                            # 1000× off the optimum
    ("--batch", "4M", "--lr", "3e-4"),
    ("--batch", "4M", "--hp-law", "steplaw"),
    ("--batch-ramp", "--batch", "8M", "--max-batch", "4M"),   # the ramp's end given twice
    ("--max-batch", "8M"),                    # without --batch-ramp
    ("--batch-ramp", "--lr", "3e-4"),
    ("--schedule", "wsd", "--decay-frac", "0"),
    ("--schedule", "wsd", "--decay-frac", "1.5"),
    ("--schedule", "step"),
    ("--decay-frac", "0.2"),                  # without --schedule wsd
])
def test_bad_constraints_are_one_line_and_exit_2(args):
    out = _run("recommend", "--params", "7B", "--tokens", "2T", *args)
    assert out.exit_code == 2, out.output
    assert len(out.output.strip().splitlines()) == 1 and "Traceback" not in out.output


def test_check_suggests_the_best_lr_at_the_planned_batch():
    c = check(**TARGET, lr="3e-3", batch="16M")
    s = c.suggestion
    assert s and s["penalty_pct"] < c.penalty_pct
    if s["change"] == "lr":
        assert s["to"] == pytest.approx(recommend_constrained(**TARGET, batch="16M").lr, rel=0.01)


def test_the_ramp_doubles_to_the_recommended_batch_and_writes_megatron_thresholds():
    rec, ramp = recommend_with_ramp(**TARGET)
    stages = ramp["stages"]
    assert len(stages) >= 2 and stages[-1]["batch_tokens"] == rec.batch_tokens_rounded
    assert all(b["batch_seqs"] == 2 * a["batch_seqs"] for a, b in zip(stages, stages[1:]))
    assert all(a["to_tokens"] == b["from_tokens"] for a, b in zip(stages, stages[1:]))
    assert stages[0]["from_tokens"] == 0 and stages[-1]["to_tokens"] == rec.tokens
    assert stages[-1]["from_tokens"] <= 0.1 * rec.tokens * 1.01
    assert [s["lr"] for s in stages] == sorted(s["lr"] for s in stages)
    assert ramp["steps"] > ramp["steps_constant_end"]
    parts = ramp["megatron"].split()
    assert parts[0] == f"0:{stages[0]['batch_seqs']}" and all(":" in p for p in parts)
    assert megatron_schedule([{"from_tokens": 0, "batch_seqs": 8}, {"from_tokens": 2.5e11, "batch_seqs": 16}],
                             4096) == "0:8 250B:16"
    out = _run("recommend", "--params", "7B", "--tokens", "2T", "--batch-ramp", "--max-batch", "16M", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["batch_ramp"]["stages"][-1]["batch_seqs"] == round(16e6 / 4096)


def test_the_end_to_end_validation_finds_no_batch_dependence_in_a_separable_landscape():
    """Synthetic cells whose best LR does not depend on the batch: the surface's answer beats the linear
    rule on held-out cells, and the plan-cost validation is standard output of the fit."""
    from calibration.fit import ScaleLawFitter
    from calibration.fit.synthetic import synthetic_trials

    df = synthetic_trials(seed=3, noise=0.0005, lr_points=7, batch_points=5)
    fitter = ScaleLawFitter(n_boot=0, loss_surface=False).fit(df)
    e2e = fitter.penalty_.validation["end_to_end"]
    rows = e2e["constrained"]["within_4x"]
    assert rows["median_log2_surface"] < rows["median_log2_linear"]
    assert rows["median_log2_constant"] < rows["median_log2_sqrt"]  # the truth is a constant LR
    assert e2e["plan_cost"]["within_2x"]["n"] > 0 and e2e["plan_cost"]["within_2x"]["median_abs_pp"] < 0.5


def test_schedules_set_the_shape_and_final_lr_and_say_what_each_line_rests_on():
    for name, final in (("wsd", 0.0), ("linear", 0.0)):
        out = _run("recommend", "--params", "7B", "--tokens", "2T", "--schedule", name, "--json")
        assert out.exit_code == 0, out.output
        doc = json.loads(out.output)
        assert doc["schedule"] == name and doc["final_lr"] == pytest.approx(final)
        detail = doc["schedule_detail"]
        assert "cited rule" in detail["shape_source"]
        assert detail["peak_lr_source"].startswith(("kept", "×"))
        assert "measured on our CPU proxies" in detail["peak_lr_source"]  # benchmarks/schedules.py's figures
        assert detail["peak_lr_factor"] == 1.0 and doc["lr"] == pytest.approx(recommend(**TARGET).lr)  # unresolved: kept
    wsd = json.loads(_run("recommend", "--params", "7B", "--tokens", "2T", "--schedule", "wsd", "--decay-frac", "0.1",
                          "--json").output)["schedule_detail"]
    assert wsd["decay_frac"] == pytest.approx(0.1) and "10%" in wsd["shape"]
    text = _run("recommend", "--params", "7B", "--tokens", "2T", "--schedule", "linear", "--explain").output
    assert "Bergsma et al., arXiv 2502.15938" in text and "peak LR:" in text


def test_a_staged_proxy_run_trains_each_stage_on_its_batch():
    """Two stages of 1 and 2 sequences of 16 tokens over 1,024 tokens: 32 + 16 steps, a finite loss."""
    from calibration.proxy.ramp_train import Stage, lr_shape, train_staged
    from calibration.record.trial import TrialConfig

    cfg = TrialConfig(n_layer=1, d_model=16, n_head=2, d_ff=32, seq_len=16, tokens=1024, eval_tokens=256)
    out = train_staged(cfg, [Stage(0, 1, 3e-3, 0.99), Stage(512, 2, 4e-3, 0.95)])
    assert out["steps"] == 32 + 16 and out["tokens"] == 1024
    assert out["loss"] is not None and math.isfinite(out["loss"])
    assert lr_shape(1.0, cfg) == pytest.approx(cfg.final_lr_frac) and lr_shape(cfg.warmup_frac, cfg) == pytest.approx(1.0)


def test_the_shipped_end_to_end_figures_are_recomputed_and_meet_the_goals():
    """Step Law's dense source: the figures stored in the default model are what the fit computes, and they
    meet issue 21's goals (plan cost ≤ 0.10 / 0.20 pp median, mean ≤ 0.5 within 4×; the LR at a fixed batch
    ≤ 0.3 median |log2| and no worse than the best fixed rule within 4×; the cost within 0.1 pp)."""
    from advisor.catalog import resolve_model, resolve_source
    from calibration.fit import ScaleLawFitter
    from calibration.fit.constrained_validate import end_to_end
    from calibration.fit.fitter import E2E_BOOT

    fitter = ScaleLawFitter(n_boot=0, loss_surface=False).fit(str(resolve_source("steplaw-dense")))
    e2e = end_to_end(fitter.table_, fitter.lr_fits_[0].form, fitter.batch_fits_[0].form, fitter.penalty_,
                     np.random.default_rng(3), n_boot=E2E_BOOT)
    stored = json.loads(resolve_model("steplaw-dense").read_text())["penalty"]["validation"]["end_to_end"]
    for span in ("within_2x", "within_4x"):
        assert stored["plan_cost"][span] == pytest.approx(e2e["plan_cost"][span], rel=1e-6)
        assert stored["constrained"][span] == pytest.approx(e2e["constrained"][span], rel=1e-6)
    assert stored["plan_cost"]["costly_flagged"] == e2e["plan_cost"]["costly_flagged"]
    plan, rows = e2e["plan_cost"], e2e["constrained"]["within_4x"]
    assert plan["within_2x"]["median_abs_pp"] <= 0.10
    assert plan["within_4x"]["median_abs_pp"] <= 0.20 and plan["within_4x"]["mean_abs_pp"] <= 0.5
    assert rows["median_log2_surface"] <= 0.3
    assert rows["median_log2_surface"] <= min(rows[f"median_log2_{k}"] for k in ("sqrt", "linear", "constant")) + 1e-9
    assert rows["median_cost_error_pp"] <= 0.1 + 1e-9


def test_batch_ramp_with_batch_ends_at_that_batch():
    """`--batch` is the batch you train at, with a ramp too: the ramp ends there (as --max-batch), not at the
    recommended batch with --batch silently turned into a rounded start."""
    out = _run("recommend", "--params", "7B", "--tokens", "2T", "--batch-ramp", "--batch", "16M", "--json")
    assert out.exit_code == 0, out.output
    stages = json.loads(out.output)["batch_ramp"]["stages"]
    assert stages[-1]["batch_seqs"] == round(16e6 / 4096) and stages[0]["batch_seqs"] < stages[-1]["batch_seqs"]
    same = _run("recommend", "--params", "7B", "--tokens", "2T", "--batch-ramp", "--max-batch", "16M", "--json")
    assert json.loads(same.output)["batch_ramp"]["stages"] == stages
    both = _run("recommend", "--params", "7B", "--tokens", "2T", "--batch-ramp", "--batch", "4M", "--max-batch", "16M")
    assert both.exit_code == 2 and len(both.output.strip().splitlines()) == 1, both.output


def test_a_held_batch_in_tokens_is_rounded_to_whole_sequences_and_says_so():
    """4M tokens = 977 sequences of 4,096 (a prime, hard to split over ranks): the output says the batch was
    rounded, to what, and what 1,024 sequences are; the LR, β2 and steps are all read at that one batch."""
    doc = json.loads(_run("recommend", "--params", "7B", "--tokens", "2T", "--batch", "4M", "--json").output)
    assert doc["batch_seqs"] == 977 and doc["batch_tokens_rounded"] == 977 * 4096
    assert doc["beta2"] == pytest.approx(beta2_rule(977 * 4096), rel=1e-12)
    assert doc["beta2"] == pytest.approx(0.95 ** (977 * 4096 / 2 ** 22), rel=1e-12)  # the anchor: Llama 2's 1,024 × 4,096
    assert doc["steps"] == pytest.approx(2e12 / (977 * 4096), abs=1)
    short = _run("recommend", "--params", "7B", "--tokens", "2T", "--batch", "4M").output
    assert "rounded to whole sequences: 4,001,792 tokens" in short and "1,024 × 4,096 = 4.19M" in short, short
    long = _run("recommend", "--params", "7B", "--tokens", "2T", "--batch", "4M", "--explain").output
    assert "rounded to 977 × 4,096 = 4,001,792 tokens" in long, long
    exact = _run("recommend", "--params", "7B", "--tokens", "2T", "--batch", str(1024 * 4096)).output
    assert "rounded" not in exact, exact
