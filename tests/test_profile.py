"""Coordinate-descent data (a tuned run and 1-D ablations around it): what a profile supports (interior, a
bound at either edge, bracketed by divergence, not swept) and its resolution; edge optima are bounds in the
law fit (censored), not values; `advisor fit marin-adamw` runs end to end."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from calibration.fit import ScaleLawFitter
from calibration.fit.profile import profile_support
from calibration.fit.table import build_cells, diverged_trials, prepare_trials

LOG = np.log


def _support(xs, losses, diverged=()):
    return profile_support(LOG(np.array(xs, float)), np.array(losses, float), LOG(np.array(diverged, float)))


def test_interior_profile_gives_the_parabola_vertex_and_its_resolution():
    # loss = (log2(lr / 0.006))^2 / 100 on a 2x grid: the vertex lies between the grid points
    xs = [0.002, 0.004, 0.008, 0.016]
    s = _support(xs, [3 + (math.log2(x / 0.006)) ** 2 / 100 for x in xs])
    assert s.kind == "interior" and not s.is_bound
    assert math.exp(s.log_value) == pytest.approx(0.006, rel=1e-6)
    assert s.step_log2 == pytest.approx(1.0) and s.n_values == 4
    assert s.to_json()["support"] == "interior" and "interior" in s.words()


def test_edges_are_bounds_at_the_geometric_midpoint():
    low = _support([0.002, 0.004, 0.008], [2.90, 2.92, 2.95])
    assert low.kind == "upper_bound" and low.is_bound
    assert math.exp(low.log_bound) == pytest.approx(math.sqrt(0.002 * 0.004))
    assert "<= smallest tried" in low.words()
    assert low.violated_by(LOG(0.003)) and not low.violated_by(LOG(0.0025))
    high = _support([128, 256], [3.10, 3.09])
    assert high.kind == "lower_bound" and ">= largest tried" in high.words()
    assert math.exp(high.log_bound) == pytest.approx(math.sqrt(128 * 256))
    assert high.violated_by(LOG(150)) and not high.violated_by(LOG(200))


def test_divergence_beside_an_edge_brackets_the_optimum():
    below_cliff = _support([0.004, 0.008], [3.27, 3.26], diverged=[0.016, 0.032])
    assert below_cliff.kind == "diverged_beyond" and not below_cliff.is_bound
    assert math.exp(below_cliff.log_value) == pytest.approx(0.008)
    far_cliff = _support([0.004, 0.008], [3.27, 3.26], diverged=[0.064])  # three steps up: not bracketed
    assert far_cliff.kind == "lower_bound"
    lone = _support([0.004], [3.1], diverged=[0.008, 0.016])  # one value trained, everything above diverged
    assert lone.kind == "upper_bound" and math.exp(lone.log_bound) == pytest.approx(0.008)
    assert _support([0.004], [3.1]).kind == "not_swept"


def _profile_table(true_lr, sizes=(1e8, 2e8, 4e8, 8e8), mult=(20, 40)) -> pd.DataFrame:
    """A synthetic coordinate-descent sweep: per cell a tuned run at the 2x grid point nearest the truth,
    an LR profile (one step each way), a batch profile, and a warmup ablation that must be ignored. The
    largest size's LR profile only goes up (its best is its smallest LR): a bound."""
    rows = []
    for n in sizes:
        for m in mult:
            d = m * n
            lr_star = true_lr(n, d)
            tuned = 0.001 * 2 ** round(math.log2(lr_star / 0.001))
            loss = lambda lr, b: 3 + 0.02 * math.log2(lr / lr_star) ** 2 + 0.01 * math.log2(b / 2 ** 19) ** 2  # noqa
            steps = (0, 1, 2) if n == sizes[-1] else (-1, 0, 1)
            for k in steps:
                lr = tuned * 2 ** k
                rows.append(dict(n_params=n, tokens=d, lr=lr, batch_tokens=2 ** 19, loss=loss(lr, 2 ** 19),
                                 status="ok", ablated="" if k == 0 else "lr"))
            for b in (2 ** 18, 2 ** 20):
                rows.append(dict(n_params=n, tokens=d, lr=tuned, batch_tokens=b, loss=loss(tuned, b),
                                 status="ok", ablated="batch_tokens"))
            rows.append(dict(n_params=n, tokens=d, lr=tuned, batch_tokens=2 ** 19, loss=9.0, status="diverged",
                             ablated="warmup_steps"))
    return pd.DataFrame(rows)


def test_table_keeps_only_the_profiles_and_marks_the_tuned_run():
    df = _profile_table(lambda n, d: 0.004)
    trials, excluded = prepare_trials(df)
    assert excluded["other_ablation"] == 8 and "tuned" in trials
    cells = build_cells(trials, diverged_trials(df))
    assert all(c.profile_centre is not None for c in cells)
    assert all(c.diverged_log_lr.size == 0 for c in cells)  # the warmup run's divergence bounds no LR


def test_an_edge_optimum_is_censored_not_fitted_as_a_value():
    truth = lambda n, d: 0.01 * (n / 1e8) ** -0.5  # noqa: E731
    fit = ScaleLawFitter(n_boot=0, loss_surface=False).fit(_profile_table(truth))
    largest = [o for c, o in zip(fit.table_.cells, fit.table_.optima) if c.n_params == 8e8]
    assert all(o.lr_profile.kind == "upper_bound" for o in largest)
    # the law through the interior cells respects the bound, so it stays out of the fit
    assert all(o.weight_lr == 0 for o in largest) and fit.active_bounds_["lr"] == 0
    assert fit.lr_fits_[0].log_coef[1] == pytest.approx(-0.5, abs=0.1)
    codes = {w.code for w in fit.warnings_}
    assert "profile_support" in codes and "cells_dropped_thin" not in codes
    cell = fit.artifact_.cells[-1]
    assert cell.lr_profile.support == "upper_bound" and cell.method == "profile"


def test_a_bound_the_law_would_pass_becomes_active():
    # flat truth below 4e8, then a drop the interior cells cannot see: the law must bend to the bound
    truth = lambda n, d: 0.008 if n < 8e8 else 0.001  # noqa: E731
    fit = ScaleLawFitter(n_boot=0, loss_surface=False).fit(_profile_table(truth))
    largest = [o for c, o in zip(fit.table_.cells, fit.table_.optima) if c.n_params == 8e8]
    assert fit.active_bounds_["lr"] == 2
    assert all(o.weight_lr > 0 and any(f.startswith("lr_bound_active") for f in o.flags) for o in largest)
    assert all(math.exp(o.log_lr) == pytest.approx(math.exp(o.lr_profile.log_bound)) for o in largest)


def test_fit_marin_adamw_end_to_end(tmp_path):
    out = tmp_path / "model.json"
    result = CliRunner().invoke(cli, ["fit", "marin-adamw", "-o", str(out), "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    model = json.loads(out.read_text())
    law = model["laws"]["lr"]
    coef = law["log_coef"]
    at = lambda n, d: math.exp(coef[0] + coef[1] * math.log(n) + coef[2] * math.log(d))  # noqa: E731
    assert law["form"] == "a*N^alpha*D^beta"
    # Wen et al.: tuned AdamW LR 8e-3 at 130M, 2e-3 at 1.2B (1x Chinchilla); within a 2x grid step
    assert 4e-3 < at(134217728, 2684354560) < 1.6e-2
    assert 1.4e-3 < at(1207959552, 24159191040) < 4e-3
    supports = {c["lr_profile"]["support"] for c in model["cells"]}
    assert {"interior", "upper_bound", "not_swept"} <= supports
    assert "profile_support" in {w["code"] for w in model["warnings"]}


def test_profiles_that_are_all_bounds_are_refused_in_one_line(tmp_path):
    df = _profile_table(lambda n, d: 0.004, sizes=(1e8, 2e8, 4e8, 8e8))
    df = df[~((df["ablated"] == "lr") & (df["lr"] < df.groupby(["n_params", "tokens"])["lr"].transform("max")))]
    df = df[~((df["ablated"] == "lr") & (df["n_params"] < 8e8))]  # only the largest size keeps an LR profile
    table = tmp_path / "cd.csv"
    df.to_csv(table, index=False)
    result = CliRunner().invoke(cli, ["fit", str(table), "-o", str(tmp_path / "m.json"), "--bootstrap", "0"])
    assert result.exit_code == 2 and not (tmp_path / "m.json").exists()
    assert "a bound alone cannot place a law" in result.output and len(result.output.strip().splitlines()) == 1
