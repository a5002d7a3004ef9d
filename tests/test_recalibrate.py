"""`advisor recalibrate`: one command from a spec and a corpus to a fitted model the advisor can use."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
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


def test_recalibrate_on_your_own_corpus_gives_a_usable_model(tmp_path, monkeypatch):
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
    assert rec.lr_low < rec.lr < rec.lr_high and rec.source.kind == "model"
    assert f"--model {out / 'model.json'}" in res.output

    again = CliRunner().invoke(cli, args)  # resumes: nothing to train, refits from the store
    assert again.exit_code == 0 and "ran 0 trials" in again.output, again.output

    import errno

    from calibration.fit import ScaleLawFitter

    def full_disk(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ScaleLawFitter, "write", full_disk)  # the disk fills as the model is written
    full = CliRunner().invoke(cli, args)
    assert full.exit_code == 1 and isinstance(full.exception, SystemExit), full.output  # a message, no traceback
    assert (out / "trials.sqlite").stat().st_size > 0


def test_recalibrate_refuses_a_missing_corpus_before_creating_anything(tmp_path):
    out = tmp_path / "mine"
    res = CliRunner().invoke(cli, ["recalibrate", "quick", "--out", str(out), "--data", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "does not exist" in res.output and "Traceback" not in res.output
    assert not out.exists()


def _token_file(path, ids):
    np.asarray(ids, dtype=np.uint16).tofile(path)
    return path


def test_recalibrate_on_a_bin_with_gpt2_sized_ids_trains_with_its_vocabulary(tmp_path):
    """nanoGPT's OpenWebText .bin holds GPT-2 ids (up to 50256): the proxies' vocabulary follows the data."""
    text = gzip.open(data_dir() / "corpus" / "kjv.txt.gz").read(12_000)
    ids = np.frombuffer(text, dtype=np.uint8).astype(np.uint16) * 197  # learnable text, ids spread to 50235
    ids[::997] = 50256
    data = _token_file(tmp_path / "owt.bin", ids)
    spec = tiny_spec(tmp_path, lrs="[3e-3, 1e-2, 3e-2]", batch="[4]", tokens="2048, 4096", extend="false")
    out = tmp_path / "owt"
    res = CliRunner().invoke(cli, ["recalibrate", str(spec), "--out", str(out), "--data", str(data), "--workers", "1",
                                   "--bootstrap", "10", "--quiet"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "trials.csv")
    assert len(table) == 12 and (table["status"] == "ok").all(), table[["status", "error"]]
    assert (table["vocab_size"] == 50304).all()  # 50,257 rounded up to a multiple of 64
    assert (table["n_params_total"] - table["n_params"] == 2 * 50304 * table["d_model"]).all()
    assert set(table["n_params"]) == {2608, 10336}  # N is non-embedding: the same as on byte-level data
    model = json.loads((out / "model.json").read_text())
    assert model["provenance"]["data_id"].startswith("owt-bin:")
    assert any("vocabulary 50304" in note for note in model["provenance"]["notes"])

    small = CliRunner().invoke(cli, ["recalibrate", str(spec), "--out", str(tmp_path / "o2"), "--data", str(data),
                                     "--vocab-size", "50000"])
    assert small.exit_code == 2 and "50257" in small.output and not (tmp_path / "o2").exists(), small.output


def test_a_sweep_whose_every_trial_fails_for_one_reason_says_that_reason(tmp_path):
    # 800 tokens: validation blocks of 20 tokens, too short for seq_len 32, so every trial fails at its evaluation
    data = _token_file(tmp_path / "short.bin", (np.arange(800) * 7) % 200)
    spec = tiny_spec(tmp_path, lrs="[3e-3, 1e-2]", batch="[4]", tokens="2048", extend="false")
    for command in (["recalibrate", str(spec), "--data", str(data), "--bootstrap", "0"],
                    ["calibrate", "run", str(spec.with_name("short.toml"))]):
        if command[0] == "calibrate":
            spec.with_name("short.toml").write_text(spec.read_text().replace('data = "kjv"', f'data = "{data}"'))
        out = tmp_path / command[0]
        res = CliRunner().invoke(cli, [*command, "--out", str(out), "--workers", "1", "--quiet"])
        assert res.exit_code == 1, res.output
        assert "longer than the validation split" in res.output, res.output  # the trials' own reason
        assert "widen the spec" not in res.output.lower()
