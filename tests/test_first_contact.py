"""Issue 24, first contact: `check` puts danger first, `plan` keeps its budget, the short answer, start-up
and the smaller items (python -m advisor, seq_len_source, ...). Real code paths on the shipped models."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from advisor.checking import check
from advisor.cli import cli


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_an_lr_far_above_the_optimum_is_fixed_before_anything_else():
    opt = check("7B", "2T", lr=3e-4, batch="4M")
    hot = check("7B", "2T", lr=11.8 * opt.lr_opt, batch="1M")  # the case: LR 11.8x, batch off too
    assert hot.risky and "lr_far_above" in hot.risk_reasons
    # fixed first, to the best LR at the planned batch on the fitted surface (issue 21: `recommend --batch 1M`)
    from advisor.constrained_recipe import recommend_constrained

    at_batch = recommend_constrained("7B", "2T", batch="1M").lr
    assert hot.suggestion["change"] == "lr" and hot.suggestion["to"] == pytest.approx(at_batch, rel=0.01)  # whole sequences
    res = _run("check", "--params", "7B", "--tokens", "2T", "--lr", f"{11.8 * opt.lr_opt:.4g}", "--batch", "1M")
    assert res.exit_code == 0 and "first: LR →" in res.stdout


def test_configs_rank_risky_candidates_last_and_take_batch_or_batch_tokens(tmp_path):
    opt = check("7B", "2T", lr=3e-4, batch="4M").lr_opt
    for column in ("batch", "batch_tokens"):
        table = tmp_path / f"{column}.csv"
        table.write_text(f"name,lr,{column}\nx12,{12 * opt:.4g},4M\nx3.5,{3.5 * opt:.4g},4M\nnear,{opt:.4g},6M\n")
        res = _run("check", "--params", "7B", "--tokens", "2T", "--configs", table, "--json")
        assert res.exit_code == 0, res.output
        rows = json.loads(res.stdout)
        assert [r["name"] for r in rows] == ["near", "x3.5", "x12"]
        assert rows[-1]["risky"] and rows[-1]["batch_tokens"] == pytest.approx(4e6)
    both = tmp_path / "both.csv"
    both.write_text("lr,batch,batch_tokens\n1e-3,4M,4M\n")
    res = _run("check", "--params", "7B", "--tokens", "2T", "--configs", both)
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "batch_tokens" in _run("check", "--help").stdout


@pytest.mark.parametrize("budget", [{"gpus": 512, "days": 30}, {"gpu_hours": "1e5"}, {"flops": "1e23"}])
def test_plan_keeps_its_budget(budget):
    """One FLOP count for the allocation and the wall time: the plan spends the budget, never more."""
    from advisor.planning import plan

    p = plan(gpu="h100", mfu=0.4, **budget)
    assert p.train_flops == pytest.approx(p.flops, rel=1e-6)
    assert p.train_flops <= p.flops * (1 + 1e-6)
    if "days" in budget:
        assert p.wall_days <= budget["days"] * (1 + 1e-6)
    if "gpu_hours" in budget:
        assert p.gpu_hours <= 1e5 * (1 + 1e-6)
    assert p.loss_law["flops_6nd"] < p.flops  # the laws' 6ND leaves out attention and the head


def test_python_dash_m_advisor_and_status_without_torch():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "advisor", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "advisor" in out.stdout
    code = ("import sys, click.testing; from advisor.cli import cli; "
            "r = click.testing.CliRunner().invoke(cli, ['calibrate', 'status', 'data/calibrations/cpu-default']); "
            "assert r.exit_code == 0, r.output; assert r.output.endswith('\\n'); "
            "assert 'torch' not in sys.modules, 'status imported torch'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_weight_decay_and_warmup_far_outside_published_practice_are_warned():
    from advisor.recipe import recommend

    rec = recommend(config="tests/fixtures/configs/llama-3-8b.json", tokens="15T")  # the case
    # (the cross-setup default's LR, 8e-4, puts λ at 0.02, inside practice; Step Law's 1.5e-3 put it below 0.01)
    # the warmup rule keeps to the published floor (2,000 steps here), so the practice check stays quiet
    assert rec.warmup_steps == 2000 and "warmup_outside_practice" not in rec.warning_codes
    from advisor.practice import practice_warnings
    assert [w.code for w in practice_warnings(0.1, 276, rec.steps)] == ["warmup_outside_practice"]
    assert ("weight_decay_outside_practice" in rec.warning_codes) == (not 0.01 <= rec.weight_decay <= 0.3)
    usual = recommend("7B", "2T")
    assert not {"weight_decay_outside_practice", "warmup_outside_practice"} & set(usual.warning_codes)


def test_seq_len_source_says_default_unless_given():
    plain = json.loads(_run("recommend", "--params", "7B", "--json").stdout)
    assert plain["shape_source"]["seq_len_source"].startswith("default")
    given = json.loads(_run("recommend", "--params", "7B", "--seq-len", "2048", "--json").stdout)
    assert given["seq_len"] == 2048 and given["shape_source"]["seq_len_source"] == "given (--seq-len)"


def test_the_short_answer_fits_100_columns_and_explain_adds_the_parts():
    short = _run("recommend", "--params", "7B", "--tokens", "2T")
    assert short.exit_code == 0, short.output
    lines = short.stdout.splitlines()
    assert len(lines) <= 14 and max(map(len, lines)) <= 100
    for fragment in ("peak LR", "90% interval", "batch", "steps", "warmup", "weight decay", "warning"):
        assert fragment in short.stdout, fragment
    assert "costs at most" not in short.stdout and "Porian" not in short.stdout  # those are --explain's
    long = _run("recommend", "--params", "7B", "--tokens", "2T", "--explain")
    for fragment in ("sampling", "law form", "setup", "tolerance", "Porian", "β2 rule"):
        assert fragment in long.stdout, fragment
    assert _run("recommend", "--params", "7B", "--tokens", "2T", "-v").stdout == long.stdout
    as_json = json.loads(_run("recommend", "--params", "7B", "--tokens", "2T", "--json").stdout)
    assert {"lr", "lr_low", "lr_high", "tolerance", "warnings", "lr_interval"} <= set(as_json)


def test_a_wide_interval_prints_the_sweep_points_around_the_answer():
    from advisor.short_answer import sweep_points

    points = sweep_points(8.45e-4, 3.19e-4, 2.23e-3)
    assert 3 <= len(points) <= 4 and any(p == pytest.approx(8.45e-4) for p in points)
    assert all(b / a == pytest.approx(2.0) for a, b in zip(points, points[1:]))
    assert points[0] <= 3.19e-4 * 1.5 and points[-1] >= 2.23e-3 / 1.5
    assert "wide: sweep" in _run("recommend", "--params", "7B", "--tokens", "2T").stdout


@pytest.mark.parametrize("args", [["--params", "7B", "--tokens", "2T", "--model", "cpu-default"],
                                  ["--params", "405B", "--tokens", "15T"]])
def test_an_uninformative_interval_is_never_headlined(args):
    rec = json.loads(_run("recommend", *args, "--json").stdout)
    unknown = [label for label, low, high in (("peak LR", rec["lr_low"], rec["lr_high"]),
                                               ("batch", rec["batch_tokens_low"], rec["batch_tokens_high"]))
               if high / low > 100]
    assert unknown
    for flag in ([], ["--explain"]):
        out = _run("recommend", *args, *flag).stdout
        for label in unknown:
            line = next(x for x in out.splitlines() if x.strip().startswith(label))
            assert "not known here" in line, line
        assert "published laws at this target" in out and "next:" in out
        assert "costs at most 0.25%" not in out  # no tolerance lines around an unknown point


def test_the_refit_hint_only_where_a_refit_would_help(tmp_path):
    from advisor.catalog import resolve_model
    from advisor.recipe import recommend

    doc = json.loads(resolve_model("steplaw-dense").read_text())
    doc["penalty"] = None  # a current fit that could not fit a penalty model
    (tmp_path / "v2.json").write_text(json.dumps(doc))
    rec = recommend("7B", "2T", model=tmp_path / "v2.json")
    text = next(w for w in rec.warnings if w.code == "no_penalty_model")
    assert "advisor fit" not in text
    doc["version"] = 1  # written before the penalty model existed: a refit gives one
    (tmp_path / "v1.json").write_text(json.dumps(doc))
    rec = recommend("7B", "2T", model=tmp_path / "v1.json")
    assert "advisor fit" in next(w for w in rec.warnings if w.code == "no_penalty_model")


def test_plan_prints_the_recipe_once_in_short():
    out = _run("plan", "--gpus", "512", "--days", "30").stdout
    assert out.count("peak LR") == 1 and "Recipe" in out
    assert len([x for x in out.splitlines() if x.strip().startswith("- ")]) == \
        len(set(x for x in out.splitlines() if x.strip().startswith("- ")))


def test_plot_failure_still_prints_the_answer(tmp_path, monkeypatch):
    import advisor.cost_plot

    def broken(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")

    monkeypatch.setattr(advisor.cost_plot, "plot_penalty_map", broken)
    res = _run("recommend", "--params", "7B", "--tokens", "2T", "--plot", tmp_path / "map.png")
    assert res.exit_code != 0 and "peak LR" in res.stdout and "matplotlib" in res.stderr
