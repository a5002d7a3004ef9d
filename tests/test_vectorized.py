"""Vectorized K-member training matches K sequential trials, member by member, divergence included."""
import math

import pytest
import torch

from calibration.proxy.train import run_trial
from calibration.record.trial import TrialConfig
from calibration.proxy.vectorized import FREE_FIELDS, group_key, run_group

BASE = TrialConfig(n_layer=2, d_model=32, n_head=2, d_ff=96, seq_len=64, batch_seqs=8, tokens=40 * 512,
                   lr=1e-2, eval_tokens=4096, grad_clip=0.5)


pytestmark = pytest.mark.usefixtures("one_thread")



def test_group_key():
    assert group_key(BASE) == group_key(BASE.replace(lr=1.0, weight_decay=0.0, beta2=0.99, schedule="wsd"))
    for change in ({"seed": 1}, {"d_model": 48, "n_head": 3}, {"batch_seqs": 16}, {"tokens": 10 * 512},
                   {"data": "other"}):
        assert group_key(BASE) != group_key(BASE.replace(**change)), change
    assert "lr" in FREE_FIELDS and "seed" not in FREE_FIELDS


def test_mixed_groups_are_refused(kjv):
    with pytest.raises(ValueError, match="differ only in"):
        run_group([BASE, BASE.replace(seed=3)], "cpu", kjv)
    assert run_group([], "cpu", kjv) == []


def _losses(curve):
    return [p[2] for p in curve]


def test_members_match_sequential_runs_and_a_diverging_member_is_isolated(kjv):
    members = [
        BASE.replace(lr=3e-3, weight_decay=0.0),
        BASE.replace(lr=50.0, grad_clip=0.0),  # diverges within a few steps
        BASE.replace(lr=1e-2, schedule="wsd", beta2=0.99, init_std=0.03),
        BASE.replace(lr=2e-2, grad_clip=0.0, warmup_frac=0.2),
    ]
    seen = []
    grouped = run_group(members, "cpu", kjv, on_step=lambda step, losses: seen.append((step, len(losses))))
    assert seen == [(s, 4) for s in range(1, BASE.steps + 1)]
    for cfg, got in zip(members, grouped):
        want = run_trial(cfg, "cpu", kjv)
        assert got.trial_id == cfg.trial_id
        assert got.status == want.status
        assert got.steps_done == want.steps_done
        assert [p[0] for p in got.curve] == [p[0] for p in want.curve]
        assert [p[3] for p in got.curve] == pytest.approx([p[3] for p in want.curve], rel=1e-6)
        if want.status == "ok":
            assert _losses(got.curve) == pytest.approx(_losses(want.curve), abs=2e-4)
            assert got.loss == pytest.approx(want.loss, abs=2e-4)
            assert got.train_loss == pytest.approx(want.train_loss, abs=2e-4)
        else:
            assert got.loss is None and got.steps_done < cfg.steps
        assert got.n_params == want.n_params and got.flops == want.flops and got.data_id == want.data_id
    assert [r.status for r in grouped] == ["ok", "diverged", "ok", "ok"]


def test_one_member_group_and_all_diverged(kjv):
    [alone] = run_group([BASE], "cpu", kjv)
    assert alone.status == "ok" and alone.loss == pytest.approx(run_trial(BASE, "cpu", kjv).loss, abs=2e-4)
    blown = run_group([BASE.replace(lr=50.0, grad_clip=0.0), BASE.replace(lr=80.0, grad_clip=0.0)], "cpu", kjv)
    assert [r.status for r in blown] == ["diverged", "diverged"]
    assert all(r.loss is None and r.steps_done < BASE.steps for r in blown)
    assert all(math.isfinite(r.flops) for r in blown)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_members_track_sequential_runs(kjv):
    """bf16 autocast: members agree with sequential runs to bf16 noise, not bit for bit."""
    members = [BASE.replace(lr=3e-3), BASE.replace(lr=50.0, grad_clip=0.0), BASE.replace(lr=1e-2)]
    grouped = run_group(members, "cuda", kjv)
    for cfg, got in zip(members, grouped):
        want = run_trial(cfg, "cuda", kjv)
        assert got.status == want.status
        if want.status == "ok":
            assert got.loss == pytest.approx(want.loss, abs=0.05)
