"""The fit report builds: PNG figures that are non-trivial and a Markdown report with the tables.

Uses a synthetic table shaped like the quick calibration (calibration/sweep/presets/quick.toml); the lead
wires the same check on the real quick run.
"""
from __future__ import annotations

import json

from click.testing import CliRunner

from advisor.cli import cli
from calibration.fit import ScaleLawFitter
from calibration.fit.report import build_report
from calibration.fit.synthetic import QUICK_SHAPE, synthetic_trials

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_pngs(folder, names):
    for name in names:
        data = (folder / name).read_bytes()
        assert data[:8] == PNG_MAGIC, name
        assert len(data) > 15_000, f"{name} is suspiciously small ({len(data)} bytes)"


def test_report_for_a_quick_shaped_calibration_via_the_cli(tmp_path):
    table = tmp_path / "trials.csv"
    synthetic_trials(seed=0, diverged_above=5.0, **QUICK_SHAPE).to_csv(table, index=False)
    result = CliRunner().invoke(cli, ["fit", str(table), "-o", str(tmp_path / "model.json"),
                                      "--report", str(tmp_path / "report"), "--bootstrap", "40"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "report"
    _check_pngs(folder, ["loss_vs_lr.png", "law_lr.png", "law_batch.png", "heatmaps_01.png"])
    md = (folder / "report.md").read_text()
    for section in ("## Laws", "## Held-out validation", "## Cells", "## Figures", "a*N^alpha*D^beta"):
        assert section in md
    for png in folder.glob("*.png"):
        assert f"]({png.name})" in md  # every figure is linked from the report
    art = json.loads((tmp_path / "model.json").read_text())
    assert art["laws"]["loss"] is None  # two token budgets cannot determine the D exponent
    no_surface = next(w for w in art["warnings"] if w["code"] == "no_loss_surface")
    assert no_surface["message"] in md and "wrote report" in result.output
    again = CliRunner().invoke(cli, ["fit", str(table), "-o", str(tmp_path / "other.json"),
                                     "--report", str(folder), "--bootstrap", "0"])
    assert again.exit_code == 2 and "--force" in again.output and not (tmp_path / "other.json").exists()


def test_report_with_loss_surface_many_cells_and_no_batch_law(tmp_path):
    full = ScaleLawFitter(n_boot=20).fit(synthetic_trials(seed=1))
    full.report(tmp_path / "full")
    _check_pngs(tmp_path / "full", ["loss_surface.png", "law_lr.png", "law_batch.png", "heatmaps_01.png",
                                    "heatmaps_02.png"])
    assert "Loss surface" in (tmp_path / "full" / "report.md").read_text()
    lr_only = ScaleLawFitter(n_boot=0).fit(synthetic_trials(seed=1, batch_points=1, lr_points=6))
    path = lr_only.report(tmp_path / "lr_only")
    assert not (tmp_path / "lr_only" / "law_batch.png").exists()
    assert (tmp_path / "lr_only" / "law_lr.png").exists() and "batch: not fitted" in path.read_text()


def test_report_without_bootstrap_lists_the_warning(tmp_path):
    fitter = ScaleLawFitter(n_boot=0, loss_surface=False).fit(synthetic_trials(seed=2, lr_points=6,
                                                                               tokens_per_param=(10, 40)))
    md = build_report(fitter, tmp_path).read_text()
    no_bootstrap = next(w for w in fitter.warnings_ if w.code == "no_bootstrap")
    assert f"- {no_bootstrap}" in md


def test_a_law_that_is_only_a_bound_is_reported_as_such(tmp_path):
    fitter = ScaleLawFitter(n_boot=0, loss_surface=False).fit(synthetic_trials(seed=0, grid_offset=-4.6))
    assert fitter.lr_law_.is_bound
    md = fitter.report(tmp_path).read_text()
    assert fitter.lr_law_.bound_reason("LR")[1:] in md


def test_law_equation_names_the_law_it_is_given_not_its_forms_first_letter():
    from advisor.artifact import LawEntry
    from calibration.fit.report import law_equation

    law = LawEntry(form="a*C^gamma", inputs=("flops",), log_coef=(0.0, 0.25))  # a batch law, form not "b..."
    assert law_equation(law, "batch").startswith("B = 1 * C^0.250")
    assert law_equation(law, "lr").startswith("lr = 1 * C^0.250")


def test_report_draws_the_penalty_model_against_each_cells_runs(tmp_path):
    import matplotlib

    from calibration.fit.penalty_report import penalty_md, plot_penalty

    matplotlib.use("Agg")
    fitter = ScaleLawFitter(n_boot=0, loss_surface=False).fit(synthetic_trials(seed=0))
    assert fitter.penalty_ is not None
    plot_penalty(fitter, tmp_path / "penalty.png")  # over calibration/fit/plots.py's helpers
    _check_pngs(tmp_path, ["penalty.png"])
    assert penalty_md(fitter.penalty_)[0] == "## The cost of being off (penalty model)"
