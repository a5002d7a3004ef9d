"""advisor/recipe.py: the full recipe from the fitted laws and the stated rules."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

import advisor.recipe as recipe
from advisor import Recommendation, recommend
from advisor.model import FittedModel, ModelError
from advisor.errors import AdvisorError
from advisor.rules import MIN_STEPS, beta2_rule, practical_batch_seqs
from advisor.shape import from_nonembedding, from_total
from advisor.units import UnitError
from advisor_fixtures import synthetic_model_doc, write_model

REQUIRED_KEYS = {"lr", "lr_low", "lr_high", "batch_tokens", "batch_tokens_low", "batch_tokens_high", "batch_seqs",
                 "n_params", "tokens", "flops", "warmup_steps", "steps", "weight_decay", "beta2"}


@pytest.fixture
def model_file(tmp_path):
    return write_model(tmp_path / "model.json")


def test_standard_shape_of_a_7b_model():
    shape = from_total(7e9, 32000)
    assert shape.n_params + 2 * 32000 * shape.d_model == pytest.approx(7e9)
    assert shape.n_params == pytest.approx(12 * shape.n_layer * shape.d_model**2)
    assert 4000 < shape.d_model < 4300 and 31 < shape.n_layer < 34  # Llama-7B: 4096, 32 layers
    back = from_nonembedding(shape.n_params, 32000)
    assert back.n_params_total == pytest.approx(7e9)


def test_recommend_7b_2t(model_file):
    rec = recommend("7B", "2T", model=model_file)
    assert isinstance(rec, Recommendation)
    assert REQUIRED_KEYS <= set(rec.to_dict())
    assert rec.n_params_total == 7e9 and rec.tokens == 2e12
    assert rec.flops == pytest.approx(6 * rec.n_params * rec.tokens)
    model = FittedModel.load(model_file)
    assert rec.lr == pytest.approx(model.predict_lr(rec.n_params, 2e12).value)
    assert rec.lr_low < rec.lr < rec.lr_high
    assert rec.batch_tokens_low < rec.batch_tokens < rec.batch_tokens_high
    assert rec.batch_tokens_rounded == rec.batch_seqs * 4096
    assert rec.steps == int(2e12 // rec.batch_tokens_rounded)
    assert rec.final_lr == pytest.approx(0.1 * rec.lr) and rec.schedule == "cosine"
    assert rec.extrapolation["n_params"] > 1000
    assert any("far extrapolation" in w for w in rec.warnings)
    assert "only 4 sizes: exponents are weakly determined" in rec.warnings


def test_numbers_and_strings_agree(model_file):
    a = recommend("7B", "2T", model=model_file)
    b = recommend(7e9, 2e12, model=FittedModel.load(model_file), seq_len="4096")
    assert a.lr == b.lr and a.batch_seqs == b.batch_seqs


def test_weight_decay_keeps_the_adamw_timescale_a_fraction_of_training(model_file):
    rec = recommend("7B", "2T", model=model_file, tau_frac=0.2)
    tau_steps = 1.0 / (rec.lr * rec.weight_decay)
    assert tau_steps / rec.steps == pytest.approx(0.2) and rec.tau_frac == pytest.approx(0.2)
    assert "Wang & Aitchison" in rec.rules["weight_decay"]
    published = recommend("7B", "2T", law="deepseek")
    assert 1.0 / (published.lr * published.weight_decay * published.steps) == pytest.approx(0.1)


def test_weight_decay_defaults_to_the_calibrated_one(model_file):
    calibrated = FittedModel.load(model_file).optimizer["weight_decay"]
    rec = recommend("7B", "2T", model=model_file)
    assert rec.weight_decay == calibrated and "proxies were trained with" in rec.rules["weight_decay"]
    assert rec.tau_frac == pytest.approx(1.0 / (rec.lr * calibrated * rec.steps))


def test_warmup_is_n_tokens_floored_by_practice_and_capped_at_a_tenth_of_training(model_file):
    from advisor.practice import warmup_floor

    rec = recommend("7B", "2T", model=model_file)
    assert rec.warmup_steps == max(math.ceil(rec.n_params / rec.batch_tokens_rounded), warmup_floor(rec.steps))
    short = recommend("7B", "20B", model=model_file)
    assert short.warmup_steps == int(0.1 * short.steps)


def test_warmup_of_a_long_run_reaches_the_published_floor():
    """8B on 15T: N tokens alone is ~276 steps (0.05%); Llama 2 and DeepSeek LLM warmed up 2,000 steps."""
    rec = recommend("8B", "15T", vocab_size=128256)
    assert rec.warmup_steps == 2000 and rec.warmup_steps > math.ceil(rec.n_params / rec.batch_tokens_rounded)
    assert "warmup_outside_practice" not in rec.warning_codes and "2,000 steps" in rec.rules["warmup"]
    small = recommend("125M", "300B")
    assert small.warmup_steps == max(1, int(0.01 * small.steps))


def test_beta2_rule_holds_the_half_life_in_tokens():
    assert beta2_rule(4 * 2**20) == pytest.approx(0.95)
    assert beta2_rule(64 * 2**20) == 0.95
    assert beta2_rule(2**20) == pytest.approx(0.95**0.25)
    assert beta2_rule(1024) == 0.999
    # Inside the clip range the half-life in tokens, B·ln(0.5)/ln(β2), is constant.
    half = [b * math.log(0.5) / math.log(beta2_rule(b)) for b in (2**20, 2**21, 2**22)]
    assert half == pytest.approx([half[0]] * 3)


@settings(max_examples=200, deadline=None)
@given(st.floats(1.0, 1e9), st.sampled_from([128, 2048, 4096, 8192]))
def test_practical_batch_is_a_power_of_two_or_three_times_one_and_close(batch_tokens, seq_len):
    seqs = practical_batch_seqs(batch_tokens, seq_len)
    odd = seqs // (seqs & -seqs)
    assert odd in (1, 3)
    target = batch_tokens / seq_len
    if target >= 2:
        assert max(seqs / target, target / seqs) <= 1.23
    else:
        assert seqs in (1, 2)


def test_default_tokens_are_compute_optimal_under_the_loss_law(model_file):
    rec = recommend("7B", model=model_file)
    law = FittedModel.load(model_file).loss_.law
    assert rec.tokens == pytest.approx(law.optimal_tokens(rec.n_params))
    assert "compute-optimal" in rec.tokens_source


def test_default_tokens_fall_back_to_twenty_per_parameter(tmp_path):
    doc = synthetic_model_doc()
    doc["laws"]["loss"] = None
    rec = recommend("7B", model=write_model(tmp_path / "m.json", doc))
    assert rec.tokens == pytest.approx(20 * 7e9) and "20 tokens per" in rec.tokens_source


def test_tokens_per_param(model_file):
    rec = recommend("1B", tokens_per_param=100, model=model_file)
    assert rec.tokens == pytest.approx(1e11)


def test_nonembedding_params_given_directly(model_file):
    rec = recommend(n_params_nonembedding="6.5e9", tokens="2T", model=model_file)
    assert rec.n_params == 6.5e9 and rec.n_params_total > 6.5e9


def test_provenance_settings_flow_into_the_recipe(tmp_path):
    doc = synthetic_model_doc()
    doc["provenance"]["optimizer"].update(beta1=0.8, eps=1e-6, grad_clip=0.5)
    doc["provenance"]["schedule"] = {"name": "wsd", "final_lr_frac": 0.0}
    rec = recommend("7B", "2T", model=write_model(tmp_path / "m.json", doc))
    assert (rec.beta1, rec.eps, rec.grad_clip, rec.schedule, rec.final_lr) == (0.8, 1e-6, 0.5, "wsd", 0.0)


@pytest.mark.parametrize("law", ["deepseek", "steplaw", "kaplan", "Step-Law"])
def test_published_laws_drive_recommend_without_a_model(law):
    rec = recommend("1B", "20B", law=law)
    assert rec.lr > 0 and rec.lr_low == rec.lr_high == rec.lr and rec.batch_seqs >= 1
    assert rec.source.kind == "law" and "arXiv" in rec.source.citation


@pytest.mark.parametrize("kwargs, error, fragment", [
    (dict(params="7B", tokens="1000"), AdvisorError, "larger than the training tokens"),
    (dict(params="7B", tokens="2T", tokens_per_param=20), AdvisorError, "not both"),
    (dict(tokens="2T"), AdvisorError, "exactly one"),
    (dict(params="7B", n_params_nonembedding="6B"), AdvisorError, "exactly one"),
    (dict(params="7X"), UnitError, "cannot read"),
    (dict(params="7B", seq_len="0"), UnitError, "positive"),
    (dict(params="7B", law="nope"), AdvisorError, "unknown law"),
    (dict(params="1e12", tokens="2T", law="kaplan"), AdvisorError, "negative"),
])
def test_bad_input(model_file, kwargs, error, fragment):
    kwargs.setdefault("model", None if "law" in kwargs else model_file)
    with pytest.raises(error, match=fragment):
        recommend(**kwargs)


def test_tokens_fewer_than_one_batch(tmp_path):
    doc = synthetic_model_doc()
    doc["laws"]["batch"]["log_coef"] = [math.log(1e6), 0.0]  # a 1M-token batch at any D
    model = write_model(tmp_path / "m.json", doc)
    # at so few tokens the model does not know its batch (advisor/unknown_optimum.py): the steps rest on the
    # published laws' batch, not on its 1M point; a run shorter than one sequence is still refused
    rec = recommend("7B", "100000", model=model)
    assert not rec.batch_informative and rec.batch_tokens_rounded <= 100000 and rec.steps >= MIN_STEPS
    with pytest.raises(AdvisorError, match="larger than the training tokens"):
        recommend("7B", "3000", model=model)


def test_missing_default_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(recipe, "default_model_path", lambda: tmp_path / "default" / "model.json")
    with pytest.raises(ModelError, match="no default model"):
        recommend("7B", "2T")


def test_default_model_is_used_when_present(tmp_path, monkeypatch):
    (tmp_path / "default").mkdir()
    path = write_model(tmp_path / "default" / "model.json")
    monkeypatch.setattr(recipe, "default_model_path", lambda: path)
    assert recommend("7B", "2T").source.path == str(path)


def test_reads_the_real_fitters_artifact_and_recovers_the_true_law(tmp_path):
    """Contract test with calibration/fit/fitter.py: fit a synthetic sweep drawn from Step Law, extrapolate 800×."""
    pytest.importorskip("pandas")
    import json

    from calibration.fit import ScaleLawFitter
    from calibration.fit.synthetic import synthetic_trials

    artifact = ScaleLawFitter(n_boot=20, loss_boot_max=20).fit(synthetic_trials(seed=0)).artifact_.to_json()
    path = tmp_path / "fitted.json"
    path.write_text(json.dumps(artifact))
    rec = recommend(n_params_nonembedding=6.5e9, tokens=2e12, model=path)
    true_lr = 1.79 * 6.5e9**-0.713 * 2e12**0.307
    true_batch = 0.58 * 2e12**0.571
    assert true_lr / 1.5 < rec.lr < true_lr * 1.5
    assert true_batch / 1.5 < rec.batch_tokens < true_batch * 1.5
    assert rec.extrapolation["n_params"] > 100


def test_edge_bound_batch_law_is_replaced_by_deepseek_and_said(tmp_path):
    doc = synthetic_model_doc()
    doc["laws"]["batch"]["n_edge_cells"] = doc["laws"]["batch"]["n_cells"] = 8
    rec = recommend("7B", "2T", model=write_model(tmp_path / "edge.json", doc))
    deepseek = recommend("7B", "2T", law="deepseek")
    assert rec.batch_source == "law:deepseek"
    assert rec.batch_tokens == pytest.approx(deepseek.batch_tokens)
    assert rec.batch_tokens_low == rec.batch_tokens_high == rec.batch_tokens  # a point law: no interval
    assert rec.lr != pytest.approx(deepseek.lr)  # the LR still comes from the model
    assert any("DeepSeek" in w and "bound" in w for w in rec.warnings)


def test_interior_batch_law_is_used(model_file):
    assert recommend("7B", "2T", model=model_file).batch_source == "model"


def test_absurd_loss_law_optimum_falls_back_to_20_tokens_per_parameter(tmp_path):
    doc = synthetic_model_doc()
    doc["laws"]["loss"]["values"] = [0.0, 77.0, 0.70, 9.6, 0.14]  # E = 0, tiny β: D*/N astronomically large
    rec = recommend("7B", model=write_model(tmp_path / "absurd.json", doc))
    assert rec.tokens == pytest.approx(20 * 7e9)
    assert "does not transfer" in rec.tokens_source and any("absurd" in w for w in rec.warnings)
