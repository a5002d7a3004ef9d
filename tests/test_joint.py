"""Joint fit (calibration/fit/joint.py): a small sweep of one's own setup with a larger public one.

Synthetic truth: the source is a five-size sweep; "mine" has two sizes, its own prefactors, and either the
source's exponents (then its optimum at ~330x its largest size is recovered) or an LR N exponent 0.15
higher (then the fit flags it and does not pool it)."""
from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from advisor.cli import cli
from advisor.model import FittedModel
from calibration.fit import ScaleLawFitter
from calibration.fit.joint import WithSources
from calibration.fit.synthetic import SyntheticTruth, synthetic_trials
from calibration.fit.table import FitInputError

SOURCE_TRUTH = SyntheticTruth()
TARGET = (1e7, 2e8)  # N, D: 333x mine's largest size, inside the source's range


def mine_truth(n_exponent_shift: float = 0.0) -> SyntheticTruth:
    """Other prefactors (LR 0.3x, batch 2x); the LR N exponent shifted by n_exponent_shift."""
    a, en, ed = SOURCE_TRUTH.lr_log_coef
    b, bn, bd = SOURCE_TRUTH.batch_log_coef
    return SyntheticTruth(lr_log_coef=(a + math.log(0.3) - n_exponent_shift * math.log(3e4), en + n_exponent_shift, ed),
                          batch_log_coef=(b + math.log(2.0), bn, bd))


@pytest.fixture(scope="module")
def source_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("joint") / "source.csv"
    synthetic_trials(SOURCE_TRUTH, sizes=(2e5, 5e5, 1.2e6, 3e6, 8e6), tokens_per_param=(10, 20, 40),
                     seed=102).to_csv(path, index=False)
    return path


def mine_trials(truth: SyntheticTruth, sizes=(1e4, 3e4)):
    return synthetic_trials(truth, sizes=sizes, tokens=(3e5, 1.2e6), seed=2)


def with_sources(sources, **settings) -> ScaleLawFitter:
    """The fitter of your table anchored on `sources` ((name, path) pairs), without a loss surface."""
    return ScaleLawFitter(loss_surface=False, setups=WithSources(tuple(sources)), **settings)


def joint_fit(source_csv, truth: SyntheticTruth) -> ScaleLawFitter:
    return with_sources([("big", str(source_csv))], n_boot=200, seed=2).fit(mine_trials(truth))


def test_shared_exponents_recover_mine_far_beyond_its_sizes(source_csv):
    truth = mine_truth()
    fitter = joint_fit(source_csv, truth)
    assert not [w for w in fitter.warnings_ if w.code == "joint_exponent_differs"]
    model = FittedModel.from_artifact(fitter.artifact_)
    assert model.same_setup_as_target_
    n, d = TARGET
    for pred, true, tol in ((model.predict_lr(n, d), truth.lr_opt(n, d), 0.25),
                            (model.predict_batch(n, d), truth.batch_opt(n, d), 0.3)):
        assert abs(math.log2(pred.value / float(true))) < tol
        assert pred.low <= float(true) <= pred.high
        assert pred.ratio < 2.5  # informative: the exponents come from the source's range
    joint = fitter.artifact_.provenance.joint  # the artifact's type (advisor/setup_record.py)
    lr = joint.laws["lr"]
    assert set(lr.prefactors) == {"mine", "big"}
    # the prefactors differ by the truth's 0.3x (within noise)
    ratio = lr.prefactors["mine"].value / lr.prefactors["big"].value
    assert 0.2 < ratio < 0.45
    assert all(e.status == "pooled" for e in lr.exponents.values())


def test_different_exponent_is_flagged_and_not_pooled(source_csv):
    truth = mine_truth(0.15)
    fitter = joint_fit(source_csv, truth)
    differs = [w for w in fitter.warnings_ if w.code == "joint_exponent_differs"]
    assert differs
    exp_n = fitter.joint_["laws"]["lr"]["exponents"]["n_params"]
    assert exp_n["status"] == "own"
    assert exp_n["test"]["difference"]["ci90"][0] > 0  # MINE's exponent is higher
    # MINE's own slope is used: closer to its truth than to the pooled one
    mine_slope = fitter.lr_law_.log_coef[1]
    assert abs(mine_slope - truth.lr_log_coef[1]) < abs(mine_slope - SOURCE_TRUTH.lr_log_coef[1])
    model = FittedModel.from_artifact(fitter.artifact_)
    pred, true = model.predict_lr(*TARGET), float(truth.lr_opt(*TARGET))
    assert pred.low <= true <= pred.high


def test_single_budget_borrows_the_d_exponent(source_csv):
    trials = synthetic_trials(mine_truth(), sizes=(1e4, 3e4, 6e4), tokens=(6e5,), seed=3)
    fitter = with_sources([("big", str(source_csv))], n_boot=50, seed=0).fit(trials)
    rec = fitter.joint_["laws"]["lr"]
    assert rec["exponents"]["tokens"]["status"] == "borrowed"
    assert "joint_exponent_borrowed" in [w.code for w in fitter.warnings_]


def test_source_in_sequences_is_refused(source_csv, tmp_path):
    import pandas as pd

    bad = pd.read_csv(source_csv)
    bad["batch_tokens"] = bad["batch_seqs"]  # sequences in the tokens column
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(FitInputError, match="source bad"):
        with_sources([("bad", str(tmp_path / "bad.csv"))], n_boot=0).fit(mine_trials(mine_truth()))


def test_cli_joint_fit_and_bad_input(source_csv, tmp_path):
    runner = CliRunner()
    mine = tmp_path / "mine.csv"
    mine_trials(mine_truth()).to_csv(mine, index=False)
    one = tmp_path / "one.csv"
    mine_trials(mine_truth(), sizes=(1e4,)).to_csv(one, index=False)
    nocol = tmp_path / "nocol.csv"
    mine_trials(mine_truth()).drop(columns=["lr"]).to_csv(nocol, index=False)
    out = tmp_path / "m.json"
    for args in ([str(one), "--with", str(source_csv)], [str(mine), "--with", "no-such-source"],
                 [str(mine), "--with", str(nocol)], [str(mine), "--with", str(source_csv), "--other-setup"],
                 [str(mine), "--with", str(mine)], ["steplaw-dense", "--with", "steplaw-dense"]):  # itself
        result = runner.invoke(cli, ["fit", *args, "-o", str(out), "--bootstrap", "20"])
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1
        assert not out.exists()
    result = runner.invoke(cli, ["fit", str(mine), "--with", str(source_csv), "-o", str(out), "--bootstrap", "50",
                                 "--report", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["provenance"]["same_setup_as_target"] is True
    assert [s["name"] for s in doc["provenance"]["joint"]["sources"]] == [str(source_csv)]
    assert "## Joint fit" in (tmp_path / "report" / "report.md").read_text()
    rec = runner.invoke(cli, ["recommend", "--params", "7B", "--tokens", "2T", "--model", str(out), "--json"])
    assert rec.exit_code == 0, rec.output
    answer = json.loads(rec.output)
    intervals = answer["lr_interval"]
    # your prefactor is pinned; the sources' slopes are not: their spread away from your cells is the setup
    # part, which one source cannot measure (two or more: tests/test_cross_setup.py)
    assert doc["provenance"]["cross_setup"]["mode"] == "anchored"
    assert intervals["setup"][0] == pytest.approx(intervals["setup"][1]) == pytest.approx(answer["lr"])


def test_recalibrate_with_a_source_fits_jointly(tmp_path):
    from test_sweep import tiny_spec

    spec = tiny_spec(tmp_path, lrs="[3e-3, 1e-2, 3e-2]", batch="[4]", tokens="4096, 8192")
    out = tmp_path / "mine"
    bad = CliRunner().invoke(cli, ["recalibrate", str(spec), "--out", str(out), "--with", "no-such-source"])
    assert bad.exit_code == 2 and not out.exists()
    res = CliRunner().invoke(cli, ["recalibrate", str(spec), "--out", str(out), "--workers", "1", "--bootstrap", "20",
                                   "--quiet", "--with", "steplaw-dense"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "model.json").read_text())
    assert doc["provenance"]["joint"]["sources"][0]["name"] == "steplaw-dense"
    assert doc["provenance"]["same_setup_as_target"] is True


def test_plan_prints_the_anchor_beside_a_full_calibration():
    res = CliRunner().invoke(cli, ["calibrate", "plan", "anchor", "--no-measure"])
    assert res.exit_code == 0, res.output
    line = res.output.strip().splitlines()[-1]
    anchor, full = line.split("; full cpu-default: ")
    n_anchor, n_full = int(anchor.split()[1]), int(full.split()[0])
    assert 0 < n_anchor < n_full / 4


def test_a_poorly_predicted_largest_size_is_flagged():
    """The held-out check of the borrowed exponents warns when the consistency test could not see the problem
    (as with three MoE cells beside the dense source: |log2| 1.25 on the held-out size)."""
    from types import SimpleNamespace

    from advisor.artifact import HeldOutSummary
    from calibration.fit.joint_record import _held_out_warning

    def fitter(lr, batch):
        return SimpleNamespace(validation_=SimpleNamespace(held_out_largest=HeldOutSummary(
            lr_log2_error=lr, batch_log2_error=batch)))

    assert [w.code for w in _held_out_warning(fitter(1.25, 0.1))] == ["joint_heldout_poor"]
    assert [w.code for w in _held_out_warning(fitter(0.2, 0.7))] == ["joint_heldout_poor"]
    assert _held_out_warning(fitter(0.2, None)) == []
    assert _held_out_warning(SimpleNamespace(validation_=SimpleNamespace(held_out_largest=None))) == []


def test_exponents_are_borrowed_not_tested_on_too_few_resamples_or_too_narrow_a_span(source_csv):
    """The verdict must not hang on the bootstrap's luck: under 200 resamples, or over less than 2x in N,
    the exponent is borrowed untested (and said), never declared inconsistent."""
    few = with_sources([("big", str(source_csv))], n_boot=50, seed=0).fit(
        mine_trials(mine_truth(n_exponent_shift=0.15)))
    assert {e["status"] for e in few.joint_["laws"]["lr"]["exponents"].values()} == {"borrowed"}
    narrow = with_sources([("big", str(source_csv))], n_boot=200, seed=0).fit(
        mine_trials(mine_truth(n_exponent_shift=0.15), sizes=(1e4, 1.5e4)))
    n_exp = narrow.joint_["laws"]["lr"]["exponents"]["n_params"]
    assert n_exp["status"] == "borrowed" and "1.50x" in n_exp["untested_because"]


def test_the_fitter_refuses_a_same_setup_that_contradicts_its_sources():
    """A model anchored on sources is of your setup: same_setup=False cannot be written into it silently."""
    from calibration.fit import FitInputError

    fitter = ScaleLawFitter(same_setup=False, setups=WithSources((("steplaw-dense", "unused.csv"),)))
    with pytest.raises(FitInputError, match="same_setup=False"):
        fitter.fit("unused.csv")
