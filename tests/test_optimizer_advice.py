"""--optimizer NAME: laws per optimizer from Marin's sweep, knobs, check's cost and cliff flag, bad input."""
import hashlib
import json
import math

import pandas as pd
import pytest
from click.testing import CliRunner

from advisor import optimizers as opt
from advisor.cli import cli
from advisor.catalog import entry, entry_path
from advisor.optimizer_recipe import optimizer_check, optimizer_recommend
from advisor.rules_check import agrees, check_rules
from calibration.fit.optimizer_summary import fit_law
from calibration.fit.profiles import profile_cells, refined_lr


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_recommend_muon_gives_a_full_recipe_with_the_lr_convention():
    r = run("recommend", "--params", "7B", "--tokens", "2T", "--optimizer", "muon")
    assert r.exit_code == 0, r.output
    for text in ("Muon LR convention", "original convention", "match_rms_adamw", "momentum", "weight decay",
                 "AdamW-part LR / Muon LR", "decay fraction", "far extrapolation", "cliff"):
        assert text in r.output, text
    a = json.loads(run("recommend", "--params", "7B", "--tokens", "2T", "--optimizer", "muon", "--json").output)
    assert a["lr"]["low"] < a["lr"]["value"] < a["lr"]["high"]
    assert a["batch"]["low"] < a["batch"]["value"] < a["batch"]["high"]
    assert a["knobs"]["momentum"]["value"] in (0.8, 0.9, 0.95, 0.98)
    tight, loose = a["tolerance"]["lr"]["0.25"], a["tolerance"]["lr"]["1"]
    assert loose[0] <= tight[0] <= 0.0 <= tight[1] <= loose[1] and loose[1] > tight[0]


def test_bad_optimizer_input_is_one_line_exit_2():
    for args in (["--optimizer", "sgd"], ["--optimizer", "muon", "--hp-law", "deepseek"],
                 ["--optimizer", "muon", "--model", "cpu-default"]):
        r = run("recommend", "--params", "7B", "--tokens", "2T", *args)
        assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, (args, r.output)
    r = run("check", "--params", "7B", "--tokens", "2T", "--optimizer", "adamw", "--lr", "1e-3", "--momentum", "0.9")
    assert r.exit_code == 2 and "--momentum does not apply to adamw" in r.output
    r = run("check", "--params", "7B", "--tokens", "2T", "--lr", "1e-3", "--weight-decay", "0.1")
    assert r.exit_code == 2 and "--optimizer" in r.output


def test_check_sees_the_divergence_cliff():
    target = dict(params="1B", tokens="20B")
    best = optimizer_recommend("adamw", **target)["lr"]["value"]
    safe = optimizer_check("adamw", lr=best, **target)
    hot = optimizer_check("adamw", lr=best * 2, **target)
    assert opt.cliff(opt.summary("adamw")["lr_profiles"])["steps"] == pytest.approx(1.0)  # Marin: one 2x step
    assert hot["risk"] and not safe["risk"]
    assert hot["lr_cost"][1]["max"] == math.inf and safe["lr_cost"][1]["max"] < 1.0
    r = run("check", "--params", "1B", "--tokens", "20B", "--optimizer", "adamw", "--lr", str(best * 2), "--json")
    assert r.exit_code == 0 and json.loads(r.output)["lr_cost"][1]["max"] == "diverged"  # strict JSON
    r = run("check", "--params", "1B", "--tokens", "20B", "--optimizer", "muon", "--lr", str(best * 16))
    assert r.exit_code == 0 and "RISK" in r.output
    r = run("check", "--params", "1B", "--tokens", "20B", "--optimizer", "muon", "--lr", "4e-3", "--batch-seqs", "256",
            "--json")
    assert r.exit_code == 0 and json.loads(r.output)["batch"] == pytest.approx(256 * 4096)


def test_weight_decay_and_momentum_are_costed_from_profiles():
    target = dict(params="1B", tokens="20B")
    at = optimizer_check("muon", lr="4e-3", weight_decay=0.1, momentum=0.98, **target)
    off = optimizer_check("muon", lr="4e-3", weight_decay=0.0, momentum=0.8, **target)
    assert off["weight_decay_cost"]["median"] > at["weight_decay_cost"]["median"]
    assert off["momentum_cost"]["median"] > at["momentum_cost"]["median"]


def test_every_optimizer_answers_and_says_which_law():
    for name in opt.names():
        a = optimizer_recommend(name, params="1B", tokens="20B")
        assert a["lr"]["kind"] in opt.LAW_KINDS
        assert 1e-5 < a["lr"]["value"] < 1.0
    assert optimizer_recommend("sophia", params="1B", tokens="20B")["lr"]["kind"] == "adamw_exponents"


def test_the_shipped_laws_match_the_shipped_sources():
    doc = opt.load()
    for name, src in doc["sources"].items():
        path = entry_path(entry(src["name"], "source"))
        assert hashlib.sha256(path.read_bytes()).hexdigest() == src["table_sha256"], name


def test_adamw_rules_are_checked_against_marins_optima():
    rules = {r["knob"]: r for r in check_rules(opt.summary("adamw"))}
    assert set(rules) == {"beta2", "warmup_steps", "weight_decay"}
    assert all(r["cells"] for r in rules.values())
    assert agrees(0.995, 0.98, "high", [0.9, 0.95, 0.98]) and not agrees(0.5, 0.1, None, [0.0, 0.1, 0.2])


def test_profiles_bound_an_edge_optimum_and_refine_an_interior_one():
    rows = [dict(n_params=1e8, chinchilla_multiple=1, tokens=2e9, ablated=None, lr=0.01, status="ok", loss=3.0,
                 batch_seqs=128)]
    for lr, loss in ((0.005, 3.1), (0.02, 3.05), (0.04, "")):
        rows.append(dict(rows[0], ablated="lr", lr=lr, loss=loss or math.nan, status="ok" if loss else "diverged"))
    rows.append(dict(rows[0], ablated="batch_seqs", batch_seqs=256, loss=2.9))
    cell = profile_cells(pd.DataFrame(rows))[0]
    lr = cell.profiles["lr"]
    assert lr.optimum == pytest.approx(0.01) and lr.edge is None and lr.excess(3) == math.inf
    assert 0.007 < refined_lr(lr) < 0.0142  # within half a 2x step of 0.01, pulled towards 0.02
    assert cell.profiles["batch_seqs"].edge == "high"  # the largest batch tried was best: a bound


def test_fit_law_recovers_known_exponents():
    points = [{"n_params": n, "tokens": d, "multiple": d / (20 * n), "edge": None,
               "value": 3.0 * n ** -0.3 * d ** -0.1} for n in (1e8, 3e8, 1e9) for d in (2e9, 8e9, 3e10)]
    law = fit_law(points)
    assert law["coef"][1] == pytest.approx(-0.3, abs=1e-6) and law["coef"][2] == pytest.approx(-0.1, abs=1e-6)
    assert law["resid_sd"] == pytest.approx(math.log(2) / math.sqrt(12))  # the 2x grid's floor


def test_compare_and_plan_take_the_optimizer():
    r = run("compare", "--params", "7B", "--tokens", "2T", "--optimizer", "muon")
    assert r.exit_code == 0, r.output
    assert "Marin's own fit" in r.output and "Marin's fit: LR 0.0063" in r.output  # its recorded 1.2B prediction
    r = run("compare", "--params", "7B", "--tokens", "2T", "--optimizer", "lion")
    assert r.exit_code == 0 and "not shown" in r.output
    r = run("plan", "--params", "7B", "--tokens", "2T", "--gpus", "256", "--optimizer", "muon", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["optimizer"]["optimizer"] == "muon"
    r = run("plan", "--params", "7B", "--tokens", "2T", "--gpus", "256", "--optimizer", "nope")
    assert r.exit_code == 2 and "unknown optimizer" in r.output


@pytest.mark.slow  # rebuilds every optimizer's summary (~10 s idle, more on a busy machine)
def test_the_shipped_laws_rebuild_from_the_sources():
    from calibration.fit.optimizer_summary import build

    rebuilt, shipped = build()["optimizers"], opt.load()["optimizers"]
    for name in shipped:
        for law in ("lr", "batch"):
            assert rebuilt[name]["laws"][law]["coef"] == pytest.approx(shipped[name]["laws"][law]["coef"], rel=1e-9)


def test_the_optimizer_answer_is_short_by_default_and_whole_with_explain():
    short = run("recommend", "--params", "7B", "--tokens", "2T", "--optimizer", "muon")
    whole = run("recommend", "--params", "7B", "--tokens", "2T", "--optimizer", "muon", "--explain")
    assert short.exit_code == 0 and whole.exit_code == 0, short.output + whole.output
    assert "by size @ budget" not in short.output and "by size @ budget" in whole.output
    assert len(short.output.splitlines()) < len(whole.output.splitlines()) - 10
    knobs = [line for line in short.output.splitlines() if line.strip().startswith("knobs")]
    assert knobs and "weight decay 0.1" in short.output.replace("\n", " ")
