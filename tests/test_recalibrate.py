"""`advisor recalibrate`: one command from a spec and a corpus to a fitted model the advisor can use."""
from __future__ import annotations

import gzip
import json

from click.testing import CliRunner
from test_sweep import tiny_spec

from advisor.cli import cli
from advisor.paths import data_dir
from advisor.recipe import recommend


def _own_corpus(tmp_path):
    """A corpus that is not the shipped one: the first 1.5 MB of the KJV with every line reversed."""
    text = gzip.open(data_dir() / "corpus" / "kjv.txt.gz", "rt", encoding="utf-8").read(1_500_000)
    path = tmp_path / "my_corpus.txt"
    path.write_text("\n".join(line[::-1] for line in text.splitlines()), encoding="utf-8")
    return path


def test_recalibrate_on_your_own_corpus_gives_a_usable_model(tmp_path):
    spec = tiny_spec(tmp_path, lrs="[3e-3, 1e-2, 3e-2]", batch="[4]", tokens="4096, 8192")
    corpus, out = _own_corpus(tmp_path), tmp_path / "mine"
    args = ["recalibrate", str(spec), "--out", str(out), "--data", str(corpus), "--workers", "1",
            "--bootstrap", "20", "--quiet"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert {"trials.sqlite", "trials.csv", "model.json", "report"} <= {p.name for p in out.iterdir()}
    assert (out / "report" / "law_lr.png").stat().st_size > 10_000
    model = json.loads((out / "model.json").read_text())
    assert model["provenance"]["data_id"].startswith("my-corpus-bytes:")
    assert any(str(corpus) in note for note in model["provenance"]["notes"])
    rec = recommend("7B", "2T", model=out / "model.json")
    assert rec.lr_low < rec.lr < rec.lr_high and rec.source["kind"] == "model"
    assert f"--model {out / 'model.json'}" in res.output

    again = CliRunner().invoke(cli, args)  # resumes: nothing to train, refits from the store
    assert again.exit_code == 0 and "ran 0 trials" in again.output, again.output


def test_recalibrate_refuses_a_missing_corpus_before_creating_anything(tmp_path):
    out = tmp_path / "mine"
    res = CliRunner().invoke(cli, ["recalibrate", "quick", "--out", str(out), "--data", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "does not exist" in res.output and "Traceback" not in res.output
    assert not out.exists()
