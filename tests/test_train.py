"""The trainer: schedules, devices, determinism, divergence, bookkeeping, and a real run on the corpus."""
import math

import pytest
import torch

from calibration.proxy import train
from calibration.proxy.data import unigram_entropy
from calibration.proxy.model import ProxyLM
from calibration.proxy.shape import count_params, flops_per_token, shape_from_config
from calibration.proxy.train import lr_at, measure_throughput, resolve_device, run_trial
from calibration.record.trial import TrialConfig

# Tiny and fast: 2 x 32, 64-token windows, 8 sequences per step.
TINY = TrialConfig(n_layer=2, d_model=32, n_head=2, d_ff=96, seq_len=64, batch_seqs=8, tokens=32 * 512,
                   lr=1e-2, eval_tokens=2048)


pytestmark = pytest.mark.usefixtures("one_thread")



# ---------------------------------------------------------------- schedules


def _sched(schedule, steps=100, **kw):
    return TrialConfig(n_layer=1, d_model=16, n_head=1, d_ff=32, seq_len=8, batch_seqs=1, tokens=8 * steps,
                       lr=1.0, schedule=schedule, **kw)


def test_cosine_schedule_key_steps():
    cfg = _sched("cosine", warmup_frac=0.1, final_lr_frac=0.1)  # 100 steps, 10 warmup
    assert cfg.warmup_steps == 10
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(4, cfg) == pytest.approx(0.5)
    assert lr_at(9, cfg) == pytest.approx(1.0)  # warmup ends at the peak
    assert lr_at(10, cfg) == pytest.approx(1.0)  # cosine starts at the peak
    mid = 10 + (99 - 10) / 2
    assert lr_at(int(mid), cfg) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (int(mid) - 10) / 89)))
    assert lr_at(99, cfg) == pytest.approx(0.1)  # the floor at the last step
    assert lr_at(500, cfg) == pytest.approx(0.1)
    values = [lr_at(s, cfg) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_wsd_schedule_key_steps():
    cfg = _sched("wsd", warmup_frac=0.05, decay_frac=0.2, final_lr_frac=0.0)  # decay over steps 80..99
    assert lr_at(0, cfg) == pytest.approx(0.2)
    assert lr_at(4, cfg) == pytest.approx(1.0)
    assert lr_at(50, cfg) == 1.0 and lr_at(79, cfg) == 1.0
    assert lr_at(80, cfg) == pytest.approx(1 - 1 / 20)
    assert lr_at(89, cfg) == pytest.approx(0.5)
    assert lr_at(99, cfg) == pytest.approx(0.0, abs=1e-12)


def test_constant_schedule_and_no_warmup():
    cfg = _sched("constant", warmup_frac=0.0)
    assert cfg.warmup_steps == 0
    assert {lr_at(s, cfg) for s in (0, 1, 50, 99)} == {1.0}
    with pytest.raises(ValueError, match="step"):
        lr_at(-1, cfg)


# ---------------------------------------------------------------- devices


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu-ish")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_sweeps_and_trainer_pick_the_same_device(monkeypatch, cuda, mps, expected):
    """A sweep's 'auto' device (what it ships to its workers) is the trainer's choice, MPS included."""
    from calibration.sweep.executors import device_name

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert str(resolve_device("auto")) == device_name("auto") == expected
    assert device_name("cpu") == "cpu"


# ---------------------------------------------------------------- trials


def test_same_config_same_loss_exactly(kjv):
    a = run_trial(TINY, "cpu", kjv)
    b = run_trial(TINY, "cpu", kjv)
    assert a.status == b.status == "ok"
    assert a.loss == b.loss and a.curve == b.curve
    c = run_trial(TINY.replace(seed=1), "cpu", kjv)
    assert c.loss != a.loss


def test_result_bookkeeping(kjv):
    seen = []
    result = run_trial(TINY, "cpu", kjv, on_step=lambda step, loss: seen.append((step, loss)))
    steps = TINY.steps
    assert [s for s, _ in seen] == list(range(1, steps + 1))
    assert result.steps_done == steps and result.trial_id == TINY.trial_id
    n_params, n_total = count_params(shape_from_config(TINY))
    assert (result.n_params, result.n_params_total) == (n_params, n_total)
    assert result.flops == flops_per_token(shape_from_config(TINY)) * steps * TINY.batch_tokens
    assert result.data_id == kjv.data_id and result.device == "cpu"
    assert result.tokens_per_s > 0 and result.wall_s > 0
    # curve: ~1.5% spacing, tokens and lr consistent, ends at the last step
    assert [p[0] for p in result.curve] == list(range(1, steps + 1))  # 32 steps < 64 points: every step
    for step, tokens, loss, lr, grad_norm in result.curve:
        assert tokens == step * TINY.batch_tokens and lr == lr_at(step - 1, TINY) and math.isfinite(loss)
        assert grad_norm > 0
    assert result.curve[0][2] == pytest.approx(seen[0][1])
    assert result.train_loss == pytest.approx(seen[-1][1])
    assert math.isfinite(result.loss) and result.loss < math.log(256)


def test_curve_is_sampled_on_long_runs(kjv):
    cfg = TINY.replace(tokens=8 * 64 * 200, n_layer=1, d_model=16, n_head=1, d_ff=48)  # 200 steps
    result = run_trial(cfg, "cpu", kjv)
    steps = [p[0] for p in result.curve]
    assert steps[0] == 3 and steps[-1] == 200 and 60 <= len(steps) <= 70
    assert result.train_loss == pytest.approx(result.curve[-1][2])  # mean of the last interval


def test_absurd_lr_diverges_without_exception(kjv):
    cfg = TINY.replace(lr=50.0, grad_clip=0.0, tokens=8 * 64 * 100)
    result = run_trial(cfg, "cpu", kjv)
    assert result.status == "diverged" and result.loss is None
    assert 1 <= result.steps_done < cfg.steps
    assert result.flops == flops_per_token(shape_from_config(cfg)) * result.steps_done * cfg.batch_tokens
    assert result.curve[-1][0] == result.steps_done


def test_nan_loss_diverges_at_that_step(kjv, monkeypatch):
    calls = {"n": 0}
    forward = ProxyLM.forward

    def poisoned(self, idx, targets=None):
        logits, loss = forward(self, idx, targets)
        calls["n"] += 1
        if calls["n"] == 7:  # the 7th training step's loss is NaN
            loss = loss * float("nan")
        return logits, loss

    monkeypatch.setattr(ProxyLM, "forward", poisoned)
    result = run_trial(TINY, "cpu", kjv)
    assert result.status == "diverged" and result.steps_done == 7 and result.loss is None
    assert result.curve[-1][:4] == [7, 7 * TINY.batch_tokens, None, lr_at(6, TINY)]


def test_sustained_high_loss_diverges_but_a_spike_does_not():
    log = train.TrialLog(TINY)
    assert not log.record(5.5)
    for _ in range(train.DIVERGE_PATIENCE - 1):
        assert not log.record(9.0)  # above max(5.5 + 3, 1.5 * 5.5) = 8.5 ...
    assert not log.record(5.0)  # ... but it came back: the count restarts
    for _ in range(train.DIVERGE_PATIENCE - 1):
        assert not log.record(9.0)
    assert log.record(9.0)


def test_vocab_larger_than_model_is_an_error(kjv):
    with pytest.raises(ValueError, match="vocabulary"):
        run_trial(TINY.replace(vocab_size=128), "cpu", kjv)


def test_measure_throughput():
    assert measure_throughput(TINY, "cpu", steps=2) > 0
    with pytest.raises(ValueError, match="steps"):
        measure_throughput(TINY, "cpu", steps=0)


def test_short_run_learns_beyond_unigram(kjv):
    """300k tokens of the shipped corpus: clearly below what token frequencies alone give."""
    cfg = TrialConfig(n_layer=2, d_model=48, n_head=3, d_ff=128, seq_len=64, batch_seqs=16, tokens=300_000,
                      lr=1e-2, eval_tokens=16_384)
    result = run_trial(cfg, "cpu")  # the default source: cfg.data = "kjv"
    entropy = unigram_entropy(kjv)
    assert result.status == "ok"
    assert result.loss < entropy - 0.5, (result.loss, entropy)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_run_learns_and_reports_device(kjv):
    cfg = TrialConfig(n_layer=2, d_model=48, n_head=3, d_ff=128, seq_len=64, batch_seqs=16, tokens=300_000,
                      lr=1e-2, eval_tokens=16_384)
    result = run_trial(cfg, "cuda", kjv)
    assert result.status == "ok" and result.device.startswith("cuda:")
    assert result.loss < unigram_entropy(kjv) - 0.5
    assert run_trial(cfg.replace(lr=50.0, grad_clip=0.0), "cuda", kjv).status == "diverged"
