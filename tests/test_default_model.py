"""The shipped cpu-default model (data/models/cpu-default/, selectable as `--model cpu-default`): it is
reproducible from the shipped trial table and store, and its report builds. The default model
(steplaw-dense) has its own tests in test_steplaw_model.py."""
from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from advisor.catalog import default_model_path, resolve_model

DEFAULT = resolve_model("cpu-default").parent
STORE = Path(__file__).resolve().parent.parent / "data" / "calibrations" / "cpu-default"


@pytest.fixture(scope="module")
def shipped() -> dict:
    return json.loads((DEFAULT / "model.json").read_text())


@pytest.fixture(scope="module")
def refit():
    from calibration.fit import ScaleLawFitter

    return ScaleLawFitter(n_boot=200, seed=1).fit(DEFAULT / "trials.csv")


def test_main_job_answers_from_the_shipped_model():
    out = subprocess.run([sys.executable, "-m", "advisor.cli", "recommend", "--params", "7B", "--json"],
                         capture_output=True, text=True, check=True)
    rec = json.loads(out.stdout)
    assert rec["source"]["kind"] == "model" and rec["source"]["path"] == str(default_model_path())
    assert rec["lr_low"] < rec["lr"] < rec["lr_high"] and rec["batch_seqs"] >= 1


def test_shipped_model_says_what_it_is(shipped):
    prov = shipped["provenance"]
    assert prov["source"] == "calibration" and prov["tokenizer"] == "bytes-256"
    assert prov["data_id"].startswith("kjv-bytes:")
    assert any("cpu-default calibration" in note for note in prov["notes"])
    assert prov["n_trials_used"] == len((DEFAULT / "trials.csv").read_text().strip().splitlines()) - 1
    # the shipped table is the one the shipped model was fitted to
    assert prov["table_sha256"] == hashlib.sha256((DEFAULT / "trials.csv").read_bytes()).hexdigest()


def test_shipped_table_is_the_export_of_the_shipped_store(tmp_path):
    """store (data/calibrations/cpu-default) -> table (data/models/cpu-default/trials.csv) -> model: one chain."""
    from calibration.sweep.export import trial_table, write_table
    from calibration.sweep.store import TrialStore

    with TrialStore.open(STORE) as store:
        write_table(trial_table(store, current_spec=True), tmp_path / "trials.csv")
    assert (tmp_path / "trials.csv").read_bytes() == (DEFAULT / "trials.csv").read_bytes()


def test_shipped_calibration_meets_its_own_bar(shipped):
    """What the default calibration promises: >= 5 sizes over >= 1.5 decades, >= 3 budgets per size (a loss
    surface), usable LR and batch laws, and a held-out test of the largest size."""
    sizes = shipped["provenance"]["proxy"]["sizes"]
    assert len(sizes) >= 5 and math.log10(max(sizes) / min(sizes)) >= 1.5
    budgets: dict[float, set] = {}
    for cell in shipped["cells"]:
        budgets.setdefault(cell["n_params"], set()).add(round(cell["tokens"], -4))
    assert all(len(d) >= 3 for d in budgets.values()), budgets
    assert shipped["laws"]["loss"] is not None and shipped["laws"]["batch"] is not None
    held = shipped["validation"]["held_out_largest"]
    assert held["n_params"] == max(sizes) and held["loss_regret_pct"] >= 0


def _within_bootstrap_noise(point, shipped_law) -> None:
    samples = np.asarray(shipped_law["samples"], dtype=float)
    lo, hi = np.percentile(samples, [5, 95], axis=0)
    tolerance = 0.25 * (hi - lo) + 1e-9
    assert np.all(np.abs(np.asarray(point) - np.asarray(shipped_law.get("log_coef", shipped_law.get("values"))))
                  <= tolerance), (point, shipped_law.get("log_coef", shipped_law.get("values")))


def test_refitting_the_shipped_table_reproduces_the_shipped_laws(refit, shipped):
    laws = refit.artifact_.to_json()["laws"]
    for name in ("lr", "batch"):
        assert laws[name]["form"] == shipped["laws"][name]["form"]
        _within_bootstrap_noise(laws[name]["log_coef"], shipped["laws"][name])
    if shipped["laws"]["loss"] is not None:
        _within_bootstrap_noise(laws["loss"]["values"], shipped["laws"]["loss"])


def test_cells_at_the_one_sequence_floor_are_named_as_such(refit):
    assert "batch_edge_at_one_sequence" in [w.code for w in refit.warnings_]


def test_report_builds_for_the_shipped_calibration(refit, tmp_path):
    from calibration.fit.report import build_report

    report = build_report(refit, tmp_path / "report")
    text = report.read_text()
    pngs = sorted(tmp_path.glob("report/*.png"))
    assert {"law_lr.png", "loss_vs_lr.png"} <= {p.name for p in pngs}
    assert all(p.stat().st_size > 15_000 for p in pngs)
    assert all(p.name in text for p in pngs)
