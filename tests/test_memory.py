"""A proxy too large for the machine is refused from arithmetic on its shape, before anything is allocated."""
from __future__ import annotations

import time

import pytest
import torch
from click.testing import CliRunner

from advisor.cli import cli
from calibration.proxy.memory import BYTES_PER_PARAM, check_fits, device_memory_bytes, training_bytes
from calibration.proxy.shape import RUNGS, ProxyShape, count_params, shape_for_params
from calibration.proxy.train import build_model, make_optimizer, run_trial, train_step
from calibration.record.trial import TrialConfig

pytestmark = pytest.mark.usefixtures("one_thread")

HUGE = TrialConfig(n_layer=64, d_model=16384, n_head=128, d_ff=43696, seq_len=32, tokens=4096, batch_seqs=4)


def test_the_parameter_term_is_what_adamw_training_holds():
    """Weights, gradients and AdamW's two moments: exactly BYTES_PER_PARAM per parameter, embeddings included."""
    cfg = TrialConfig(n_layer=2, d_model=32, n_head=2, d_ff=64, vocab_size=320, seq_len=16, tokens=64, batch_seqs=4)
    dev = torch.device("cpu")
    model = build_model(cfg, dev)
    optimizer = make_optimizer(model, cfg, dev)
    x = torch.randint(0, cfg.vocab_size, (cfg.batch_seqs, cfg.seq_len + 1))
    train_step(model, model, optimizer, x[:, :-1], x[:, 1:], cfg.lr, cfg, dev)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # held during every backward pass (zero_grad frees them between steps)
    held = sum(t.numel() * t.element_size() for p in model.parameters() for t in (p, p.grad))
    held += sum(v.numel() * v.element_size() for state in optimizer.state.values()
                for k, v in state.items() if k in ("exp_avg", "exp_avg_sq"))
    shape = ProxyShape(2, 32, 2, 64, 320, 16)
    assert held == BYTES_PER_PARAM * count_params(shape)[1]
    assert training_bytes(shape, 4) > held and training_bytes(shape, 8) > training_bytes(shape, 4)
    assert training_bytes(shape, 4, copies=3) == 3 * training_bytes(shape, 4)


def test_check_fits_refuses_only_what_surely_does_not_fit():
    have = device_memory_bytes("cpu")
    assert have and device_memory_bytes() >= have
    check_fits(RUNGS["l"], 32, "cpu")  # 1M parameters: fits anywhere
    with pytest.raises(ValueError, match=r"N=1e\+12.*TiB.*batch 4 x 128.*cpu"):
        check_fits(shape_for_params(1e12), 4, "cpu")


def test_a_trial_too_large_for_its_device_fails_before_allocating():
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"needs at least [\d.,]+ TiB to train"):
        run_trial(HUGE, device="cpu")
    assert time.perf_counter() - started < 10


def test_bench_refuses_a_size_beyond_memory_before_building_any(tmp_path):
    res = CliRunner().invoke(cli, ["bench", "--sizes", "xxs,1e12", "--device", "cpu", "--steps", "1", "--no-layout"])
    assert res.exit_code == 2 and "TiB" in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert "xxs " not in res.output  # refused before the first size was measured
