"""Search methods within cells ([search] method = sobol | tpe): spec refusals, reproducible proposals, a
killed and resumed TPE sweep proposing what an uninterrupted one does, and a fittable table."""
from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from calibration.record.local_model import min_trials
from calibration.sweep import search, search_base
from calibration.sweep.adaptive import PointResult, point_losses
from calibration.sweep.run import run_sweep
from calibration.sweep.spec import SpecError, load_spec, parse_spec
from calibration.sweep.store import TrialStore

TINY = """
name = "tiny-search"
device = "cpu"
min_steps = 8
seeds = [0]
[sizes]
shapes = [{{n_layer = 1, d_model = 16, n_head = 1, d_ff = 32}}]
[budget]
tokens = [6144]
[lr]
min = 3e-3
max = 1e-1
points = 4
[batch]
seqs = [4, 16]
[trial]
seq_len = 32
eval_tokens = 512
{search}
"""
TPE = '[search]\nmethod = "tpe"\ntrials_per_cell = 8\ninitial_trials = 4\nround_trials = 2'


def write_spec(tmp_path, search_table=TPE, name="s.toml"):
    path = tmp_path / name
    path.write_text(TINY.format(search=search_table))
    return path


def raw_spec(**search_table):
    return {"sizes": {"shapes": [{"n_layer": 1, "d_model": 16, "n_head": 1, "d_ff": 32}]},
            "budget": {"tokens": [6144]}, "lr": {"min": 3e-3, "max": 1e-1, "points": 4},
            "batch": {"seqs": [4, 16]}, "trial": {"seq_len": 32}, "min_steps": 8,
            **({"search": search_table} if search_table else {})}


def trial_points(out_dir) -> list[tuple]:
    """Every trial of a store as (lr, batch, seed, origin), sorted: what the search proposed."""
    with TrialStore.open(out_dir) as store:
        return sorted((r["config"].lr, r["config"].batch_seqs, r["config"].seed, r["origin"])
                      for r in store.trials())


# ---------------------------------------------------------------------------- spec and refusals


def test_grid_stays_the_default_and_keeps_its_hash():
    grid = parse_spec(raw_spec())
    assert grid.search.method == "grid"
    assert parse_spec(raw_spec(method="grid")).spec_hash == grid.spec_hash
    tpe = parse_spec(raw_spec(method="tpe", trials_per_cell=10))
    assert (tpe.search.trials_per_cell, tpe.search.initial_trials, tpe.search.round_trials) == (10, 5, 2)
    assert tpe.search.seed == 0 and tpe.spec_hash != grid.spec_hash
    assert parse_spec(raw_spec(method="sobol", trials_per_cell=10, seed=7)).search.seed == 7


def test_budget_minimum_follows_what_the_local_fit_needs():
    # 2-D quadratic + cubic LR term = 7 coefficients, +1; two batches: 1-D + offset + cubic = 5, +1
    assert [min_trials(n) for n in (1, 2, 3, 5)] == [5, 6, 8, 8]
    assert search_base.batch_ladder((4, 16)) == (4, 8, 16)
    assert search_base.batch_ladder((3, 20)) == (3, 4, 8, 16, 20)
    assert search_base.batch_ladder((32,)) == (32,)
    parse_spec(raw_spec(method="sobol", trials_per_cell=8))
    with pytest.raises(SpecError, match="trials_per_cell"):
        parse_spec(raw_spec(method="sobol", trials_per_cell=7))


@pytest.mark.parametrize("table, key", [
    ('[search]\nmethod = "bayes"\ntrials_per_cell = 12', "search.method"),
    ('[search]\nmethod = "tpe"\ntrials_per_cell = 5', "search.trials_per_cell"),
    ('[search]\nmethod = "sobol"', "search.trials_per_cell"),
    ('[search]\ntrials_per_cell = 12', "search.trials_per_cell"),  # the grid has no budget to set
    ('[search]\nmethod = "tpe"\ntrials_per_cell = 8\ninitial_trials = 9', "search.initial_trials"),
])
def test_bad_search_is_refused_by_plan_and_run_before_training(tmp_path, table, key):
    path = write_spec(tmp_path, table)
    out = tmp_path / "out"
    for args in (["calibrate", "plan", str(path), "--no-measure"], ["calibrate", "run", str(path), "--out", str(out)]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 2, res.output
        assert key in res.output and "Traceback" not in res.output
        assert len(res.output.strip().splitlines()) == 1, res.output
    assert not out.exists()


def test_missing_library_is_refused_with_an_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if not installed
    path = write_spec(tmp_path)
    res = CliRunner().invoke(cli, ["calibrate", "run", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "pip install" in res.output and "optuna" in res.output, res.output
    assert not (tmp_path / "out").exists()
    sobol = write_spec(tmp_path, '[search]\nmethod = "sobol"\ntrials_per_cell = 8', name="sobol.toml")
    assert load_spec(sobol).search.method == "sobol"  # sobol needs scipy only


def test_plan_shows_the_method_and_its_budget(tmp_path):
    res = CliRunner().invoke(cli, ["calibrate", "plan", str(write_spec(tmp_path)), "--no-measure"])
    assert res.exit_code == 0, res.output
    assert "tpe" in res.output and "8 points per cell" in res.output
    assert "4 planned now" in res.output and "4 in later rounds" in res.output


# ---------------------------------------------------------------------------- proposals


def test_sobol_and_tpe_proposals_are_reproducible_from_the_seed():
    spec = parse_spec(raw_spec(method="tpe", trials_per_cell=12))
    other = parse_spec(raw_spec(method="tpe", trials_per_cell=12, seed=1))
    first = search_base.sobol_points(6, spec, "cell-a")
    assert first == search_base.sobol_points(6, spec, "cell-a")
    assert first != search_base.sobol_points(6, other, "cell-a") and first != search_base.sobol_points(6, spec, "cell-b")
    lrs = [lr for lr, _ in first]
    assert all(3e-3 <= lr <= 1e-1 for lr in lrs) and len(set(lrs)) == 6
    assert {b for _, b in first} <= {4, 8, 16}
    # a made-up landscape with its optimum at lr 0.02, batch 8
    points = [PointResult(lr, b, 0, "ok", (math.log(lr / 0.02)) ** 2 + 0.1 * abs(math.log2(b / 8)))
              for lr, b in first]
    proposed = search.next_round(spec, "cell-a", points, 4, 1)
    assert proposed == search.next_round(spec, "cell-a", points, 4, 1)
    assert proposed != search.next_round(other, "cell-a", points, 4, 1)
    assert len(set(proposed)) == 4 and not set(proposed) & set(first)


def test_model_guided_rounds_bracket_the_best_point_in_lr():
    spec = parse_spec(raw_spec(method="tpe", trials_per_cell=12))
    step = search_base.lr_step(spec)
    points = [PointResult(lr, 8, 0, "ok", loss) for lr, loss in ((0.004, 3.0), (0.02, 2.0), (0.09, 2.5))]
    assert search_base.brackets(point_losses(points), spec) == [
        (float(f"{0.02 * step:.6g}"), 8), (float(f"{0.02 / step:.6g}"), 8)]
    # a diverged trial just above the best brackets it from above: only the lower side is added
    points += [PointResult(0.02 * step, 8, 0, "diverged", None)]
    assert search_base.brackets(point_losses(points), spec) == [(float(f"{0.02 / step:.6g}"), 8)]


def test_a_pruned_neighbour_does_not_bracket_the_best_point():
    # the fitter drops pruned trials: the bracket above goes halfway to the pruned point instead
    spec = parse_spec(raw_spec(method="tpe", trials_per_cell=12))
    step = search_base.lr_step(spec)
    points = [PointResult(lr, 8, 0, "ok", loss) for lr, loss in ((0.004, 3.0), (0.02, 2.0))]
    points += [PointResult(0.02 * step, 8, 0, "pruned", None), PointResult(0.02 / step, 8, 0, "ok", 2.4)]
    got = search.next_round(spec, "cell-a", points, 1, 1)
    assert got == [(float(f"{0.02 * math.sqrt(step):.6g}"), 8)]


def test_no_round_proposes_a_point_the_cell_already_tried_even_a_failed_one():
    spec = parse_spec(raw_spec(method="tpe", trials_per_cell=12))
    step = search_base.lr_step(spec)
    up, down = float(f"{0.02 * step:.6g}"), float(f"{0.02 / step:.6g}")
    points = [PointResult(lr, 8, 0, "ok", loss) for lr, loss in ((0.004, 3.0), (0.02, 2.0), (0.09, 2.5))]
    points += [PointResult(up, 8, 0, "failed", None), PointResult(down, 8, 0, "failed", None)]
    got = search.next_round(spec, "cell-a", points, 4, 1)
    assert len(got) == 4 and not set(got) & {(p.lr, p.batch_seqs) for p in points}


# ---------------------------------------------------------------------------- sweeps end to end


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tpe")
    spec = load_spec(write_spec(tmp))
    run_sweep(spec, tmp / "out", workers=1, progress=False)
    return spec, tmp / "out"


def test_killed_and_resumed_tpe_sweep_proposes_the_same_trials(uninterrupted, tmp_path, monkeypatch):
    spec, reference = uninterrupted
    assert search.round_sizes(spec.search) == [4, 2, 2]
    out = tmp_path / "out"
    record = TrialStore.record
    # killed inside round 0 (3 of its 4 recorded), then inside round 1 (model-guided: 1 of its 2 recorded)
    for stop_after, stored, finished in ((3, 4, 3), (2, 6, 5)):
        calls = {"n": 0}

        def record_then_die(self, result, owner):
            kept = record(self, result, owner)
            calls["n"] += 1
            if calls["n"] == stop_after:
                raise KeyboardInterrupt
            return kept

        monkeypatch.setattr(TrialStore, "record", record_then_die)
        with pytest.raises(KeyboardInterrupt):
            run_sweep(spec, out, workers=1, progress=False)
        with TrialStore.open(out, readonly=True) as store:
            rows = store.trials()
        assert len(rows) == stored and sum(r["result"] is not None for r in rows) == finished
    assert {r["origin"] for r in rows} == {"search:tpe:round0", "search:tpe:round1"}
    monkeypatch.setattr(TrialStore, "record", record)
    run_sweep(spec, out, workers=1, progress=False)
    assert trial_points(out) == trial_points(reference)
    rounds = [origin for *_, origin in trial_points(out)]
    assert len(rounds) == 8 and rounds.count("search:tpe:round0") == 4
    assert {rounds.count(f"search:tpe:round{k}") for k in (1, 2)} == {2}


class RowsStore:
    """A store that hands back the given rows, in that order: proposals must not depend on the order."""

    def __init__(self, rows, spec_hash):
        self.rows, self.spec_hash = rows, spec_hash

    def meta(self, key):
        return self.spec_hash if key == "spec_hash" else None

    def trials(self, **kwargs):
        return list(self.rows)


def test_search_proposals_do_not_depend_on_the_order_the_store_returns_rows(uninterrupted):
    spec, reference = uninterrupted
    with TrialStore.open(reference, readonly=True) as store:
        head = [r for r in store.trials() if r["origin"] != "search:tpe:round2"]  # rounds 0 and 1 done
        key = store.meta("spec_hash")
    forward = search.search_trials(RowsStore(head, key), spec)
    backward = search.search_trials(RowsStore(head[::-1], key), spec)
    assert len(forward) == 2 and {origin for *_, origin in forward} == {"search:tpe:round2"}
    assert [(c.trial_id, cell, o) for c, cell, o in forward] == [(c.trial_id, cell, o) for c, cell, o in backward]


def test_tiny_tpe_sweep_gives_a_fittable_table(uninterrupted):
    from calibration.fit.cell_fit import fit_cell
    from calibration.fit.table import build_cells, diverged_trials, prepare_trials
    from calibration.sweep.export import trial_table

    _, out = uninterrupted
    with TrialStore.open(out, readonly=True) as store:
        table = trial_table(store)
    assert len(table) == 8 and set(table["origin"]) == {f"search:tpe:round{k}" for k in range(3)}
    trials, _ = prepare_trials(table)
    (cell,) = build_cells(trials, diverged_trials(table))
    opt = fit_cell(cell)
    assert opt.geometry.n_lr >= 3 and opt.geometry.n_batch >= 2
    assert np.isfinite(opt.log_lr) and np.isfinite(opt.loss)
    lo, hi = cell.log_lr.min(), cell.log_lr.max()
    assert lo - 1e-9 <= opt.log_lr <= hi + 1e-9


@pytest.mark.benchmark
def test_search_benchmark_halves_the_grid_compute(tmp_path):
    """benchmarks/search_methods.py at one seed (several minutes): each search costs at most half the grid."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, str(root / "benchmarks" / "search_methods.py"), "--seeds", "1",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=1800, cwd=root)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = {line.split("|")[1].strip(): line.split("|") for line in res.stdout.splitlines()
            if line.startswith("| ") and "ratio" not in line}
    assert {"grid (seed noise)", "sobol", "tpe"} <= set(rows)
    for method in ("sobol", "tpe"):
        assert float(rows[method][5]) <= 0.5
        assert float(rows[method][6].split("±")[0]) < 1.0  # within a factor of two of the grid's optimum LR
