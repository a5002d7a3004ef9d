"""Issue 22: the coord search, replays on recorded sweeps, `calibrate design`, and costing your data."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from calibration.studies.replay import recorded_cells, replay, replay_runs, replay_spec
from calibration.sweep.run import run_sweep
from calibration.sweep.spec import SpecError, load_spec, parse_spec
from calibration.sweep.store import TrialStore

ROOT = Path(__file__).resolve().parents[1]
DENSE = ROOT / "data" / "sources" / "steplaw-dense" / "trials.csv"


@pytest.fixture(scope="module")
def cells():
    table = pd.read_csv(DENSE)
    three = table[table["n_params"] == table["n_params"].min()]
    return recorded_cells(three)


def test_coord_replay_uses_its_budget_and_beats_a_coarse_grid(cells):
    coord = [replay(c, "coord", 12, 0) for c in cells]
    grid = [replay(c, "grid", 12, 0) for c in cells]
    assert all(r.runs <= 12 for r in coord)
    assert np.median([r.regret_pct for r in coord]) < np.median([r.regret_pct for r in grid])
    assert all(r.regret_pct >= 0 for r in coord + grid)


def test_replay_is_deterministic_and_seeds_differ(cells):
    c = cells[0]
    assert replay_runs(c, "coord", 12, 1) == replay_runs(c, "coord", 12, 1)
    assert replay_runs(c, "coord", 12, 1) != replay_runs(c, "coord", 12, 2)


def test_coord_spec_parses_and_refuses_a_small_budget(cells):
    spec = replay_spec(cells[0], {"method": "coord", "trials_per_cell": 12})
    assert spec.search.method == "coord" and spec.search.initial_trials == 4 and spec.search.round_trials == 2
    with pytest.raises(SpecError, match="trials_per_cell"):
        replay_spec(cells[0], {"method": "coord", "trials_per_cell": 3})


TINY = """
name = "tiny-coord"
device = "cpu"
min_steps = 8
[sizes]
shapes = [{n_layer = 1, d_model = 16, n_head = 1, d_ff = 32}]
[budget]
tokens = [6144]
[lr]
min = 3e-3
max = 1e-1
points = 4
[batch]
seqs = [4, 8, 16]
[trial]
seq_len = 32
eval_tokens = 512
[search]
method = "coord"
trials_per_cell = 8
"""


def test_coord_sweep_trains_its_budget_end_to_end(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TINY)
    summary = run_sweep(load_spec(path), tmp_path / "run", workers=1, device="cpu", progress=False)
    with TrialStore.open(tmp_path / "run", readonly=True) as store:
        rows = store.trials()
    assert summary.counts["ok"] + summary.counts["diverged"] == 8
    assert {r["origin"].split(":")[1] for r in rows} == {"coord"}
    assert len({(r["config"].lr, r["config"].batch_seqs) for r in rows}) == 8


def design(args, **kw):
    return CliRunner().invoke(cli, ["calibrate", "design", *args], **kw)


@pytest.mark.slow
def test_design_writes_a_spec_within_budget_that_plan_takes(tmp_path):
    out = tmp_path / "d.toml"
    r = design(["--target", "7B", "--tokens", "2T", "--budget", "500", "--gpu", "h100", "--out", str(out), "--json",
                "--vocab-size", "50304"])
    assert r.exit_code == 0, r.output
    import json

    d = json.loads(r.output)
    assert d["gpu_hours"] <= 500 and d["flops"] <= d["budget_flops"]
    assert d["search"]["method"] == "coord" and "replayed" in d["expected_interval"]["rests_on"]
    spec = load_spec(out)
    assert spec.search.method == "coord" and spec.trial["vocab_size"] == 50304 and d["vocab_size"] == 50304
    assert set(d["weighed"]) == {"12", "24"} or set(d["weighed"]) == {12, 24}
    plan = CliRunner().invoke(cli, ["calibrate", "plan", str(out), "--no-measure"])
    assert plan.exit_code == 0, plan.output
    total = float(plan.output.split("all rounds: about")[-1].split(" FLOPs")[0].split(",")[-1].split()[-1])
    assert total <= d["budget_flops"] * 1.001


@pytest.mark.parametrize("args, message", [
    (["--target", "7B", "--budget", "0.001"], "budget"),
    (["--target", "7B", "--budget", "100", "--gpu", "nope"], "--gpu: must be one of"),
    (["--target", "100M", "--budget", "2000"], "not larger than"),
    (["--target", "7B"], "--budget"),
])
def test_design_refuses_bad_input_in_one_line(tmp_path, args, message):
    r = design(args + ["--out", str(tmp_path / "x.toml")])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x.toml").exists()


def test_design_never_overwrites_without_force(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep")
    link = tmp_path / "d.toml"
    os.symlink(target, link)
    existing = tmp_path / "e.toml"
    existing.write_text('name = "x"\n')
    dangling = tmp_path / "gone.toml"
    os.symlink(tmp_path / "missing.toml", dangling)  # a link to nothing is still a file to keep
    for out in (link, existing, dangling):  # the command refuses them before any work
        r = design(["--target", "7B", "--budget", "2000", "--out", str(out)])
        assert r.exit_code == 2 and ("symbolic link" in r.output or "--force" in r.output), r.output
    assert target.read_text() == "keep" and existing.read_text() == 'name = "x"\n'
    # with --force the one writer (advisor/outputs.py) replaces the link itself, never what it points to
    r = design(["--target", "7B", "--budget", "2000", "--out", str(link), "--force"])
    assert r.exit_code == 0, r.output
    assert not link.is_symlink() and 'name = "design"' in link.read_text() and target.read_text() == "keep"


def test_spec_toml_round_trips_through_the_parser():
    from calibration.studies.design import make_design
    from calibration.sweep.spec_toml import to_toml

    try:
        import tomllib
    except ModuleNotFoundError:
        import tomli as tomllib
    d = make_design(7e9, 2e12, "h100", 0.4, 2000 * 3600 * 989e12 * 0.4)
    spec = parse_spec(tomllib.loads(to_toml(d.spec_dict())))
    assert spec.search.method == "coord" and len(spec.n_params) == 4 and len(spec.tokens) == 2


def test_plan_costs_your_vocabulary():
    small = CliRunner().invoke(cli, ["calibrate", "plan", "quick", "--no-measure"])
    big = CliRunner().invoke(cli, ["calibrate", "plan", "quick", "--no-measure", "--vocab-size", "50304"])
    assert small.exit_code == 0 and big.exit_code == 0, big.output
    assert "vocabulary 256" in small.output and "vocabulary 50,304" in big.output
    share = int(big.output.split("the output head adds ")[1].split("%")[0])
    assert share > 90 and "warning: the vocabulary" in big.output and "warning" not in small.output
    bad = CliRunner().invoke(cli, ["calibrate", "plan", "quick", "--no-measure", "--data", "/no/such/file"])
    assert bad.exit_code == 2 and "does not exist" in bad.output


def test_coord_steps_below_the_ladder_within_batch_min_and_resolves_lr_first():
    from calibration.sweep.search_coord import coord_points

    spec = parse_spec({"sizes": {"n_params": [1e4]}, "budget": {"tokens": [1_000_000]},
                       "lr": {"min": 1e-3, "max": 3.2e-2, "points": 6}, "batch": {"seqs": [4, 8, 16]},
                       "adaptive": {"batch_min": 2}, "search": {"method": "coord", "trials_per_cell": 12}})
    # LR resolved at batch 4 (neighbours one step each side): the next points move the batch
    losses = {(4, 2e-3): 3.0, (4, 4e-3): 2.9, (4, 8e-3): 3.1, (8, 4e-3): 2.95}
    points = coord_points(losses, spec, 2, set(losses))
    assert (4e-3, 2) in points  # half the ladder's smallest, within batch_min 2
    assert all(b >= 2 for _, b in points)
    # an unresolved LR (best at the row's edge) is bracketed before the batch moves
    edge = {(8, 1e-3): 3.0, (8, 4e-3): 3.2}
    first = coord_points(edge, spec, 2, set(edge))
    assert sorted(first) == [(5e-4, 8), (2e-3, 8)]


def test_cluster_preset_searches_with_coord():
    spec = load_spec("cluster")
    assert spec.search.method == "coord" and spec.search.trials_per_cell == 12
    assert load_spec("gpu-default").search.method == "grid"  # vectorized LR rows: see docs/search.md
