"""Proxies that train with Muon: the config, the optimizer split, the serial and vectorized trainers, the
spec's checks and the fitter's refusal to mix optimizers."""
import math

import pandas as pd
import pytest
import torch

from advisor.muon_lr import convert_lr, shape_factor
from calibration.fit.table import FitInputError, check_one_optimizer
from calibration.proxy.model import ProxyLM
from calibration.proxy.shape import shape_from_config
from calibration.proxy.optim import MuonWithAdamW, is_hidden_matrix, make_optimizer
from calibration.proxy.train import run_trial
from calibration.proxy.vectorized import group_key, run_group
from calibration.record.trial import TrialConfig
from calibration.sweep.spec import SpecError, parse_spec

BASE = TrialConfig(n_layer=2, d_model=32, n_head=2, d_ff=96, seq_len=64, batch_seqs=8, tokens=24 * 512,
                   lr=1e-2, eval_tokens=4096)
MUON = BASE.replace(optimizer="muon", momentum=0.9, adam_lr_ratio=0.3)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_adamw_ids_ignore_the_muon_fields_and_muon_ids_differ():
    before = TrialConfig(n_layer=2, d_model=32, n_head=2, d_ff=96, seq_len=64, tokens=60_000, batch_seqs=8,
                         eval_tokens=8192)
    assert before.trial_id == "ffdb73710c143bdd"  # its id before the optimizer fields existed (stores stay valid)
    assert BASE.trial_id != MUON.trial_id != MUON.replace(momentum=0.95).trial_id
    from calibration.record.trial import TrialResult

    assert "optimizer" not in TrialResult(trial_id="x", status="ok").to_row(BASE)  # AdamW rows as before
    row = TrialResult(trial_id="x", status="ok").to_row(MUON)
    assert (row["optimizer"], row["momentum"], row["adam_lr_ratio"]) == ("muon", 0.9, 0.3)


def test_bad_optimizer_settings_are_refused():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        BASE.replace(optimizer="sgd")
    with pytest.raises(ValueError, match="momentum applies to optimizer"):
        BASE.replace(momentum=0.9)
    with pytest.raises(ValueError, match="muon_lr_convention"):
        MUON.replace(muon_lr_convention="kimi")


def test_muon_takes_the_hidden_matrices_and_adamw_the_rest():
    model = ProxyLM(shape_from_config(MUON), generator=torch.Generator().manual_seed(0))
    opt = make_optimizer(model, MUON, torch.device("cpu"))
    hidden = {n for n, p in model.named_parameters() if is_hidden_matrix(n, p)}
    assert hidden == {n for n, p in model.named_parameters() if p.dim() == 2 and n.startswith("blocks.")}
    assert not any(n.startswith(("tok_emb", "head")) for n in hidden)
    muon_ids = {id(p) for g in opt.muon.param_groups for p in g["params"]}
    adam_ids = {id(p) for g in opt.adamw.param_groups for p in g["params"]}
    assert len(muon_ids) == len(hidden) and not muon_ids & adam_ids
    assert len(muon_ids | adam_ids) == len(list(model.parameters()))
    assert sorted({g["lr_ratio"] for g in opt.param_groups}) == pytest.approx([0.3, 1.0])


def test_a_model_without_hidden_matrices_is_refused():
    tiny = torch.nn.Sequential(torch.nn.Embedding(8, 4))
    with pytest.raises(ValueError, match="needs hidden weight matrices"):
        MuonWithAdamW(tiny, MUON, torch.device("cpu"))


def test_muon_trains_and_the_vectorized_group_matches_serial_runs(kjv):
    cfgs = [MUON.replace(lr=lr) for lr in (3e-3, 2e-2)]
    serial = [run_trial(c, device="cpu", source=kjv) for c in cfgs]
    grouped = run_group(cfgs, device="cpu", source=kjv)
    initial = math.log(256)
    for s, g in zip(serial, grouped):
        assert s.status == g.status == "ok"
        assert s.loss < initial - 0.3  # it learned (24 steps)
        assert g.loss == pytest.approx(s.loss, rel=2e-3)  # same arithmetic (bf16 Newton-Schulz in both)
    assert serial[0].loss != pytest.approx(serial[1].loss, rel=1e-3)  # the LR matters
    assert group_key(MUON) == group_key(MUON.replace(momentum=0.98, adam_lr_ratio=0.1, lr=1.0))
    assert group_key(MUON) != group_key(BASE)


def test_adamw_and_muon_differ(kjv):
    adam, muon = run_trial(BASE, device="cpu", source=kjv), run_trial(MUON, device="cpu", source=kjv)
    assert adam.loss != pytest.approx(muon.loss, rel=1e-3)


def _spec(trial: dict) -> dict:
    return {"sizes": {"shapes": [{"n_layer": 1, "d_model": 32, "n_head": 2, "d_ff": 96}]},
            "budget": {"tokens": [40_000]}, "lr": {"values": [1e-2]}, "batch": {"seqs": [4]},
            "trial": {"seq_len": 64, **trial}}


def test_spec_takes_muon_and_refuses_bad_optimizer_keys():
    spec = parse_spec(_spec({"optimizer": "muon", "momentum": 0.98, "adam_lr_ratio": 0.2}))
    assert spec.trial["optimizer"] == "muon"
    assert parse_spec(_spec({})).spec_hash != spec.spec_hash
    for trial, message in (({"optimizer": "lion"}, "optimizer must be one of"),
                           ({"momentum": 0.9}, "momentum applies to optimizer"),
                           ({"optimizer": "muon", "momentum": 1.5}, "trial.momentum must be in"),
                           ({"optimizer": "muon", "adam_lr_ratio": 0}, "trial.adam_lr_ratio must be in")):
        with pytest.raises(SpecError, match=message):
            parse_spec(_spec(trial))


def test_the_fitter_refuses_a_table_that_mixes_optimizers():
    check_one_optimizer(pd.DataFrame({"optimizer": ["muon", "muon"]}))
    for mixed in (["adamw", "muon"], [None, "muon"]):  # an empty cell is an AdamW row (its export has none)
        with pytest.raises(FitInputError, match="mixes optimizers"):
            check_one_optimizer(pd.DataFrame({"optimizer": mixed}))


def test_lr_conventions_convert_both_ways():
    assert shape_factor(64, 64, "original") == pytest.approx(1.0)
    assert shape_factor(256, 64, "original") == pytest.approx(2.0)
    assert shape_factor(64, 256, "match_rms_adamw") == pytest.approx(0.2 * 16)
    there = convert_lr(0.008, 512, 512, "original", "match_rms_adamw")
    assert there == pytest.approx(0.008 / (0.2 * math.sqrt(512)))
    assert convert_lr(there, 512, 512, "match_rms_adamw", "original") == pytest.approx(0.008)
    with pytest.raises(ValueError, match="unknown Muon LR convention"):
        shape_factor(4, 4, "kimi")


def test_a_muon_sweep_runs_exports_its_knobs_and_fits(tmp_path):
    from click.testing import CliRunner

    from advisor.cli import cli
    from calibration.fit.fitter import ScaleLawFitter
    from calibration.sweep.export import trial_table
    from calibration.sweep.run import run_sweep
    from calibration.sweep.store import TrialStore

    raw = _spec({"optimizer": "muon", "momentum": 0.9, "eval_tokens": 2048})
    raw["lr"] = {"values": [5e-3, 2e-2]}
    raw["budget"] = {"tokens": [6_000]}
    raw["adaptive"] = {"extend": False, "extend_batch": False}
    run_sweep(parse_spec(raw), tmp_path / "out", workers=1, device="cpu", progress=False)
    with TrialStore.open(tmp_path / "out", readonly=True) as store:
        table = trial_table(store)
    assert (table["optimizer"] == "muon").all() and table["momentum"].tolist() == pytest.approx([0.9, 0.9])
    assert set(table["status"]) == {"ok"}
    mixed = pd.concat([table, table.drop(columns=["optimizer"]).assign(trial_id=table["trial_id"] + "x")])
    with pytest.raises(FitInputError, match="mixes optimizers"):
        ScaleLawFitter(n_boot=0).fit(mixed)
    spec = tmp_path / "bad.toml"
    spec.write_text('[sizes]\nn_params = [1e4]\n[budget]\ntokens = [4e4]\n[lr]\nvalues = [1e-2]\n[batch]\nseqs = [4]\n'
                    '[trial]\nseq_len = 64\noptimizer = "lion"\n')
    r = CliRunner().invoke(cli, ["calibrate", "plan", str(spec), "--no-measure"])
    assert r.exit_code == 2 and "optimizer must be one of adamw, muon" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_a_model_fitted_on_muon_trials_says_so_in_its_advice(tmp_path):
    from advisor.catalog import entry, entry_path
    from advisor.recipe import recommend
    from calibration.fit.fitter import ScaleLawFitter

    model_dir = entry_path(entry("cpu-default", "model")).parent
    table = pd.read_csv(model_dir / "trials.csv").assign(optimizer="muon", momentum=0.95, adam_lr_ratio=0.3,
                                                         muon_lr_convention="original")
    fitter = ScaleLawFitter(n_boot=0, loss_surface=False).fit(table)
    assert fitter.artifact_.provenance.optimizer["name"] == "muon"
    assert fitter.artifact_.provenance.optimizer["adam_lr_ratio"] == pytest.approx(0.3)
    path = tmp_path / "muon-model.json"
    fitter.write(path)
    rec = recommend("1B", "20B", model=str(path))
    assert any(w.code == "muon_model" and "Muon LR convention" in w for w in rec.warnings)
