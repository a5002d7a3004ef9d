"""Issue 25, item 4: a table whose N and D move together (one token budget per size, or a fixed
tokens-per-parameter ladder) cannot tell N's effect from D's. The fit records the line its cells lie on
and warns; the advisor answers on that line (with the truth inside its interval) and refuses targets off it."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from advisor.model import FittedModel, ModelError
from calibration.fit import ScaleLawFitter
from calibration.fit.synthetic import DEFAULT_SIZES, SyntheticTruth, synthetic_trials

BUDGETS = (4e6, 2e7, 1.5e7, 9e7, 1e8)  # one per size, not a fixed ratio


def _ladder():
    return synthetic_trials(seed=0, lr_points=7, tokens_per_param=(20,))


def _one_budget_per_size():
    return pd.concat([synthetic_trials(seed=i, lr_points=7, sizes=(n,), tokens=(d,))
                      for i, (n, d) in enumerate(zip(DEFAULT_SIZES, BUDGETS))], ignore_index=True)


@pytest.fixture(scope="module", params=["ladder", "one budget per size"])
def fitted(request):
    table = _ladder() if request.param == "ladder" else _one_budget_per_size()
    return request.param, ScaleLawFitter(n_boot=30, loss_surface=False, seed=0).fit(table)


def test_the_fit_records_the_line_and_warns(fitted):
    name, fitter = fitted
    line = fitter.artifact_.nd_line
    assert line is not None and "n_d_collinear" in {w.code for w in fitter.warnings_}
    assert ("20 tokens per parameter" in line.reason) == (name == "ladder")


def test_a_target_off_the_line_is_refused_naming_what_the_data_support(fitted, tmp_path):
    _, fitter = fitted
    model = FittedModel.from_dict(json.loads(fitter._artifact_text))  # as written and read back
    with pytest.raises(ModelError, match="cannot tell N's effect from D's"):
        model.predict_lr(7e9, 2e12)
    fitter.write(tmp_path / "m.json")
    result = CliRunner().invoke(cli, ["recommend", "--n-params-nonembedding", "7B", "--tokens", "2T",
                                      "--model", str(tmp_path / "m.json")])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert "supports D near" in result.stderr


def test_a_target_on_the_line_is_answered_with_the_truth_inside(fitted):
    _, fitter = fitted
    model = FittedModel.from_artifact(fitter.artifact_)
    n = 7e9
    tokens = fitter.artifact_.nd_line.tokens_on_line(n)
    pred = model.predict_lr(n, tokens)
    assert pred.low <= SyntheticTruth().lr_opt(n, tokens) <= pred.high


def test_a_table_with_several_budgets_per_size_has_no_line():
    fitter = ScaleLawFitter(n_boot=0, loss_surface=False).fit(synthetic_trials(seed=0, lr_points=7))
    assert fitter.artifact_.nd_line is None and "n_d_collinear" not in {w.code for w in fitter.warnings_}
    FittedModel.from_artifact(fitter.artifact_).predict_lr(7e9, 2e12)  # answered
