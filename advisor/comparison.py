"""`advisor compare`'s table: this tool's answer beside the published laws' at one target, each row with its
notes. Computed here, rendered by advisor/cli/compare.py (text) or printed as JSON.

    comparison(recommend(params="7B", tokens="2T"))   -> {"n_params": ..., "rows": [{"key": "model", ...}, ...]}
    optimizer_comparison("muon", params="7B", tokens="2T")   -> its law beside AdamW's and Marin's own (--optimizer)
"""
from __future__ import annotations

from advisor import optimizers as opt
from advisor.answer_lines import extrapolation_line, interval_lines
from advisor.laws import HYPERPARAMETER_LAWS, LOSS_PRESETS, Target
from advisor.optimizer_recipe import optimizer_recommend
from advisor.recipe import Recommendation
from advisor.unknown_optimum import unknown_text


def comparison(rec: Recommendation) -> dict:
    """The model's row beside each published law's, evaluated at the same (N, D, seq_len)."""
    chinchilla = LOSS_PRESETS["chinchilla"]
    target = Target(rec.n_params, rec.tokens, rec.seq_len, rec.n_layer, rec.d_model,
                    loss=chinchilla.loss(rec.n_params_total, rec.tokens),
                    loss_source=f"the Chinchilla loss law ({chinchilla.citation})")
    own_batch = rec.batch_source == "model"  # else a published law stood in: the model has no batch answer
    rows = [{
        "key": "model", "source": "this model", "citation": rec.source.path,
        "formula": f"lr {rec.source.lr_form}, batch {rec.source.batch_form}",
        "lr": rec.lr, "lr_low": rec.lr_low, "lr_high": rec.lr_high,
        "batch_tokens": rec.batch_tokens if own_batch else None,
        "batch_tokens_low": rec.batch_tokens_low if own_batch else None,
        "batch_tokens_high": rec.batch_tokens_high if own_batch else None,
        "batch_seqs": rec.batch_tokens / rec.seq_len if own_batch else None,
        "lr_interval": rec.lr_interval.as_dict(), "batch_interval": rec.batch_interval.as_dict() if own_batch else None,
        "lr_informative": rec.lr_informative, "batch_informative": rec.batch_informative,
        "notes": [*_unknown_notes(rec), extrapolation_line(rec), *(line.strip() for line in interval_lines(rec))] + ([] if own_batch else [
            f"no batch size of its own: {rec.source.batch_unusable or 'no batch law'}"]),
    }]
    moe = (["an MoE: the published laws (fitted on dense models) are read at the total non-embedding N; on Step "
             "Law's MoE cells the total reads them better than the active count (benchmarks/moe_validation.py)"]
           if rec.n_params_active < rec.n_params else [])
    for law in HYPERPARAMETER_LAWS.values():
        answer = law.evaluate(target)
        rows.append({
            "key": law.key, "source": law.name, "citation": law.citation, "formula": law.formula,
            "lr": answer.lr, "batch_tokens": answer.batch_tokens,
            "batch_seqs": answer.batch_tokens / rec.seq_len if answer.batch_tokens else None,
            "notes": [*answer.notes, *moe],
        })
    return {"n_params": rec.n_params, "n_params_active": rec.n_params_active, "n_params_laws": rec.n_params_laws, "n_params_total": rec.n_params_total, "tokens": rec.tokens,
            "tokens_source": rec.tokens_source, "seq_len": rec.seq_len, "flops": rec.flops, "rows": rows}


def _unknown_notes(rec: Recommendation) -> list[str]:
    """Why the model's row shows no LR or batch: its own verdict that the optimum is not known here."""
    what = unknown_text(rec)
    return [f"{what}: not known here, the 90% interval is too wide (the model's own verdict); the numbers in "
            "--json are its unreliable point"] if what else []


# ---------------------------------------------------------------------------------------- an optimizer's

MARIN_FIT_FILE = "optimizers/marin_hyper_scaling.json"


def marin_fit(name: str) -> dict | None:
    """Marin's hyper_scaling predictions at 1.2B for this optimizer (data/optimizers/marin_hyper_scaling.json)."""
    import json

    from advisor.paths import data_dir

    doc = json.loads((data_dir() / MARIN_FIT_FILE).read_text(encoding="utf-8"))
    entry = doc["optimizers"].get(name)
    return None if entry is None else {"what": doc["what"], **entry}


def optimizer_comparison(name: str, **target) -> dict:
    """The optimizer's law beside AdamW's (both from Marin's cells) at the target, and beside Marin's own
    fit's recorded 1.2B predictions and the configurations Marin ran beyond the fit's cells."""
    a = optimizer_recommend(name, **target)
    adamw = optimizer_recommend("adamw", **target) if name != "adamw" else a
    s = opt.summary(name)
    law = s["laws"]["lr"]
    fit = marin_fit(name)
    marin_seq_len = opt.load()["seq_len"]  # Marin ran every cell at one sequence length
    runs = []
    for c in s["cells"]:
        if c["n_params"] <= max(law["n_params"]) or c["multiple"] < 1:
            continue
        key = f"{c['multiple']:g}"
        marin = (fit or {}).get("at_1.2b", {})
        runs.append({"n_params": c["n_params"], "multiple": c["multiple"], "lr_run": c["tuned"].get("lr"),
                     "lr_law": opt.predict(law, c["n_params"], c["tokens"])["value"],
                     "lr_marin_fit": marin.get("learning_rate", {}).get(key),
                     "batch_tokens_run": c["tuned"].get("batch_seqs", 0) * marin_seq_len,
                     "batch_tokens_law": opt.predict(s["laws"]["batch"], c["n_params"], c["tokens"])["value"],
                     "batch_tokens_marin_fit": (marin.get("train_batch_size", {}).get(key) or 0) * marin_seq_len or None})
    return {"optimizer": name, "target": {"n_params": a["n_params"], "tokens": a["tokens"]},
            "law": {"lr": {k: law[k] for k in ("kind", "coef")}, "batch": {k: s["laws"]["batch"][k] for k in ("kind", "coef")}},
            "rows": [{"name": f"{name} (Marin's cells, this tool's fit)", "lr": a["lr"], "batch": a["batch"]},
                     {"name": "adamw (Marin's cells, this tool's fit)", "lr": adamw["lr"], "batch": adamw["batch"]}],
            "marin_fit": fit, "beyond_fit": runs, "convention": a.get("convention")}
