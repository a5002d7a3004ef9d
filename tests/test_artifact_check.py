"""Issue 25, item 11: a hand-edited fitted model with a wrong type deep inside is refused on load, in one
line naming the field (exit 2), by `recommend`, `check` and `show` alike (advisor/artifact_check.py)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from advisor.cli import cli
from advisor.model import FittedModel, ModelError
from advisor_fixtures import modified

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "models" / "steplaw-dense" / "model.json"
COMMANDS = (["show"], ["recommend", "--params", "7B", "--tokens", "2T", "--model"],
            ["check", "--params", "7B", "--tokens", "2T", "--lr", "3e-4", "--batch", "4M", "--model"])


@pytest.mark.parametrize("dotted, value, named", [
    ("provenance.bootstrap", -5, "provenance.bootstrap"),  # a negative sample count
    ("provenance.n_trials", "many", "provenance.n_trials"),  # a string where a number goes
    ("laws.loss.param_names", ["E", None, "alpha", "B", "beta"], "laws.loss"),  # None in param_names
    ("validation.coverage", {"held_out_largest": {"lr": {"inside": "x", "n": 2, "median_width_ratio": 1}}},
     "validation.coverage.held_out_largest.lr"),
    ("validation.coverage", {"held_out_largest": [1]}, "validation.coverage.held_out_largest"),
    ("laws.lr.log_coef", [1e308, -0.8, 0.28], "laws.lr"),  # finite, but e^1e308 is not
    ("penalty.n_runs", -3, "penalty.n_runs"),
])
def test_a_hand_edited_model_is_one_line_in_every_command(tmp_path, dotted, value, named):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(modified(json.loads(SHIPPED.read_text()), dotted, value)))
    for command in COMMANDS:
        result = CliRunner().invoke(cli, [*command, str(path)])
        assert result.exit_code == 2, (command, result.output, result.exception)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and named in lines[0], (command, result.stderr)


def test_the_shipped_models_pass_the_check():
    for name in ("steplaw-dense", "steplaw-moe", "cpu-default"):
        FittedModel.load(SHIPPED.parents[1] / name / "model.json")


def test_the_check_follows_the_declared_field_types():
    """A field added to an artifact type is checked from its annotation, without a line in the checker."""
    from advisor.artifact_check import check_record

    @dataclass
    class Record:
        n_cells: int | None = None
        pairs: list[tuple[float, float]] | None = None
        name: str = ""

    check_record(Record(3, [(1.0, 2.0)], "ok"), ModelError)
    for bad, named in ((Record(n_cells=-1), "n_cells"), (Record(pairs=[(1.0, None)]), "pairs"),
                       (Record(name=5), "name"), (Record(n_cells=2.5), "n_cells")):
        with pytest.raises(ModelError, match=named):
            check_record(bad, ModelError)
