"""advisor/laws.py: power laws, the Chinchilla-form loss law and the published LR/batch laws."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from advisor.laws import (HYPERPARAMETER_LAWS, LOSS_PRESETS, LossLaw, PowerLaw, Target, batch_label)

POINT = {"n_params": 1e9, "tokens": 2e10, "flops": 1.2e20}


def test_power_law_evaluates_in_log_space():
    law = PowerLaw(("n_params", "tokens"), (math.log(2.0), -0.5, 0.25))
    assert law.predict(POINT) == pytest.approx(2.0 * 1e9**-0.5 * 2e10**0.25)


def test_power_law_rejects_unknown_inputs_and_wrong_coefficient_count():
    with pytest.raises(ValueError, match="unknown"):
        PowerLaw(("width",), (0.0, 1.0))
    with pytest.raises(ValueError, match="coefficients"):
        PowerLaw(("flops",), (0.0,))


@settings(max_examples=50, deadline=None)
@given(st.floats(1e18, 1e26))
def test_compute_optimal_minimises_loss_on_the_iso_flop_curve(flops):
    law = LOSS_PRESETS["chinchilla"]
    n, d = law.compute_optimal(flops)
    assert 6 * n * d == pytest.approx(flops)
    best = law.loss(n, d)
    for factor in (0.8, 1.25):
        assert law.loss(n * factor, flops / (6 * n * factor)) > best


@settings(max_examples=50, deadline=None)
@given(st.floats(1e6, 1e12))
def test_optimal_tokens_inverts_compute_optimal(n):
    law = LOSS_PRESETS["epoch"]
    d = law.optimal_tokens(n)
    n_back, d_back = law.compute_optimal(6 * n * d)
    assert n_back == pytest.approx(n, rel=1e-9) and d_back == pytest.approx(d, rel=1e-9)


def test_chinchilla_presets_give_about_twenty_tokens_per_parameter_at_chinchilla_scale():
    # Chinchilla: 70B parameters, 1.4T tokens, C ≈ 5.9e23; the fitted laws put D/N in the tens.
    for law in LOSS_PRESETS.values():
        n, d = law.compute_optimal(5.88e23)
        assert 5 < d / n < 100


def test_loss_law_usability():
    assert LOSS_PRESETS["chinchilla"].is_usable()
    assert not LossLaw(1.0, float("nan"), 0.3, 10.0, 0.3).is_usable()
    assert not LossLaw(1.0, 10.0, -0.3, 10.0, 0.3).is_usable()


def _target(n=6.5e9, d=2e12, seq=4096, loss=2.0):
    d_model = (n / (12 / 128)) ** (1 / 3)
    return Target(n, d, seq, d_model / 128, d_model, loss=loss, loss_source="test")


def test_deepseek_law_uses_its_flops_with_attention():
    t = _target()
    m = 6 * t.n_params + 6 * t.n_layer * t.d_model * t.seq_len
    answer = HYPERPARAMETER_LAWS["deepseek"].evaluate(t)
    assert answer.lr == pytest.approx(0.3118 * (m * t.tokens) ** -0.125)
    assert answer.batch_tokens == pytest.approx(0.2920 * (m * t.tokens) ** 0.3271)


def test_step_law_values():
    t = _target()
    answer = HYPERPARAMETER_LAWS["steplaw"].evaluate(t)
    assert answer.lr == pytest.approx(1.79 * 6.5e9**-0.713 * 2e12**0.307)
    assert answer.batch_tokens == pytest.approx(0.58 * 2e12**0.571)


def test_kaplan_lr_and_critical_batch():
    answer = HYPERPARAMETER_LAWS["kaplan"].evaluate(_target(n=1e8, loss=3.0))
    assert answer.lr == pytest.approx(0.003239 - 0.0001395 * math.log(1e8))
    assert answer.batch_tokens == pytest.approx(2e8 / 3.0 ** (1 / 0.21))


def test_kaplan_lr_left_out_where_the_formula_turns_negative():
    answer = HYPERPARAMETER_LAWS["kaplan"].evaluate(_target(n=1e11))
    assert answer.lr is None and any("negative" in n for n in answer.notes)


def test_porian_row_is_left_out_rather_than_invented():
    answer = HYPERPARAMETER_LAWS["porian"].evaluate(_target())
    assert answer.lr is None and answer.batch_tokens is None and answer.notes


def test_every_published_law_has_an_arxiv_citation():
    for law in [*HYPERPARAMETER_LAWS.values(), *LOSS_PRESETS.values()]:
        assert "arXiv" in law.citation


def test_published_formulas_print_the_coefficients_the_code_evaluates():
    """Each coefficient is written once: the formula text shows the numbers the law computes with (a change to
    one cannot leave the other behind)."""
    assert HYPERPARAMETER_LAWS["deepseek"].formula == "η = 0.3118·C^-0.125, B = 0.2920·C^0.3271"
    assert HYPERPARAMETER_LAWS["steplaw"].formula == "η = 1.79·N^-0.713·D^0.307, B = 0.58·D^0.571"
    assert HYPERPARAMETER_LAWS["kaplan"].formula == "LR(N) = 0.003239 − 0.0001395·ln N, B_crit = 2e8/L^(1/0.21)"
    # the code computes with the printed numbers: the laws evaluated against the formulas written out above
    target = Target(n_params=1e9, tokens=1e11, seq_len=4096, n_layer=16, d_model=2048, loss=2.0)
    step = HYPERPARAMETER_LAWS["steplaw"].evaluate(target)
    assert step.lr == pytest.approx(1.79 * 1e9**-0.713 * 1e11**0.307, rel=1e-12)
    assert step.batch_tokens == pytest.approx(0.58 * 1e11**0.571, rel=1e-12)
    kaplan = HYPERPARAMETER_LAWS["kaplan"].evaluate(target)
    assert kaplan.lr == pytest.approx(0.003239 - 0.0001395 * math.log(1e9), rel=1e-12)
    assert kaplan.batch_tokens == pytest.approx(2e8 / 2.0 ** (1 / 0.21), rel=1e-12)
    flops = (6 * 1e9 + 6 * 16 * 2048 * 4096) * 1e11
    deepseek = HYPERPARAMETER_LAWS["deepseek"].evaluate(target)
    assert deepseek.lr == pytest.approx(0.3118 * flops**-0.125, rel=1e-12)
    assert deepseek.batch_tokens == pytest.approx(0.2920 * flops**0.3271, rel=1e-12)


def test_kaplan_batch_is_labelled_a_critical_batch_not_an_optimum():
    assert batch_label("law:kaplan") == "critical batch"
    assert batch_label("law:deepseek") == batch_label("law:steplaw") == batch_label("model") == "optimum"
