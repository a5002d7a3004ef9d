"""Training health in every trial (issue 15, item 3): pre-clip gradient-norm statistics, loss spikes and the
step where divergence began, in the result, the trial table, `export --curves` and `calibrate status`."""
from __future__ import annotations

import math

import pandas as pd
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from calibration.proxy import health
from calibration.proxy.health import HealthWatch
from calibration.proxy.train import DIVERGE_NATS, DIVERGE_PATIENCE, DIVERGE_RATIO, TrialLog, run_trial
from calibration.proxy.vectorized import run_group
from calibration.record.trial import HEALTH_FIELDS, TrialConfig, TrialResult
from calibration.sweep.export import trial_table
from calibration.sweep.plan import cell_key
from calibration.sweep.store import TrialStore

TINY = TrialConfig(n_layer=1, d_model=16, n_head=1, d_ff=48, seq_len=32, batch_seqs=4, tokens=4 * 32 * 60,
                   lr=1e-2, eval_tokens=1024)


# ---------------------------------------------------------------------------- the statistics (pure)

def test_spikes_are_episodes_above_twice_the_running_median_and_a_falling_loss_has_none():
    falling = HealthWatch(grad_clip=1.0)
    for step in range(200):
        falling.record(5.0 * math.exp(-step / 40) + 1.0, 0.5)
    assert falling.summary()["loss_spikes"] == 0
    spiky = HealthWatch(grad_clip=1.0)
    losses = [3.0] * 20 + [7.0, 8.0] + [3.0] * 20 + [6.5] + [3.0] * 5  # two episodes (the first two steps long)
    for loss in losses:
        spiky.record(loss, 0.5)
    assert spiky.summary()["loss_spikes"] == 2
    early = HealthWatch(grad_clip=1.0)
    for loss in [3.0] * (health.SPIKE_MIN_HISTORY - 1) + [9.0]:  # too little history to judge
        early.record(loss, 0.5)
    assert early.summary()["loss_spikes"] == 0


def test_gradient_norm_statistics_and_clipped_fraction():
    watch = HealthWatch(grad_clip=1.0)
    for norm in (0.5, 2.0, 0.8, 3.0, float("inf")):
        watch.record(3.0, norm)
    s = watch.summary()
    assert (s["grad_norm_median"], s["grad_norm_max"]) == (pytest.approx(1.4), 3.0)  # finite norms only
    assert s["clipped_frac"] == pytest.approx(3 / 5)  # 2.0, 3.0 and the non-finite one
    off = HealthWatch(grad_clip=0.0)
    off.record(3.0, 50.0)
    assert off.summary()["clipped_frac"] == 0.0 and off.summary()["grad_norm_max"] == 50.0
    assert HealthWatch(1.0).summary()["clipped_frac"] is None  # nothing measured: empty, not 0


def test_divergence_start_is_the_first_step_of_the_run_that_diverged():
    log = TrialLog(TINY)
    for loss in [5.5, 5.0, 9.0, 5.0] + [9.0] * DIVERGE_PATIENCE:  # the first 9.0 came back; steps 5..9 did not
        log.record(loss, 1.0)
    assert log.diverged and log.diverged_at == 5 and log.steps_done == 4 + DIVERGE_PATIENCE
    nan = TrialLog(TINY)
    for loss in [5.5, 5.0, 9.0, float("nan")]:  # a non-finite loss after one step above the threshold
        nan.record(loss, 1.0)
    assert nan.diverged and nan.diverged_at == 3


# ---------------------------------------------------------------------------- real trials

def test_a_trial_reports_sane_health_and_curve_points_carry_the_grad_norm(kjv, one_thread):
    result = run_trial(TINY, "cpu", kjv)
    assert result.status == "ok" and result.diverged_at_step is None and result.loss_spikes == 0
    assert 0 < result.grad_norm_median <= result.grad_norm_max
    assert 0.0 <= result.clipped_frac <= 1.0
    norms = [p[4] for p in result.curve]
    assert all(n > 0 for n in norms) and max(norms) <= result.grad_norm_max  # interval means of the norms


def test_grad_clip_off_clips_nothing_but_still_measures_and_trains_the_same(kjv, one_thread):
    big = TINY.replace(grad_clip=1e9)  # never reached: the same training as no clipping at all
    off = run_trial(TINY.replace(grad_clip=0.0), "cpu", kjv)
    never = run_trial(big, "cpu", kjv)
    assert off.clipped_frac == 0.0 and never.clipped_frac == 0.0
    assert off.grad_norm_median == pytest.approx(never.grad_norm_median, rel=1e-6)
    assert off.loss == pytest.approx(never.loss, rel=1e-6)


def test_a_huge_lr_shows_the_step_its_divergence_began(kjv, one_thread):
    result = run_trial(TINY.replace(lr=50.0, grad_clip=0.0, tokens=4 * 32 * 100), "cpu", kjv)
    assert result.status == "diverged" and result.grad_norm_max > 1.0
    # a finite loss above the threshold for DIVERGE_PATIENCE steps: it stopped on the last of them
    assert result.diverged_at_step == result.steps_done - DIVERGE_PATIENCE + 1
    losses = {step: loss for step, _, loss, *_ in result.curve}  # one curve point per step: 100 steps
    initial = losses[1]
    threshold = max(initial + DIVERGE_NATS, DIVERGE_RATIO * initial)
    assert all(losses[s] > threshold for s in range(result.diverged_at_step, result.steps_done + 1))
    assert all(losses[s] <= threshold for s in range(1, result.diverged_at_step))


def test_clipped_steps_report_their_pre_clip_norms(kjv, one_thread):
    result = run_trial(TINY.replace(grad_clip=0.05), "cpu", kjv)
    assert result.status == "ok"
    assert result.grad_norm_max > 0.05 and result.grad_norm_median > 0.05  # not the clipped (post-clip) norm
    assert result.clipped_frac > 0


def test_on_cuda_a_pruned_trial_stops_at_its_rung_not_at_the_next_read_back(kjv, one_thread, monkeypatch):
    from calibration.proxy import train, vectorized

    # read back every 32 steps, as on CUDA; count the steps actually trained
    monkeypatch.setattr(train, "sync_interval", lambda dev: train.CUDA_SYNC_EVERY)
    monkeypatch.setattr(vectorized, "sync_interval", lambda dev: train.CUDA_SYNC_EVERY)
    trained = {"single": 0, "group": 0}
    step, group_step = train.train_step, vectorized.StackedProxies.train_step

    def counted(*args, **kwargs):
        trained["single"] += 1
        return step(*args, **kwargs)

    def group_counted(self, *args, **kwargs):
        trained["group"] += 1
        return group_step(self, *args, **kwargs)

    monkeypatch.setattr(train, "train_step", counted)
    monkeypatch.setattr(vectorized.StackedProxies, "train_step", group_counted)
    result = run_trial(TINY, "cpu", kjv, prune=[[10, 0.0]])
    assert (result.status, result.steps_done, trained["single"]) == ("pruned", 10, 10)
    both = run_group([TINY, TINY.replace(lr=3e-3)], "cpu", kjv, prunes=[[[10, 0.0]], [[20, 0.0]]])
    assert [r.steps_done for r in both] == [10, 20] and trained["group"] == 20


def test_vectorized_members_fill_the_same_health_fields(kjv, one_thread):
    cfgs = [TINY, TINY.replace(lr=3e-3, grad_clip=0.0)]
    grouped = run_group(cfgs, "cpu", kjv)
    for cfg, got in zip(cfgs, grouped):
        want = run_trial(cfg, "cpu", kjv)
        assert got.grad_norm_median == pytest.approx(want.grad_norm_median, rel=1e-3)
        assert got.clipped_frac == pytest.approx(want.clipped_frac, abs=2 / cfg.steps)
        assert got.loss_spikes == want.loss_spikes and len(got.curve[0]) == 5
    # a member given an unreachable rung threshold stops there; the other trains on
    pruned, kept = run_group(cfgs, "cpu", kjv, prunes=[[[30, 0.0]], None])
    assert (pruned.status, pruned.steps_done, pruned.loss) == ("pruned", 30, None)
    assert kept.status == "ok" and kept.loss == pytest.approx(grouped[1].loss, rel=1e-6)


# ---------------------------------------------------------------------------- table, curves, status

def _store_with(tmp_path, results: dict) -> None:
    """A store of the given {config: result fields} (no training)."""
    store = TrialStore.open_or_create(tmp_path, "spec-h", {"name": "health"})
    store.add_trials([(cfg, cell_key(cfg), "grid") for cfg in results])
    store.claim("me:1", limit=100)
    for cfg, fields in results.items():
        curve = [[1, 128, fields.get("loss", 3.0), cfg.lr]]  # a curve as stored before grad norms existed
        store.record(TrialResult(trial_id=cfg.trial_id, status="ok", curve=curve, **fields), "me:1")
    store.close()


def test_health_columns_in_the_table_and_curves_and_empty_for_old_trials(tmp_path):
    new, old = TINY, TINY.replace(lr=3e-3)
    _store_with(tmp_path, {new: {"loss": 3.0, "grad_norm_median": 0.7, "grad_norm_max": 2.5, "clipped_frac": 0.25,
                                 "loss_spikes": 1},
                           old: {"loss": 3.1}})
    with TrialStore.open(tmp_path, readonly=True) as store:
        df = trial_table(store).set_index("lr")
    assert set(HEALTH_FIELDS) <= set(df.columns)
    assert (df.loc[1e-2, "clipped_frac"], df.loc[1e-2, "loss_spikes"]) == (0.25, 1)
    assert df.loc[3e-3, list(HEALTH_FIELDS)].isna().all()  # a trial from before: empty, not zero
    res = CliRunner().invoke(cli, ["calibrate", "export", str(tmp_path), "-o", str(tmp_path / "t.csv"),
                                   "--curves", str(tmp_path / "c.csv")])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "t.csv")
    assert table["loss_spikes"].dropna().tolist() == [1]  # written as a whole number
    assert pd.read_csv(tmp_path / "c.csv")["grad_norm"].isna().all()  # four-entry curves: no grad norm


def test_status_flags_a_cell_whose_best_trials_were_unstable(tmp_path):
    def cfg(lr, tokens):
        return TINY.replace(lr=lr, tokens=tokens)

    calm = {cfg(lr, 7680): {"loss": loss, "loss_spikes": 0, "clipped_frac": 0.1}
            for lr, loss in ((1e-3, 3.0), (3e-3, 2.5), (1e-2, 2.8))}
    # the best trial spiked; the third best was clipped on most steps; the worst (not among the best) too
    rough = {cfg(1e-3, 15360): {"loss": 3.0, "loss_spikes": 0, "clipped_frac": 0.9},
             cfg(3e-3, 15360): {"loss": 2.5, "loss_spikes": 2, "clipped_frac": 0.1},
             cfg(1e-2, 15360): {"loss": 2.8, "loss_spikes": 0, "clipped_frac": 0.1},
             cfg(3e-2, 15360): {"loss": 4.0, "loss_spikes": 5, "clipped_frac": 0.9}}
    _store_with(tmp_path, {**calm, **rough})
    res = CliRunner().invoke(cli, ["calibrate", "status", str(tmp_path)])
    assert res.exit_code == 0, res.output
    lines = {tokens: next(line for line in res.output.splitlines() if f"D={tokens:.3g}" in line)
             for tokens in (7680, 15360)}
    assert "unstable" not in lines[7680]
    assert "unstable best trials: 1 of 3 had loss spikes, 1 of 3 clipped" in lines[15360]
