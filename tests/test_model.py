"""advisor/model.py: validating the fitted-model artifact and predicting with intervals."""
from __future__ import annotations

import json
import math

import pytest

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
    ("version", 2, "version"),
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
