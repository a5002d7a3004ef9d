"""Issue 25, items 5, 6, 7, 10 and 13: inputs the tool must not trust. Tables in the wrong units, rows that
are silently lost, files that never end, grids too large to plan, and numbers beyond a float."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from advisor.cli import cli
from calibration.fit import ScaleLawFitter
from calibration.fit.synthetic import synthetic_trials
from calibration.fit.table import FitInputError, prepare_trials, read_table
from calibration.sweep.spec import SpecError, load_spec

QUICK_SPEC = Path(__file__).resolve().parents[1] / "calibration" / "sweep" / "presets" / "quick.toml"


def _table():
    return synthetic_trials(seed=0, lr_points=5, tokens_per_param=(20,))


def _one_line_exit_2(result):
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr


# ------------------------------------------------------------------ item 5: implausible units

@pytest.mark.parametrize("column, factor, hint", [
    ("lr", 1e4, "scaled up"),  # LRs up to ~300: a rate x1e4
    ("batch_tokens", 1e-9, "sequences"),  # the batch in billions of tokens
    ("n_params", 1e-6, "millions"),  # N in millions
    ("loss", None, "perplexity"),  # exp(loss)
])
def test_fit_refuses_a_column_in_the_wrong_unit_naming_the_likely_mistake(column, factor, hint):
    import numpy as np

    df = _table()
    # the perplexity of a sweep whose losses are around 3 nats
    df[column] = np.exp(df[column] + 1.0) if factor is None else df[column] * factor
    with pytest.raises(FitInputError, match=f"column {column}.*{hint}"):
        ScaleLawFitter(n_boot=0, loss_surface=False).fit(df)


def test_the_shipped_tables_are_in_plausible_units():
    from advisor.catalog import resolve_source

    for name in ("steplaw-dense", "steplaw-moe"):
        prepare_trials(read_table(resolve_source(name)))  # no refusal


# ------------------------------------------------------------------ item 6: rows that disappear

def test_rows_with_an_empty_status_are_counted(tmp_path):
    df = _table()
    df.loc[df.index[:2], "status"] = None
    df.to_csv(tmp_path / "t.csv", index=False)
    trials, excluded = prepare_trials(read_table(tmp_path / "t.csv"))
    assert excluded["empty_status"] == 2 and len(trials) == len(df) - 2


def test_a_truncated_last_line_is_left_out_and_counted(tmp_path):
    text = _table().to_csv(index=False)
    (tmp_path / "t.csv").write_text(text.rstrip("\n")[:-40])  # the copy stopped mid-row
    raw = read_table(tmp_path / "t.csv")
    trials, excluded = prepare_trials(raw)
    assert excluded["truncated_last_line"] == 1 and len(trials) == len(raw) - 1
    result = CliRunner().invoke(cli, ["fit", str(tmp_path / "t.csv"), "-o", str(tmp_path / "m.json"),
                                      "--bootstrap", "0"])
    assert result.exit_code == 0 and "truncated_last_line 1" in result.stdout, result.output


def test_a_complete_last_line_without_a_newline_is_kept(tmp_path):
    text = _table().to_csv(index=False)
    (tmp_path / "t.csv").write_text(text.rstrip("\n"))
    assert prepare_trials(read_table(tmp_path / "t.csv"))[1]["truncated_last_line"] == 0


def test_duplicate_column_names_are_refused(tmp_path):
    df = _table()
    df.columns = ["lr" if c == "loss" else c for c in df.columns]
    df.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(FitInputError, match="'lr' more than once"):
        read_table(tmp_path / "t.csv")


# ------------------------------------------------------------------ item 7: files that never end

def _limit_memory():  # an unbounded read fails fast instead of taking the machine's memory
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))


def test_a_config_that_never_ends_is_one_line_and_quick():
    try:
        done = subprocess.run([sys.executable, "-m", "advisor.cli", "recommend", "--config", "/dev/zero",
                               "--tokens", "2T"], capture_output=True, text=True, timeout=30,
                              preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired:
        pytest.fail("reading /dev/zero did not stop")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "config" in done.stderr, done.stderr


def test_bounded_reads_stop_at_the_bound(tmp_path):
    from advisor.bounded_read import TooLarge, read_bytes

    with pytest.raises(TooLarge):
        read_bytes("/dev/zero", limit=1024)
    (tmp_path / "f").write_bytes(b"x" * 1024)
    assert len(read_bytes(tmp_path / "f", limit=1024)) == 1024


# ------------------------------------------------------------------ item 10: grids too large to plan

def _spec(tmp_path, old: str, new: str) -> Path:
    text = QUICK_SPEC.read_text()
    assert old in text
    path = tmp_path / "s.toml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize("old, new, key", [
    ("points = 5", "points = 1000000", "lr.points"),
    ("points = 5", "points = 1e7", "lr.points"),
    ("max_extensions = 2", "max_extensions = 100000", "adaptive.max_extensions"),
    ("seeds = [0]", f"seeds = {list(range(1000))}", "the grid is"),  # each list fine, the product too large
])
def test_grid_sizes_are_capped_at_load_naming_the_key(tmp_path, old, new, key):
    start = time.monotonic()
    with pytest.raises(SpecError, match=key):
        load_spec(_spec(tmp_path, old, new))
    assert time.monotonic() - start < 5


def test_a_huge_grid_is_one_line_in_plan(tmp_path):
    path = _spec(tmp_path, "max_extensions = 2", "max_extensions = 100000")
    _one_line_exit_2(CliRunner().invoke(cli, ["calibrate", "plan", str(path), "--no-measure"]))


# ------------------------------------------------------------------ item 13: numbers beyond a float

def test_the_api_refuses_an_integer_beyond_a_float_with_its_own_error():
    from advisor import recommend
    from advisor.units import UnitError

    with pytest.raises(UnitError, match="params"):
        recommend(10**400, "2T")
    with pytest.raises(UnitError, match="tokens"):
        recommend("7B", 10**400)


def test_a_huge_spec_seed_is_one_line(tmp_path):
    path = _spec(tmp_path, "seeds = [0]", "seeds = [99999999999999999999]")
    with pytest.raises(SpecError, match="seeds.values"):
        load_spec(path)
    _one_line_exit_2(CliRunner().invoke(cli, ["calibrate", "plan", str(path)]))


# ------------------------------------------------------------------ item 8: check --configs in one pass

def test_check_configs_computes_the_target_once_and_shows_progress(tmp_path, monkeypatch):
    import advisor.checking
    import advisor.cli.check

    calls = []
    original = advisor.checking.recommend
    monkeypatch.setattr(advisor.checking, "recommend", lambda *a, **k: calls.append(1) or original(*a, **k))
    monkeypatch.setattr(advisor.cli.check, "PROGRESS_ROWS", 10)
    rows = [f"c{i},{3e-4 * 1.1 ** (i % 7 - 3):.3g},{4_000_000}" for i in range(25)]
    (tmp_path / "c.csv").write_text("name,lr,batch_tokens\n" + "\n".join(rows) + "\n")
    result = CliRunner().invoke(cli, ["check", "--params", "7B", "--tokens", "2T", "--configs",
                                      str(tmp_path / "c.csv"), "--json"])
    assert result.exit_code == 0, result.output
    assert len(calls) == 1  # one recommendation for every candidate, not one per row
    assert "checked 20 of 25 candidates" in result.stderr and "checked 25 of 25" in result.stderr
    assert len(json.loads(result.stdout)) == 25


def test_the_penalty_along_a_ray_is_the_cubic_of_its_features():
    """The fast ray (advisor/penalty.py _ray_max) gives the step-by-step answer."""
    import random

    from advisor.penalty import CAP_PCT, RAY_STEPS, _ray_max, features

    rng = random.Random(0)
    for _ in range(500):
        coef = [rng.uniform(-2, 2) for _ in range(12)]
        u, v, ln_n, ln_d = rng.uniform(-4, 4), rng.uniform(-4, 4), rng.uniform(15, 25), rng.uniform(20, 30)
        slow = max(min(max(0.0, sum(c * f for c, f in zip(coef, features(u * t, v * t, ln_n, ln_d)))), CAP_PCT)
                   for t in RAY_STEPS)
        assert _ray_max(coef, features(u, v, ln_n, ln_d)) == pytest.approx(slow, abs=1e-9)


# ------------------------------------------------------------------ item 9: --bootstrap 0 means no draws

def test_bootstrap_0_runs_no_draws_in_the_penalty_models_held_out_flags(monkeypatch):
    import calibration.fit.penalty as penalty

    draws = []
    original = penalty.bootstrap_fits
    monkeypatch.setattr(penalty, "bootstrap_fits", lambda runs, x, near, n_boot, rng: draws.append(n_boot)
                        or original(runs, x, near, n_boot, rng))
    fitter = ScaleLawFitter(n_boot=0, loss_surface=False).fit(synthetic_trials(seed=0))
    assert fitter.penalty_ is not None and sum(draws) == 0
    assert "costly_flagged" not in fitter.penalty_.validation  # not counted, rather than counted from nothing


def test_a_fit_says_where_it_is(capsys):
    ScaleLawFitter(n_boot=0, loss_surface=False, progress=True).fit(_table())
    err = capsys.readouterr().err
    for stage in ("finding each cell's optimum", "fitting the laws", "the penalty model", "held-out validation"):
        assert stage in err
