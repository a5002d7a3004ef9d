"""advisor/intervals.py and its use: the sampling, law-form and setup components of a 90% interval."""
from __future__ import annotations

import math
import random

import pytest

from advisor.intervals import FORM_TOLERANCE_LOG2, Spread, form_candidates, range_scales
from advisor.model import FittedLaw, FittedModel
from advisor.recipe import recommend
from advisor_fixtures import synthetic_model_doc

RANGE = {"n_params": (1e8, 1e9), "tokens": (1e10, 1e11), "flops": (6e18, 6e20)}


def _law(exponent_sd: float = 0.05, alternatives=(), n: int = 400) -> FittedLaw:
    """lr = 1·N^-0.8·D^0.3 with bootstrap draws whose N exponent scatters by exponent_sd."""
    rng = random.Random(1)
    coef = (0.0, -0.8, 0.3)
    # draws pivot at the centre of the fitted range (as real fits do), so they agree inside it
    pivot = 0.5 * (math.log(1e8) + math.log(1e9))
    samples = []
    for _ in range(n):
        dn = rng.gauss(0, exponent_sd)
        samples.append((coef[0] - dn * pivot, coef[1] + dn, coef[2]))
    return FittedLaw.from_json({"form": "a*N^alpha*D^beta", "inputs": ["n_params", "tokens"], "log_coef": coef,
                                "samples": samples, "residual_sd": 0.0, "cv_log2_error": 0.1,
                                "alternatives": list(alternatives)})


def _point(n, d):
    return {"n_params": n, "tokens": d, "flops": 6 * n * d}


def test_spreads_combine_in_quadrature_and_reach_values():
    total = Spread.quadrature(Spread(0.3, 0.4), Spread(0.4, 0.3))
    assert (total.below, total.above) == pytest.approx((0.5, 0.5))
    reach = Spread.reaching(0.0, [-0.7, 0.2, 0.1])
    assert (reach.below, reach.above) == pytest.approx((0.7, 0.2))


def test_range_scale_is_distance_over_measured_range_and_never_below_one():
    _, inside = range_scales(("n_params",), _point(5e8, 5e10), RANGE)
    assert inside["n_params"] == 1.0
    _, near = range_scales(("n_params",), _point(2e9, 5e10), RANGE)
    assert near["n_params"] == 1.0  # 0.3 decades beyond a 1-decade range
    _, far = range_scales(("n_params",), _point(1e11, 5e10), RANGE)
    assert far["n_params"] == pytest.approx(2.0)  # 2 decades beyond a 1-decade range


def test_an_exponent_from_a_short_range_cannot_dominate_far_beyond_it():
    """Beyond twice its range the law-form component grows faster than the plain bootstrap."""
    law = _law()
    near = law.predict(_point(3e9, 5e10), RANGE)
    far = law.predict(_point(1e12, 5e10), RANGE)
    assert near.components["law_form"].above == pytest.approx(0.0, abs=1e-9)
    boot_far = far.components["sampling"].above
    # 3 decades beyond a 1-decade range: the exponent's spread counts three times over beyond the edge
    pivot = 0.5 * (math.log(1e8) + math.log(1e9))
    plain = math.log(1e12) - pivot
    scaled = (math.log(1e9) - pivot) + 3 * (math.log(1e12) - math.log(1e9))
    expected = boot_far * math.sqrt((scaled / plain) ** 2 - 1)
    assert far.components["law_form"].above == pytest.approx(expected, rel=0.02)


def test_forms_nearly_as_good_widen_the_interval_and_worse_ones_do_not():
    close = {"form": "a*C^alpha", "inputs": ["flops"], "log_coef": [-5.0, 0.0], "samples": [],
             "residual_sd": 0.0, "cv_log2_error": 0.1 + FORM_TOLERANCE_LOG2 / 2}
    far_off = dict(close, cv_log2_error=0.1 + 2 * FORM_TOLERANCE_LOG2)
    point = _point(5e8, 5e10)
    log_point = _law().law.log_predict(point)
    with_close = _law(alternatives=[close]).predict(point, RANGE)
    form = with_close.components["law_form"]
    assert (form.below, form.above) == pytest.approx((max(0.0, log_point + 5.0), max(0.0, -5.0 - log_point)))
    assert max(form.below, form.above) > 0.5
    without = _law(alternatives=[far_off]).predict(point, RANGE)
    assert without.components["law_form"] == Spread()
    assert form_candidates(None, [(None, 1.0), (9.0, 2.0)]) == [1.0, 2.0]  # no CV: no form preferred


def test_setup_component_is_the_given_width_on_both_sides():
    law = _law()
    point = _point(5e8, 5e10)
    other = law.predict(point, RANGE, setup_width=0.6)
    assert (other.components["setup"].below, other.components["setup"].above) == pytest.approx((0.6, 0.6))
    own = law.predict(point, RANGE)
    assert own.components["setup"] == Spread()
    assert other.ratio > own.ratio
    bounds = other.component_bounds()
    assert bounds["total"] == [other.low, other.high]
    assert bounds["setup"] == pytest.approx([other.value * math.exp(-0.6), other.value * math.exp(0.6)])


def test_beyond_the_range_the_point_follows_the_mean_increment_of_the_candidate_forms():
    """Inside the range the chosen form is the point; beyond it, each candidate form carries the edge
    value to the target and the point is the mean of their increments."""
    flat = (0.2, lambda p: -0.2 * math.log(p["n_params"]))  # a candidate with N^-0.2 instead of N^-0.8
    law = _law()
    inside = law.predict(_point(5e8, 5e10), RANGE, extra_forms=[flat])
    assert inside.value == pytest.approx(law.law.predict(_point(5e8, 5e10)))
    beyond = law.predict(_point(1e11, 5e10), RANGE, extra_forms=[flat])
    edge = law.law.log_predict(_point(1e9, 5e10))
    steps = math.log(1e11 / 1e9)
    assert math.log(beyond.value) == pytest.approx(edge + 0.5 * (-0.8 - 0.2) * steps)
    # the interval reaches the chosen form's own extrapolation and the candidate's
    assert beyond.low <= law.law.predict(_point(1e11, 5e10)) <= beyond.high


def test_recommend_reports_each_component_and_the_setup_only_for_external_models():
    doc = synthetic_model_doc()
    doc["provenance"]["source"] = "external"
    external = recommend(n_params_nonembedding="1e6", tokens="2e7", seq_len=64, model=FittedModel.from_dict(doc))
    assert set(external.lr_interval.as_dict()) == {"sampling", "law_form", "setup", "total"}
    assert external.lr_interval.setup[0] < external.lr < external.lr_interval.setup[1]
    # the setup half-width is the spread of DeepSeek LLM's and Step Law's laws at the target
    ds, sl = (recommend(n_params_nonembedding="1e6", tokens="2e7", seq_len=64, law=k).lr for k in ("deepseek", "steplaw"))
    assert external.lr / external.lr_interval.setup[0] == pytest.approx(max(ds, sl) / min(ds, sl))
    doc["provenance"]["same_setup_as_target"] = True
    own = recommend(n_params_nonembedding="1e6", tokens="2e7", seq_len=64, model=FittedModel.from_dict(doc))
    assert own.lr_interval.setup == [own.lr, own.lr]
    assert own.lr_interval_ratio < external.lr_interval_ratio
    assert [own.lr_low, own.lr_high] == own.lr_interval.total


def test_component_bounds_of_a_wide_spread_at_a_small_value_do_not_overflow():
    """A spread of 720 (log) at a value of e^-30: the upper bound is finite although exp(720) alone is not
    (recalibrate on a GPT-2-sized .bin crashed writing its report here)."""
    from advisor.model import Prediction

    value = math.exp(-30)
    pred = Prediction(value, math.exp(-30 - 720), math.exp(-30 + 720), {"sampling": Spread(720.0, 720.0)})
    low, high = pred.component_bounds()["sampling"]
    assert math.isclose(math.log(high), 690) and 0 <= low < value
