"""Issue 23, item 1: the artifact is read by its field types (advisor/json_record.py), so nothing written is
lost on reading: every shipped model, read and written back, is the file's JSON again."""
from __future__ import annotations

import json
from dataclasses import field
from pathlib import Path

import pytest
from click.testing import CliRunner

from advisor.artifact import FittedModelArtifact, ModelError, Record
from advisor.cli import cli
from advisor.json_record import record

MODELS = sorted((Path(__file__).resolve().parents[1] / "data" / "models").glob("*/model.json"))


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.parent.name)
def test_every_shipped_model_reads_and_writes_back_unchanged(path):
    doc = json.loads(path.read_text())
    assert FittedModelArtifact.from_json(doc).to_json() == doc


@record
class Inner(Record):
    name: str = ""


@record
class Outer(Record):
    size: float
    count: int | None = None
    pair: tuple[float, float] | None = None
    names: list[str] = field(default_factory=list)
    inner: Inner | None = None
    by_name: dict[str, Inner] = field(default_factory=dict)


def test_a_field_added_to_a_record_is_read_from_its_type():
    """The reader follows the annotations: a new field needs no line in any reader."""
    doc = {"size": 2, "count": 3, "pair": [1, 2], "names": ["a", 5, "b"], "inner": {"name": "x"},
           "by_name": {"k": {"name": "y"}, "bad": 3}}
    out = Outer.from_json(doc)
    assert out == Outer(2.0, 3, (1.0, 2.0), ["a", "b"], Inner("x"), {"k": Inner("y")})
    assert out.to_json() == {**doc, "names": ["a", "b"], "by_name": {"k": {"name": "y"}}}
    # lenient: a wrong-typed optional value reads as its default; a required one is refused, naming the key
    assert Outer.from_json({"size": 1, "count": "many", "pair": [1], "inner": 4}) == Outer(1.0)
    with pytest.raises(ModelError, match=r"^top\.size must be a finite number, got 'big'$"):
        Outer.from_json({"size": "big"}, "top")


def test_a_joint_fit_keeps_its_records_typed_and_whole(tmp_path):
    """The joint and anchored cross-setup records a joint fit writes (calibration/fit/joint.py) are the
    artifact's types, and hold every key of what the fit computed."""
    from calibration.fit.joint import anchored_section
    from calibration.fit import ScaleLawFitter
    from calibration.fit.joint import WithSources
    from calibration.fit.synthetic import SyntheticTruth, synthetic_trials

    from advisor.setup_record import CrossSetupRecord, JointRecord

    source = tmp_path / "source.csv"
    synthetic_trials(SyntheticTruth(), sizes=(2e5, 5e5, 1.2e6, 3e6), tokens_per_param=(10, 40),
                     seed=1).to_csv(source, index=False)
    mine = synthetic_trials(SyntheticTruth(), sizes=(1e4, 3e4), tokens=(3e5, 1.2e6), seed=2)
    fitter = ScaleLawFitter(n_boot=200, seed=0, loss_surface=False,
                            setups=WithSources([("big", str(source))])).fit(mine)
    prov = fitter.artifact_.provenance
    assert isinstance(prov.joint, JointRecord) and isinstance(prov.cross_setup, CrossSetupRecord)
    assert prov.joint.to_json() == json.loads(json.dumps(fitter.joint_))
    assert prov.cross_setup.to_json() == json.loads(json.dumps(anchored_section(fitter)))
    assert any(e.test is not None for law in prov.joint.laws.values() for e in law.exponents.values())
    doc = json.loads(json.dumps(fitter.artifact_.to_json()))
    assert FittedModelArtifact.from_json(doc).to_json() == doc
    # the anchored record names the sources without their counts: the answer's source line uses the model's
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    out = CliRunner().invoke(cli, ["recommend", "--params", "7B", "--tokens", "2T", "--model", str(path), "--explain"])
    assert out.exit_code == 0, out.output
    assert "anchored on " in out.output
    answer = CliRunner().invoke(cli, ["recommend", "--params", "7B", "--tokens", "2T", "--model", str(path), "--json"])
    setups = json.loads(answer.output)["source"]["setups"]  # the sources, as a cross-setup model lists its setups
    assert setups and all(s["n_trials"] is None for s in setups)
    assert "n_trials_used" in next(line for line in out.output.splitlines() if line.startswith("Model:"))
