"""Early stopping of hopeless trials (issue 15, item 2): `[search] prune = "asha"` on tiny seeded proxies.

A pruned trial is recorded as `pruned` with its last loss and step, never as `ok`: in the store, the trial
table, status and the fitter (which leaves it out and counts it). Rungs that do not fit the run are refused
before anything trains.
"""
from __future__ import annotations

import math
import sqlite3

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from calibration.fit import ScaleLawFitter
from calibration.fit.synthetic import synthetic_trials
from calibration.proxy.train import TrialLog
from calibration.record.trial import TrialConfig, TrialResult
from calibration.sweep import prune
from calibration.sweep.adaptive import PointResult, point_losses, propose
from calibration.sweep.export import trial_table
from calibration.sweep.spec import AdaptiveSettings, PruneSettings, load_spec
from calibration.sweep.store import TrialStore

SPEC = """
name = "tiny-prune"
device = "cpu"
min_steps = 8
seeds = [0]
[sizes]
shapes = [{{n_layer = 1, d_model = 16, n_head = 1, d_ff = 32}}]
[budget]
tokens = [8192]
[lr]
values = [3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0]
[batch]
seqs = [4]
[trial]
seq_len = 32
eval_tokens = 1024
[adaptive]
extend = false
[search]
{search}
"""
ASHA = 'prune = "asha"\nrungs = [0.25, 0.5]\neta = 2\nmargin = 0.02\nmin_trials = 2'


def spec_file(tmp_path, search=ASHA, name="prune.toml"):
    path = tmp_path / name
    path.write_text(SPEC.format(search=search))
    return path


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def pruned_sweep(tmp_path_factory):
    """The tiny sweep run once with one worker: (out dir, its trial table)."""
    tmp = tmp_path_factory.mktemp("asha")
    out = tmp / "out"
    res = invoke("calibrate", "run", spec_file(tmp), "--out", out, "--workers", 1, "--quiet")
    assert res.exit_code == 0, res.output
    with TrialStore.open(out, readonly=True) as store:
        return out, trial_table(store, current_spec=True)


# ---------------------------------------------------------------------------- the rule (pure)

def _finished(losses_at_rung: list[float], steps: int = 40) -> list:
    """Finished trials whose curve point at step 10 (rung 0.25 of 40 steps) has the given losses."""
    out = []
    for i, loss in enumerate(losses_at_rung):
        cfg = TrialConfig(n_layer=1, d_model=16, n_head=1, d_ff=32, seq_len=32, batch_seqs=4,
                          tokens=steps * 128, lr=1e-3 * (i + 1))
        curve = [[s, s * 128, loss if s == 10 else 9.0, cfg.lr, 1.0] for s in range(1, steps + 1)]
        out.append((cfg, TrialResult(trial_id=cfg.trial_id, status="ok", loss=loss, curve=curve)))
    return out


def test_threshold_is_the_looser_of_the_best_1_over_eta_and_the_margin():
    s = PruneSettings("asha", rungs=(0.25,), eta=2.0, margin=0.05, min_trials=3)
    assert prune.thresholds(s, _finished([3.0, 2.0])) == [None]  # fewer than min_trials: no pruning
    assert prune.thresholds(s, _finished([4.0, 2.0, 3.0, 5.0])) == [3.0]  # 2nd best of 4 (eta 2)
    assert prune.thresholds(s, _finished([2.05, 2.0, 2.06, 5.0])) == [pytest.approx(2.1)]  # best + 5%
    cfg = _finished([1.0])[0][0]
    assert prune.rung_step(cfg, 0.25) == 10 and prune.trial_rungs(s, cfg, [3.0]) == [[10, 3.0]]


def test_a_trial_stops_at_the_first_rung_it_fails_and_only_there():
    cfg = TrialConfig(n_layer=1, d_model=16, n_head=1, d_ff=32, seq_len=32, batch_seqs=4, tokens=40 * 128)
    log = TrialLog(cfg, prune=[[10, 3.0], [20, 2.0]])
    for _ in range(10):  # 40 steps: a curve point at every step
        stopped = log.record(2.9, 0.5)  # under 3.0 at step 10: goes on
    assert not stopped
    for step in range(11, 21):
        stopped = log.record(2.5 if step < 20 else 2.4, 0.5)
    assert stopped and log.pruned and not log.diverged and log.steps_done == 20
    result = log.result(None, 1.0, 1.0, "cpu", "")
    assert (result.status, result.loss, result.steps_done) == ("pruned", None, 20)
    assert result.train_loss == 2.4 and result.curve[-1][:3] == [20, 20 * 128, 2.4]  # its last loss, at the rung


# ---------------------------------------------------------------------------- a tiny sweep end to end

def test_a_tiny_asha_sweep_records_pruned_rows_beside_ok_rows(pruned_sweep):
    out, df = pruned_sweep
    statuses = df["status"].value_counts().to_dict()
    assert statuses.get("pruned", 0) >= 1 and statuses.get("ok", 0) >= 2, statuses
    pruned, ok = df[df["status"] == "pruned"], df[df["status"] == "ok"]
    rung_steps = {prune.rung_step(TrialConfig(n_layer=1, d_model=16, n_head=1, d_ff=32, seq_len=32, batch_seqs=4,
                                              tokens=8192), f) for f in (0.25, 0.5)}
    assert pruned["loss"].isna().all() and np.isfinite(pruned["train_loss"]).all()  # last loss kept, no final
    assert set(pruned["steps_done"]) <= rung_steps and (pruned["steps_done"] < pruned["steps"]).all()
    assert (pruned["flops"] < ok["flops"].min()).all()  # only the steps it trained count
    assert ok["loss"].notna().all() and (ok["steps_done"] == ok["steps"]).all()
    for col in ("grad_norm_median", "grad_norm_max", "clipped_frac", "loss_spikes"):
        assert df.loc[df["status"] != "failed", col].notna().all(), col


def test_each_pruned_trial_failed_the_threshold_its_earlier_trials_set(pruned_sweep):
    """With one worker, trial i's thresholds come from trials 0..i-1 of its cell: recomputed from the store."""
    out, df = pruned_sweep
    settings = load_spec(spec_file(out.parent, name="again.toml")).prune
    with TrialStore.open(out, readonly=True) as store:
        rows = store.trials(curves=True)  # in claim (plan) order
    for i, r in enumerate(rows):
        earlier = [(e["config"], e["result"]) for e in rows[:i] if e["status"] in prune.PRUNE_FROM]
        limits = prune.thresholds(settings, earlier)
        fails = [prune.loss_at(r["result"], r["config"], f) > lim
                 for f, lim in zip(settings.rungs, limits)
                 if lim is not None and prune.loss_at(r["result"], r["config"], f) is not None]
        assert (r["status"] == "pruned") == any(fails), (i, r["status"], limits)


def test_a_killed_and_resumed_one_worker_sweep_prunes_the_same_trials(tmp_path, pruned_sweep):
    _, want = pruned_sweep
    out = tmp_path / "out"
    assert invoke("calibrate", "run", spec_file(tmp_path), "--out", out, "--workers", 1, "--quiet").exit_code == 0
    # as if killed after the third trial: the later ones back to pending, then the same command again
    with sqlite3.connect(out / "trials.sqlite") as conn:
        conn.execute("UPDATE trials SET status = 'pending', result = NULL, curve = NULL WHERE seq > 3")
    assert invoke("calibrate", "run", spec_file(tmp_path), "--out", out, "--workers", 1, "--quiet").exit_code == 0
    with TrialStore.open(out, readonly=True) as store:
        got = trial_table(store, current_spec=True)
    cols = ["trial_id", "status", "steps_done", "train_loss", "loss"]
    pd.testing.assert_frame_equal(got[cols], want[cols])


def test_status_and_export_show_pruned_trials(pruned_sweep):
    out, df = pruned_sweep
    n = int((df["status"] == "pruned").sum())
    res = invoke("calibrate", "status", out)
    assert res.exit_code == 0 and f"{n} pruned" in res.output.splitlines()[0]
    curves = out.parent / "curves.csv"
    assert invoke("calibrate", "export", out, "-o", out.parent / "t.csv", "--curves", curves).exit_code == 0
    c = pd.read_csv(curves)
    for trial_id, steps_done in df.loc[df["status"] == "pruned", ["trial_id", "steps_done"]].itertuples(index=False):
        assert c.loc[c["trial_id"] == trial_id, "step"].max() == steps_done  # its curve ends at its rung


def test_pruning_off_by_default_runs_every_trial_to_the_end(tmp_path):
    out = tmp_path / "out"
    spec = spec_file(tmp_path, search="")
    assert load_spec(spec).prune.method == ""
    assert invoke("calibrate", "run", spec, "--out", out, "--workers", 1, "--quiet").exit_code == 0
    with TrialStore.open(out, readonly=True) as store:
        df = trial_table(store)
    assert "pruned" not in set(df["status"]) and (df.loc[df["status"] == "ok", "steps_done"] == 64).all()


# ---------------------------------------------------------------------------- the fitter

def test_the_fitter_leaves_pruned_rows_out_and_counts_them(tmp_path):
    df = synthetic_trials(seed=0)
    pruned = df.sample(n=12, random_state=1).index
    marked = df.copy()
    marked.loc[pruned, "status"] = "pruned"
    marked.loc[pruned, "loss"] = np.nan  # a pruned row has no final loss
    fast = {"n_boot": 0, "loss_surface": False}
    with_pruned = ScaleLawFitter(**fast).fit(marked)
    without = ScaleLawFitter(**fast).fit(df.drop(index=pruned))
    assert with_pruned.provenance_.n_excluded["pruned"] == 12
    assert with_pruned.provenance_.n_trials_used == len(df) - 12
    assert with_pruned.lr_law_.log_coef == without.lr_law_.log_coef  # they bound nothing: not used at all
    table = tmp_path / "t.csv"
    marked.to_csv(table, index=False)
    res = invoke("fit", table, "-o", tmp_path / "m.json", "--bootstrap", 0)
    assert res.exit_code == 0, res.output
    assert "pruned 12" in res.output


# ---------------------------------------------------------------------------- the adaptive grid

def test_a_pruned_neighbour_does_not_bracket_the_best_lr_and_an_all_pruned_row_is_left_alone():
    # the fitter drops pruned trials: a best LR between two pruned ones is on the edge of its data, so the
    # row still grows, halfway to the pruned neighbour (its own LR is taken)
    s = AdaptiveSettings(max_extensions=2, lr_min=1e-4, lr_max=1.0, batch_min=2, batch_max=64)
    lrs = (1e-3, 2e-3, 4e-3)
    best_inside = [PointResult(1e-3, 8, 0, "pruned", None), PointResult(2e-3, 8, 0, "ok", 2.0),
                   PointResult(4e-3, 8, 0, "pruned", None)]
    assert propose(best_inside, s, lrs, (8,), 1000).points == ((1.41421e-3, 8),)
    lower = best_inside + [PointResult(1.41421e-3, 8, 0, "ok", 2.2)]
    assert propose(lower, s, lrs, (8,), 1000).points == ((2.82843e-3, 8),)  # then the upper side
    # the midpoint was pruned too: nothing closer than half a grid step is tried; the bound is recorded
    closed = lower + [PointResult(2.82843e-3, 8, 0, "pruned", None)]
    got = propose(closed, s, lrs, (8,), 1000)
    assert got.points == () and [e[1]["bound"] for e in got.events] == ["pruned"]
    worse_row = [PointResult(lr, 4, 0, "ok", loss) for lr, loss in zip(lrs, (3.0, 2.5, 3.0))]
    pruned_row = [PointResult(lr, 16, 0, "pruned", None) for lr in lrs]  # no finite point: not searched
    assert propose(worse_row + best_inside + pruned_row, s, lrs, (4, 8, 16), 1000).points == ((1.41421e-3, 8),)


def test_a_point_with_any_pruned_seed_scores_as_pruned():
    ok_and_pruned = [PointResult(2e-3, 8, 0, "ok", 2.0), PointResult(2e-3, 8, 1, "pruned", None)]
    assert point_losses(ok_and_pruned) == {(8, 2e-3): math.inf}  # not 2.0: the pruned seed was far worse
    assert point_losses(ok_and_pruned[:1]) == {(8, 2e-3): 2.0}


# ---------------------------------------------------------------------------- refusals

@pytest.mark.parametrize("search", [
    'prune = "hyperband"',  # unknown method
    'prune = "asha"\nrungs = [0.5, 1.0]',  # a rung at the end of the run
    'prune = "asha"\nrungs = [0.001, 0.5]',  # before the first curve point (64 steps: one per step)
    'prune = "asha"\nrungs = [0.5, 0.99]',  # on the last step
    'prune = "asha"\nrungs = [0.501, 0.502]',  # one curve point for two rungs: too few steps
    'prune = "asha"\nrungs = [0.5, 0.25]',
    'prune = "asha"\neta = 1',
    'rungs = [0.2]',  # rungs without pruning
])
def test_bad_pruning_is_refused_by_plan_and_run_before_training(tmp_path, search):
    spec = spec_file(tmp_path, search=search)
    res = invoke("calibrate", "plan", spec, "--no-measure")
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert "search." in res.output
    res = invoke("calibrate", "run", spec, "--out", tmp_path / "out", "--quiet")
    assert res.exit_code == 2 and not (tmp_path / "out").exists()


def test_rungs_fit_a_long_run_that_a_short_one_cannot_hold():
    s = PruneSettings("asha", rungs=(0.2, 0.25))
    long = TrialConfig(n_layer=1, d_model=16, n_head=1, d_ff=32, seq_len=32, batch_seqs=1, tokens=32 * 1000)
    short = long.replace(batch_seqs=128)  # 7 steps: both rungs on step 2
    # 1000 steps: a curve point every 15 steps, the rungs on the first points at or after steps 200 and 250
    assert prune.rung_problem(s, long) is None
    assert (prune.rung_step(long, 0.2), prune.rung_step(long, 0.25)) == (210, 255)
    assert "too few steps" in prune.rung_problem(s, short)
    assert prune.trial_rungs(s, short, [1.0, 1.0]) == []  # a trial the rungs do not fit runs to the end


def test_plan_checks_the_rungs_on_every_batch_a_search_may_pick():
    # batch [1, 16] at 5,120 tokens of 32: 160 steps at batch 1, 10 at 16, where rung 0.07 comes before the
    # first curve point. Search seed 2's round 0 draws no batch-16 point, but its later rounds may.
    from calibration.sweep.plan import plan
    from calibration.sweep.search_base import batch_ladder
    from calibration.sweep.spec import SpecError, parse_spec

    raw = {"sizes": {"shapes": [{"n_layer": 1, "d_model": 16, "n_head": 1, "d_ff": 32}]},
           "budget": {"tokens": [5120]}, "lr": {"min": 3e-3, "max": 1e-1, "points": 4},
           "batch": {"seqs": [1, 16]}, "trial": {"seq_len": 32}, "min_steps": 8,
           "search": {"method": "tpe", "trials_per_cell": 8, "seed": 2, "prune": "asha", "rungs": [0.07, 0.5]}}
    spec = parse_spec(raw)
    assert 16 in batch_ladder(spec.batch_seqs)
    with pytest.raises(SpecError, match="batch.seqs 16"):
        plan(spec)
