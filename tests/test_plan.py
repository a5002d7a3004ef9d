"""advisor/planning.py: budgets, compute-optimal allocation, time, cost, memory and micro-batching."""
from __future__ import annotations

import re

import pytest

from advisor import Plan, plan
from advisor.hardware import GPUS
from advisor.laws import LOSS_PRESETS
from advisor.planning import memory_per_gpu
from advisor.errors import AdvisorError
from advisor.shape import from_nonembedding
from advisor_fixtures import synthetic_model_doc, write_model


@pytest.fixture
def model_file(tmp_path):
    return write_model(tmp_path / "model.json")


def test_flops_budget_gives_the_loss_laws_compute_optimal_size(model_file):
    p = plan(flops="1e23", loss_law="chinchilla", model=model_file, gpus=256)
    assert isinstance(p, Plan) and p.mode == "budget"
    # the allocation's 6ND is the budget less attention and the output head (one count for allocation and time)
    assert p.loss_law["flops_6nd"] < 1e23 and p.train_flops == pytest.approx(1e23)
    n, d = LOSS_PRESETS["chinchilla"].compute_optimal(p.loss_law["flops_6nd"])
    # Chinchilla's N counts all parameters (Pearce & Song, arXiv 2406.12907)
    assert p.n_params_total == pytest.approx(n) and p.tokens == pytest.approx(d)
    assert p.n_params < p.n_params_total
    assert p.flops == pytest.approx(1e23)
    assert p.recommendation.tokens_source.startswith("compute-optimal under the Chinchilla")
    assert p.predicted_loss == pytest.approx(LOSS_PRESETS["chinchilla"].loss(n, d))


def test_gpus_and_days_budget(model_file):
    p = plan(gpus=512, days=30, gpu="h100", mfu=0.4, loss_law="epoch", model=model_file)
    expected = 512 * 30 * 86400 * GPUS["h100"].peak_flops * 0.4
    assert p.flops == pytest.approx(expected)
    # the full count (attention and head too) spends the budget: the plan takes the 30 days it was given
    assert p.train_flops == pytest.approx(p.flops)
    assert 1.0 < p.flops / p.loss_law["flops_6nd"] < 1.3
    assert p.wall_days == pytest.approx(30.0)
    assert p.gpu_hours == pytest.approx(512 * 30 * 24)


def test_gpu_hours_budget_uses_the_fitted_loss_law_by_default(model_file):
    p = plan(gpu_hours="1e5", gpu="a100", model=model_file)
    assert p.gpu_hours == pytest.approx(1e5)
    assert p.loss_law["name"] == "fitted"
    assert any("far from the published" in w for w in p.warnings)  # the synthetic law's D/N is in the thousands


def test_size_mode_gives_time_and_cost(model_file):
    p = plan(params="7B", tokens="2T", gpus=256, price_per_gpu_hour=2.5, model=model_file)
    assert p.mode == "size" and p.loss_law is None
    rec = p.recommendation
    per_token = 6 * rec.n_params + 6 * rec.n_layer * rec.seq_len * rec.d_model + 6 * rec.d_model * rec.vocab_size
    assert p.train_flops == pytest.approx(per_token * rec.tokens)
    hours = p.train_flops / (GPUS["h100"].peak_flops * 0.4) / 3600
    assert p.gpu_hours == pytest.approx(hours)
    assert p.wall_days == pytest.approx(hours / 256 / 24)
    assert p.cost == pytest.approx(2.5 * hours)


def test_micro_batch_and_accumulation_reach_the_batch(model_file):
    p = plan(params="70B", tokens="2T", gpus=64, model=model_file)
    m, rec = p.memory, p.recommendation
    assert m.fits and m.micro_batch * m.grad_accum * p.gpus == rec.batch_seqs
    assert m.total_gib <= m.usable_gib


def test_memory_accounting_fsdp_vs_ddp(model_file):
    p = plan(params="7B", tokens="2T", gpus=8, model=model_file)
    shape = from_nonembedding(p.recommendation.n_params, 32000)
    gpu = GPUS["h100"]
    fsdp = memory_per_gpu(shape, p.recommendation, gpu, 8, "fsdp", True)
    ddp = memory_per_gpu(shape, p.recommendation, gpu, 8, "ddp", True)
    assert fsdp.weights_gib == pytest.approx(2 * 7e9 / 8 / 2**30)
    assert fsdp.optimizer_gib == pytest.approx(12 * 7e9 / 8 / 2**30)
    assert ddp.weights_gib + ddp.grads_gib + ddp.optimizer_gib == pytest.approx(16 * 7e9 / 2**30)
    assert not ddp.fits  # 104 GiB of replicated state does not fit an 80 GB H100
    no_ckpt = memory_per_gpu(shape, p.recommendation, gpu, 8, "fsdp", False)
    assert no_ckpt.micro_batch < fsdp.micro_batch


def test_fewest_gpus_chosen_when_not_given(model_file):
    p = plan(params="70B", tokens="1T", model=model_file)
    assert p.gpus_source.startswith("fewest") and p.memory.fits
    smaller = memory_per_gpu(from_nonembedding(p.n_params, 32000), p.recommendation, GPUS["h100"],
                             p.gpus // 2, "fsdp", True)
    assert not smaller.fits


def test_does_not_fit_is_a_warning_not_a_crash(model_file):
    p = plan(params="70B", tokens="1T", gpus=2, model=model_file)
    assert not p.memory.fits and any("does not fit" in w for w in p.warnings)


def test_batch_smaller_than_gpu_count_is_flagged(model_file):
    p = plan(params="1B", tokens="20B", gpus=4096, model=model_file)
    assert any("smaller than the 4,096 GPUs" in w for w in p.warnings)


def test_hp_law_with_preset_loss_law_needs_no_model():
    p = plan(flops="1e22", loss_law="chinchilla", hp_law="deepseek", gpus=64)
    assert p.recommendation.source.law == "deepseek"


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(flops="1e23", gpu_hours="1e5"), "one budget"),
    (dict(), "one budget"),
    (dict(days=30), "days= needs gpus="),  # the API names its parameters
    (dict(flops="1e23", gpu="tpu9"), "unknown GPU"),
    (dict(flops="1e23", mfu="1.5"), "at most 1"),
    (dict(flops="1e23", sharding="zero7"), "sharding"),
    (dict(flops="1e23", loss_law="kaplan"), "unknown loss law"),
    (dict(params="7B", flops="1e23"), "not both"),
    (dict(flops="1e23", tokens="2T"), "tokens= needs params="),
    (dict(flops="1e23", hp_law="deepseek"), "loss_law=chinchilla|epoch"),
])
def test_bad_plans(model_file, kwargs, fragment):
    with pytest.raises(AdvisorError, match=re.escape(fragment)):
        plan(model=model_file if "hp_law" not in kwargs else None, **kwargs)


def test_model_without_loss_law_needs_a_preset(tmp_path):
    doc = synthetic_model_doc()
    doc["laws"]["loss"] = None
    with pytest.raises(AdvisorError, match="no usable loss law"):
        plan(flops="1e23", model=write_model(tmp_path / "m.json", doc))


def test_size_mode_takes_default_tokens_from_the_chosen_loss_law(model_file):
    p = plan(params="7B", loss_law="chinchilla", gpus=64, model=model_file)
    law = LOSS_PRESETS["chinchilla"]
    assert p.tokens == pytest.approx(law.optimal_tokens(p.n_params_total))
    assert "Chinchilla" in p.recommendation.tokens_source


def test_absurd_fitted_loss_law_allocation_falls_back_to_the_epoch_refit(tmp_path):
    doc = synthetic_model_doc()
    doc["laws"]["loss"]["values"] = [0.0, 77.0, 0.70, 9.6, 0.14]  # E = 0, tiny β: D*/N astronomically large
    p = plan(flops=1e23, model=write_model(tmp_path / "absurd.json", doc))
    epoch_n, epoch_d = LOSS_PRESETS["epoch"].compute_optimal(p.loss_law["flops_6nd"])
    assert p.loss_law["name"] == LOSS_PRESETS["epoch"].name
    assert p.recommendation.n_params_total == pytest.approx(epoch_n, rel=1e-6)
    assert p.recommendation.tokens == pytest.approx(epoch_d, rel=1e-6)
    assert any("absurd" in w and "epoch" in w for w in p.warnings)
