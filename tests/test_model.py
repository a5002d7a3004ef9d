"""advisor/model.py: validating the fitted-model artifact and predicting with intervals."""
from __future__ import annotations

import json
import math

import pytest

from advisor.artifact import EDGE_BOUND_FRACTION, FittedModelArtifact, traces_grid_edge
from advisor.catalog import resolve_model
from advisor.coded_warning import CodedWarning, legacy_code
from advisor.model import Z90, FittedModel, ModelError
from advisor_fixtures import BATCH_COEF, LR_COEF, modified, synthetic_model_doc, write_model


@pytest.fixture
def doc():
    return synthetic_model_doc()


def test_loads_and_predicts_the_point_estimate(tmp_path, doc):
    model = FittedModel.load(write_model(tmp_path / "m.json", doc))
    lr = model.predict_lr(1e6, 2e7)
    assert lr.value == pytest.approx(math.exp(LR_COEF[0]) * 1e6 ** LR_COEF[1] * 2e7 ** LR_COEF[2])
    batch = model.predict_batch(1e6, 2e7)
    assert batch.value == pytest.approx(math.exp(BATCH_COEF[0]) * 2e7 ** BATCH_COEF[1])
    assert lr.low < lr.value < lr.high and batch.low < batch.value < batch.high


def test_interval_widens_with_extrapolation(doc):
    model = FittedModel.from_dict(doc)
    inside = model.predict_lr(1e6, 2e7)
    far = model.predict_lr(7e9, 2e12)
    assert far.ratio > inside.ratio > 1.0


def test_without_samples_the_interval_is_the_residual_band(doc):
    doc["laws"]["lr"]["samples"] = []
    model = FittedModel.from_dict(doc)
    p = model.predict_lr(1e6, 2e7)
    sd = doc["laws"]["lr"]["residual_sd"]
    assert p.high / p.value == pytest.approx(math.exp(Z90 * sd))
    assert p.value / p.low == pytest.approx(math.exp(Z90 * sd))


def test_non_finite_bootstrap_draws_are_dropped(doc):
    doc["laws"]["lr"]["samples"][0] = [float("nan"), 0.0, 0.0]
    model = FittedModel.from_dict(doc)
    assert len(model.lr_.samples) == len(doc["laws"]["lr"]["samples"]) - 1


def test_extrapolation_factors(doc):
    model = FittedModel.from_dict(doc)
    inside = model.extrapolation(1e6, 2e7)
    assert inside == {"n_params": 1.0, "tokens": 1.0, "flops": 1.0}
    far = model.extrapolation(5e8, 2e6)
    assert far["n_params"] == pytest.approx(100.0)
    assert far["tokens"] == 1.0
    below = model.extrapolation(1e4, 2e6)
    assert below["n_params"] == pytest.approx(10.0)


def test_reads_loss_law_by_parameter_name(doc):
    doc["laws"]["loss"]["param_names"] = ["A", "E", "alpha", "B", "beta"]
    doc["laws"]["loss"]["values"] = [50.0, 1.0, 0.35, 200.0, 0.3]
    doc["laws"]["loss"]["samples"] = []
    law = FittedModel.from_dict(doc).loss_.law
    assert (law.E, law.A) == (1.0, 50.0)


def test_loss_law_may_be_null(doc):
    doc["laws"]["loss"] = None
    assert FittedModel.from_dict(doc).loss_ is None


def test_summary_and_recipe_provenance(doc):
    model = FittedModel.from_dict(doc)
    assert model.summary()["tokenizer"] == "bytes-256"
    assert model.optimizer["beta1"] == 0.9 and model.schedule["name"] == "cosine"


BAD_DOCS = [
    ("schema", "other/thing", "schema"),
    ("version", 3, "version"),
    ("laws.lr", None, "laws.lr"),
    ("laws.batch", "B = 0.3 C^0.3", "laws.batch"),
    ("laws.lr.log_coef", [float("nan"), -0.3, 0.05], "non-finite"),
    ("laws.batch.log_coef", [1.0, float("inf")], "non-finite"),
    ("laws.lr.log_coef", [1.0, -0.3], "coefficients"),
    ("laws.lr.log_coef", ["a", -0.3, 0.05], "non-number"),
    ("laws.lr.inputs", ["width", "tokens"], "unknown"),
    ("laws.loss.values", [1.0, float("nan"), 0.3, 10.0, 0.3], "non-finite"),
    ("laws.loss.param_names", ["E", "A"], "parameters"),
    ("laws", [], "laws"),
]


@pytest.mark.parametrize("path, value, fragment", BAD_DOCS)
def test_refuses_bad_artifacts_with_one_line(tmp_path, doc, path, value, fragment):
    file = write_model(tmp_path / "bad.json", modified(doc, path, value))
    with pytest.raises(ModelError) as info:
        FittedModel.load(file)
    assert fragment in str(info.value) and "\n" not in str(info.value)
    assert str(file) in str(info.value)


def test_refuses_missing_truncated_and_non_object_files(tmp_path, doc):
    with pytest.raises(ModelError, match="not found"):
        FittedModel.load(tmp_path / "nope.json")
    text = json.dumps(doc)
    (tmp_path / "cut.json").write_text(text[: len(text) // 2])
    with pytest.raises(ModelError, match="not valid JSON"):
        FittedModel.load(tmp_path / "cut.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ModelError, match="JSON object"):
        FittedModel.load(tmp_path / "list.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ModelError):
        FittedModel.load(tmp_path / "bin.json")


def test_null_batch_law_loads_but_is_unusable(tmp_path, doc):
    fitted = FittedModel.load(write_model(tmp_path / "m.json", modified(doc, "laws.batch", None)))
    assert fitted.batch_ is None and "could not estimate" in fitted.batch_unusable_
    with pytest.raises(ModelError, match="no batch law"):
        fitted.predict_batch(1e9, 2e10)


def test_edge_bound_batch_law_is_flagged_unusable(tmp_path, doc):
    bounded = modified(modified(doc, "laws.batch.n_edge_cells", 9), "laws.batch.n_cells", 12)
    fitted = FittedModel.load(write_model(tmp_path / "m.json", bounded))
    assert "9 of 12" in fitted.batch_unusable_ and "bound" in fitted.batch_unusable_
    interior = modified(modified(doc, "laws.batch.n_edge_cells", 2), "laws.batch.n_cells", 12)
    assert FittedModel.load(write_model(tmp_path / "i.json", interior)).batch_unusable_ is None


@pytest.mark.parametrize("edge, cells, bound", [(6, 12, False), (7, 12, True), (0, 0, False), (None, 12, False)])
def test_one_rule_decides_when_a_law_is_a_bound(doc, edge, cells, bound):
    assert EDGE_BOUND_FRACTION == 0.5 and traces_grid_edge(edge, cells) is bound
    doc = modified(modified(doc, "laws.batch.n_edge_cells", edge), "laws.batch.n_cells", cells)
    model = FittedModel.from_dict(doc)
    assert model.artifact_.laws.batch.is_bound is bound
    assert (model.batch_unusable_ is not None) is bound
    assert model.artifact_.laws.batch.bound_reason("batch") == model.batch_unusable_


def test_warnings_carry_their_codes(doc):
    doc["warnings"] = [{"code": "lr_on_grid_edge", "message": "2 of 12 cells have the LR optimum on the grid edge"},
                       {"message": "a warning without a code"}, {"code": "x"}, 3, ""]
    warnings = FittedModel.from_dict(doc).warnings_
    assert [w.code for w in warnings] == ["lr_on_grid_edge", "unspecified"]  # entries without a message dropped
    assert warnings[0] == "2 of 12 cells have the LR optimum on the grid edge"  # still the message, as a str
    assert warnings[0].to_json() == doc["warnings"][0]


def test_warnings_of_files_from_before_the_codes_get_codes_from_their_wording(doc):
    doc["warnings"] = ["3 of 15 cells have the batch optimum on the grid edge (down-weighted): extend the batch grid",
                       "held-out largest size: a prediction falls outside the measured grid (regret is a lower bound)",
                       "something new"]
    codes = [w.code for w in FittedModel.from_dict(doc).warnings_]
    assert codes == ["batch_on_grid_edge", "held_out_outside_grid", "unspecified"]
    assert legacy_code("only 3 sizes: exponents are weakly determined") == "few_sizes"


def test_a_warning_survives_copy_and_pickle():
    import copy
    import pickle

    w = CodedWarning("no_bootstrap", "no bootstrap: coefficients have no intervals")
    for again in (copy.deepcopy(w), pickle.loads(pickle.dumps(w))):
        assert again.code == "no_bootstrap" and again == w and json.dumps([again]) == json.dumps([str(w)])


@pytest.mark.parametrize("name", ["steplaw-dense", "cpu-default"])
def test_shipped_models_load_and_write_back_unchanged_but_for_warning_codes(name):
    doc = json.loads(resolve_model(name).read_text())
    out = FittedModelArtifact.from_json(doc).to_json()
    # files written before the codes hold plain strings; later ones {"code", "message"}
    messages = [w if isinstance(w, str) else w["message"] for w in doc["warnings"]]
    assert [w["message"] for w in out["warnings"]] == messages
    assert all(w["code"] != "unspecified" for w in out["warnings"])
    assert {k: v for k, v in out["provenance"].items() if v is not None} == \
        {k: v for k, v in doc["provenance"].items() if v is not None}
    for key in ("laws", "validation", "cells", "fit_range", "schema", "created_at"):
        assert out[key] == doc[key], key
    assert out["version"] == 2 and (doc["version"] == 2 or out["penalty"] is None)  # version 1: no penalty model
    assert FittedModelArtifact.from_json(out).to_json() == out
