"""Laws fitted across setups (calibration/fit/cross_setup.py) and the default built from them: the setup part
measured from the setups (advisor/setups.py), `--setup NAME`, profile optima with edge bounds, leave one
setup out, and the refusals (unknown setup, a table mixing setups)."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from advisor.catalog import default_model_name, resolve_model
from advisor.intervals import extrapolated_point, form_weight
from advisor.recipe import recommend
from advisor.setups import half_width, multiplier

CLI = [sys.executable, "-m", "advisor.cli"]


def run(*args):
    return subprocess.run([*CLI, *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def shipped() -> dict:
    return json.loads(resolve_model("cross-setup").read_text())


def test_the_default_answers_across_setups_and_says_how_far_they_differ():
    assert default_model_name() == "cross-setup"
    rec = recommend("7B", "2T")
    assert rec.source.name == "cross-setup"
    assert set(rec.setups["lr_at_target"]) == {"steplaw-dense", "marin-adamw", "deepseek"}
    low, high = rec.lr_interval.setup
    assert low < rec.lr < high and rec.lr_low <= low and high <= rec.lr_high
    assert rec.setups["anchor"]["command"].startswith("advisor recalibrate anchor --with steplaw-dense")
    out = run("recommend", "--params", "7B", "--tokens", "2T")
    assert out.returncode == 0 and "setups   LR here: steplaw-dense" in out.stdout
    assert "anchor   advisor recalibrate anchor --with steplaw-dense --with marin-adamw" in out.stdout
    long = run("recommend", "--params", "7B", "--tokens", "2T", "--explain")
    assert "Setups: the known setups' LR optima here differ" in long.stdout


@pytest.mark.parametrize("params, lr, batch", [(7e9, 4.2e-4, 9437184), (67e9, 3.2e-4, 18874368)])
def test_deepseek_runs_lie_inside_the_default_intervals(params, lr, batch):
    """DeepSeek LLM 7B and 67B (arXiv 2401.02954) trained at their own law's optimum; that law is one of the
    setups in the setup part, so this checks the interval holds a known setup's answer, not independence."""
    rec = recommend(params, 2e12, seq_len=4096, vocab_size=102400)
    assert rec.lr_low <= lr <= rec.lr_high and rec.batch_tokens_low <= batch <= rec.batch_tokens_high


def test_a_known_setup_gets_its_own_law_and_no_setup_part():
    rec = recommend("7B", "2T", setup="marin-adamw")
    low, high = rec.lr_interval.setup
    assert high / low == pytest.approx(1.0)
    assert rec.lr == pytest.approx(rec.setups["lr_at_target"]["marin-adamw"], rel=1e-6)
    assert rec.lr_interval_ratio < recommend("7B", "2T").lr_interval_ratio


@pytest.mark.parametrize("args, says", [
    (["--setup", "nope"], "unknown setup 'nope'"),
    (["--setup", "steplaw-dense", "--model", "steplaw-dense"], "not fitted across setups"),
    (["--setup", "steplaw-dense", "--hp-law", "deepseek"], "not a published law"),
])
def test_bad_setup_is_one_line_exit_2(args, says):
    out = run("recommend", "--params", "7B", "--tokens", "2T", *args)
    assert out.returncode == 2 and says in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_report_section_lists_setups_and_leave_one_setup_out(shipped):
    from calibration.fit.cross_record import markdown

    from advisor.setup_record import CrossSetupRecord

    text = "\n".join(markdown(CrossSetupRecord.from_json(shipped["provenance"]["cross_setup"])))
    assert "## Across setups" in text and "### Leave one setup out" in text and "| marin-adamw | anchored | LR |" in text


def test_shipped_model_records_both_setups_and_leave_one_setup_out(shipped):
    cross = shipped["provenance"]["cross_setup"]
    assert cross["mode"] == "unknown" and [s["name"] for s in cross["setups"]] == ["steplaw-dense", "marin-adamw"]
    loso = cross["leave_one_setup_out"]["setups"]
    for name in ("steplaw-dense", "marin-adamw"):
        for mode in ("unanchored", "anchored"):
            sc = loso[name][mode]["lr"]
            assert sc["n"] >= 10 and 0 <= sc["inside"] <= sc["n"] and sc["median_width"] > 1
    assert shipped["provenance"]["same_setup_as_target"] is False


def test_half_width_is_the_prediction_bound_of_one_more_setup():
    assert half_width([0.0], 0.0) is None  # one setup: no spread to measure
    assert half_width([1.0, -1.0], 0.0) == pytest.approx(multiplier(2) * math.sqrt(2.0))
    assert multiplier(3) < multiplier(2)


def test_a_form_the_held_out_test_ranked_worse_barely_moves_the_point():
    """The regression beyond the data (issue 19): forms weighed by held-out evidence."""
    assert form_weight(0.05, 0.25, 10) < 1e-6 and form_weight(0.1, 0.1, 10) == pytest.approx(1.0)
    chosen, other = (lambda p: -0.5 * math.log(p["n_params"])), (lambda p: -0.9 * math.log(p["n_params"]))
    rng = {"n_params": (1e5, 1e6), "tokens": (1e7, 1e8)}
    point = {"n_params": 1e8, "tokens": 1e8, "flops": 6e16}
    weighted = extrapolated_point(chosen, [(form_weight(0.05, 0.25, 10), other)], point, rng)
    assert weighted == pytest.approx(chosen(point), abs=1e-3)
    assert extrapolated_point(chosen, [other], point, rng) < chosen(point) - 0.5  # equal weights drag it


def test_a_crossed_bound_constrains_the_law():
    from calibration.fit.cross_law import censored
    from calibration.fit.laws import LawForm, Stack

    n = np.array([1e8, 2e8, 4e8, 8e8])
    y = np.log(np.array([8e-3, 6e-3, 4.5e-3, 8e-3]))  # the last: an edge optimum (bound below 8e-3 * 2^0.5)
    stack = Stack({"n_params": n}, y, np.array([1.0, 1.0, 1.0, 0.0]), np.zeros(4, int), None, ["a"],
                  np.array([0, 0, 0, 1]), y + np.array([0, 0, 0, math.log(2) / 2]))
    form = LawForm("a*N^alpha", ("n_params",))
    assert np.array_equal(censored(stack, form).w, stack.w)  # the law stays under the bound: it is not pulled
    stack.bound_y[3] = math.log(2e-3)  # a bound the free law would cross
    eff = censored(stack, form)
    coef = np.linalg.lstsq(np.column_stack([np.ones(4), np.log(n)]) * np.sqrt(eff.w)[:, None],
                           eff.y * np.sqrt(eff.w), rcond=None)[0]
    assert eff.w[3] > 0 and coef[0] + coef[1] * math.log(8e8) < math.log(2e-3) + 0.3


def _synthetic_setup(tmp_path, name, lr_shift, n_shift=0.0, seed=0):
    from calibration.fit.synthetic import SyntheticTruth, synthetic_trials

    t = SyntheticTruth()
    a, en, ed = t.lr_log_coef
    truth = SyntheticTruth(lr_log_coef=(a + math.log(lr_shift) - n_shift * math.log(1e6), en + n_shift, ed))
    df = synthetic_trials(truth, sizes=(2.5e5, 5e5, 1e6, 2e6) if n_shift else (2e5, 8e5, 3.2e6),
                          tokens_per_param=(10, 40), lr_points=7, batch_points=3, seed=seed)
    path = tmp_path / f"{name}.csv"
    df.to_csv(path, index=False)
    return name, str(path)


def across(tables, **settings):
    """The fitter of a cross-setup fit of `tables` (the first the reference), fitted on the reference's table."""
    from calibration.fit import ScaleLawFitter
    from calibration.fit.cross_setup import AcrossSetups

    setups = AcrossSetups(tuple(tables), validate_setups=False)
    return ScaleLawFitter(loss_surface=False, setups=setups, **settings).fit(tables[0][1])


def test_cross_setup_fit_pools_shared_exponents_and_flags_differing_ones(tmp_path):
    shared = [_synthetic_setup(tmp_path, "a", 1.0), _synthetic_setup(tmp_path, "b", 2.0, seed=1)]
    fit = across(shared, n_boot=200)
    rec = fit.cross_["laws"]["lr"]
    ratio = rec["setups"]["b"]["prefactor"] / rec["setups"]["a"]["prefactor"]
    assert 1.4 < ratio < 2.8  # truth: 2
    assert "setup_exponent_differs" not in [w.code for w in fit.warnings_]
    differ = [shared[0], _synthetic_setup(tmp_path, "c", 1.0, n_shift=0.15, seed=2)]  # 0.15 off over 8x
    fit = across(differ, n_boot=200)
    assert "setup_exponent_differs" in [w.code for w in fit.warnings_]


def test_a_table_mixing_setups_is_refused(tmp_path):
    from calibration.fit.table import FitInputError

    name, path = _synthetic_setup(tmp_path, "a", 1.0)
    mixed = pd.read_csv(path)
    mixed["data_id"] = np.where(np.arange(len(mixed)) % 2, "web", "code")
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    with pytest.raises(FitInputError, match="mixes setups"):
        across([(name, path), ("mixed", str(tmp_path / "mixed.csv"))], n_boot=0)
    out = run("fit", path, "--across", str(tmp_path / "mixed.csv"), "-o", str(tmp_path / "m.json"))
    assert out.returncode == 2 and "mixes setups" in out.stderr and not (tmp_path / "m.json").exists()
    out = run("fit", path, "--across", "no-such-source", "-o", str(tmp_path / "m.json"))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1


def test_anchored_spread_is_the_borrowed_slopes_carried_from_the_anchor():
    from advisor.setup_record import CrossLaw
    from advisor.setups import SetupSpread

    record = {"inputs": ["n_params", "tokens"], "pooled_log_coef": [0.0, -0.65, 0.1], "own": ["tokens"],
              "anchor": {"n_params": 1e8, "tokens": 2e9},
              "setups": {"a": {"log_coef": [5.0, -0.83, 0.28]}, "b": {"log_coef": [-3.0, -0.47, -0.01]}}}
    spread = SetupSpread(CrossLaw.from_json(record), "anchored", {})
    at = {"n_params": 1e8, "tokens": 2e9, "flops": 1.2e18}
    assert spread.width(at) == pytest.approx(0.0, abs=1e-9)  # your own data: your prefactor, no spread
    more_tokens = {"n_params": 1e8, "tokens": 2e12, "flops": 1.2e21}
    assert spread.width(more_tokens) == pytest.approx(0.0, abs=1e-6)  # D is your own measured slope
    far = {"n_params": 1e10, "tokens": 2e9, "flops": 1.2e20}
    expected = multiplier(2) * math.sqrt(2 * (0.18 * math.log(100)) ** 2)
    assert spread.width(far) == pytest.approx(expected, rel=1e-3)


def test_cli_fit_across_writes_a_model_with_leave_one_setup_out(tmp_path):
    a = _synthetic_setup(tmp_path, "a", 1.0)[1]
    b = _synthetic_setup(tmp_path, "b", 2.0, seed=1)[1]
    out = run("fit", a, "--across", b, "-o", str(tmp_path / "m.json"), "--bootstrap", "30")
    assert out.returncode == 0, out.stderr
    assert "leave " + b + " out, anchored on its smallest size, LR" in out.stdout
    rec = run("recommend", "--params", "1B", "--tokens", "20B", "--model", str(tmp_path / "m.json"), "--setup", a, "--json")
    assert rec.returncode == 0 and json.loads(rec.stdout)["setups"]["setup"] == a
    both = run("fit", a, "--across", b, "--with", b, "-o", str(tmp_path / "n.json"))
    assert both.returncode == 2 and not (tmp_path / "n.json").exists()


def test_the_setups_row_gives_a_spread_only_between_two_or_more_setups():
    """A joint fit anchored on one source has one setup's LR at the target: no "1× apart"."""
    from types import SimpleNamespace

    from advisor.setup_answer import short_lines

    one = SimpleNamespace(setups={"lr_at_target": {"steplaw-dense": 1.5e-5}, "lr_spread": 1.0})
    two = SimpleNamespace(setups={"lr_at_target": {"a": 1e-3, "b": 4e-4}, "lr_spread": 2.5})
    assert "apart" not in short_lines(one)[0] and "steplaw-dense 1.5e-5" in short_lines(one)[0]
    assert "2.5× apart" in short_lines(two)[0]
