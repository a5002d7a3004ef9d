"""`advisor show`: what a fitted model is (provenance, fit ranges, laws, held-out errors)."""
from __future__ import annotations

import click

from advisor.cli.style import StyledCommand, dump_json, out_of_range
from advisor.intervals import coverage_lines, percentile
from advisor.model import FittedModel
from advisor.recipe import AdvisorError, load_source
from advisor.units import format_count, is_number



@click.command(cls=StyledCommand)
@click.argument("model_arg", required=False, metavar="[NAME|FILE]")
@click.option("--model", "model_path", metavar="NAME|FILE",
              help="The same as the argument: a shipped model's name or a fitted-model JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the artifact without bootstrap samples, "
              "plus coefficient intervals).")
@out_of_range
def show(model_arg, model_path, as_json):
    """Show what a fitted model is: provenance, fit ranges, laws, held-out errors.

    \b
    Examples:
      advisor show                      # the shipped default model
      advisor show cpu-default          # a shipped model by name (see `advisor sources`)
      advisor show runs/quick/model.json --json
    """
    if model_arg is not None and model_path is not None and model_arg != model_path:
        raise AdvisorError("give the model once: as the argument or with --model, not both")
    fitted, _ = load_source(model_arg if model_arg is not None else model_path, None)
    summary = describe_model(fitted)
    if as_json:
        dump_json(summary)
    else:
        click.echo(render_model(summary))


def _coef_intervals(values, samples) -> list[list[float] | None]:
    if not samples:
        return [None] * len(values)
    columns = list(zip(*samples))
    return [[percentile(sorted(col), 5.0), percentile(sorted(col), 95.0)] for col in columns]


def _law_summary(fl) -> dict:
    names = ["log_a"] + [f"exp_{name}" for name in fl.law.inputs]
    return {
        "form": fl.law.form, "inputs": list(fl.law.inputs), "coef_names": names,
        "log_coef": list(fl.law.log_coef), "log_coef_90": _coef_intervals(fl.law.log_coef, fl.samples),
        "n_samples": len(fl.samples), "residual_sd": fl.residual_sd, "cv_log2_error": fl.cv_log2_error,
        "n_cells": fl.n_cells,
    }


def _penalty_summary(penalty) -> dict | None:
    """The penalty model without its bootstrap draws (their number instead)."""
    if penalty is None:
        return None
    return {**{k: v for k, v in penalty.to_json().items() if k != "samples"}, "n_samples": len(penalty.samples)}


def describe_model(fitted: FittedModel) -> dict:
    laws = {}
    for name, fl in (("lr", fitted.lr_), ("batch", fitted.batch_)):
        if fl is None:
            laws[name] = None
            continue
        laws[name] = _law_summary(fl)
        laws[name]["alternatives"] = [_law_summary(a) for a in fl.alternatives]
    laws["batch_unusable"] = fitted.batch_unusable_
    if fitted.loss_ is not None:
        law = fitted.loss_.law
        values = [law.E, law.A, law.alpha, law.B, law.beta]
        laws["loss"] = {"form": "E+A/N^alpha+B/D^beta", "param_names": ["E", "A", "alpha", "B", "beta"],
                        "values": values, "values_90": _coef_intervals(values, fitted.loss_.samples),
                        "n_samples": len(fitted.loss_.samples), "residual_sd": fitted.loss_.residual_sd,
                        "n_cells": fitted.loss_.n_cells}
    else:
        laws["loss"] = None
    return {"path": fitted.path, "schema": fitted.doc.get("schema"), "version": fitted.doc.get("version"),
            "created_at": fitted.doc.get("created_at"), "flops_formula": fitted.flops_formula,
            "provenance": fitted.provenance_, "fit_range": {k: list(v) for k, v in fitted.fit_range_.items()},
            "shipped": fitted.shipped_, "penalty": _penalty_summary(fitted.penalty_), "laws": laws, "validation": fitted.validation_, "n_cells": len(fitted.cells_),
            "warnings": fitted.warnings_}


def _g(x) -> str:
    if is_number(x):
        return f"{x:.3g}"
    return "n/a"


def _fmt_interval(pair) -> str:
    return "" if pair is None else f" [{pair[0]:.3g}, {pair[1]:.3g}]"


def _plain(value) -> str:
    """Provenance values as people write them: 'diverged 0, failed 0', '11.9K, 27.8K', not Python reprs."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return format_count(value)
    return str(value)



def _provenance_lines(s: dict) -> list[str]:
    prov = s["provenance"]
    lines = [f"Shipped model {s['shipped']['name']}: {s['shipped']['description']}"] if s.get("shipped") else []
    lines += [f"Fitted model {s['path']} ({s['schema']} v{s['version']}, created {s['created_at']}, "
              f"C = {s['flops_formula']})", "Provenance:"]
    lines += [f"  {key:<14} {_plain(prov[key])}" for key in ("source", "table", "data_id", "tokenizer", "n_trials",
              "n_trials_used", "n_excluded", "n_cells", "bootstrap", "code_version") if key in prov]
    lines += [f"  {key:<14} " + ", ".join(f"{k} {_plain(v)}" for k, v in prov[key].items())
              for key in ("proxy", "optimizer", "schedule") if isinstance(prov.get(key), dict)]
    return lines + _setups_lines(prov) + [f"  note           {n}" for n in prov.get("notes") or []]


def _setups_lines(prov: dict) -> list[str]:
    """A cross-setup model: every setup its laws were fitted on (the lines above are the reference's alone)."""
    from advisor.fitted_setups import fitted_setups, setup_line

    rows = fitted_setups(prov)
    if not rows:
        return []
    ref = next((r["name"] for r in rows if r["reference"]), "?")
    return ([f"  setups         {setup_line(rows[0])}"] + [f"                 {setup_line(r)}" for r in rows[1:]]
            + [f"  note           table, proxy, optimizer, schedule, n_trials and n_cells above are the reference "
               f"setup {ref}'s; the LR and batch laws pool every setup listed (their cells and the fit range "
               f"below span them all)"])


def render_model(s: dict) -> str:
    lines = _provenance_lines(s)
    lines.append("Fit range:")
    for name, (lo, hi) in s["fit_range"].items():
        lines.append(f"  {name:<14} {lo:.3g} – {hi:.3g}")
    lines.append("Laws (log y = log a + Σ exponent·log x; 90% bootstrap intervals in brackets):")
    for name in ("lr", "batch"):
        law = s["laws"][name]
        if law is None:
            lines.append(f"  {name:<6} none")
            continue
        coefs = ", ".join(f"{n} {v:.4g}{_fmt_interval(ci)}"
                          for n, v, ci in zip(law["coef_names"], law["log_coef"], law["log_coef_90"]))
        cv = "n/a" if law["cv_log2_error"] is None else f"{law['cv_log2_error']:.3g}"
        lines.append(f"  {name:<6} {law['form']}: {coefs}; residual sd {law['residual_sd']:.3g}, "
                     f"CV |log2 err| {cv}, {law['n_cells']} cells, {law['n_samples']} bootstrap draws")
        for alt in law["alternatives"]:
            cv = "n/a" if alt["cv_log2_error"] is None else f"{alt['cv_log2_error']:.3g}"
            lines.append(f"         alternative {alt['form']}: CV |log2 err| {cv}")
    if s["laws"].get("batch_unusable"):
        lines.append(f"         not used for advice: {s['laws']['batch_unusable']}; "
                     "the advisor takes the batch size from DeepSeek LLM's law instead")
    loss = s["laws"]["loss"]
    if loss:
        vals = ", ".join(f"{n} {v:.4g}{_fmt_interval(ci)}"
                         for n, v, ci in zip(loss["param_names"], loss["values"], loss["values_90"]))
        lines.append(f"  loss   {loss['form']}: {vals}; residual sd {loss['residual_sd']:.3g} nats")
    else:
        lines.append("  loss   none (could not be fitted): compute-optimal defaults fall back to 20 tokens/param")
    lines.append("Validation:")
    held = s["validation"].get("held_out_largest")
    if isinstance(held, dict):
        lines.append(f"  held out largest N ({_g(held.get('n_params'))}): |log2 err| LR "
                     f"{_g(held.get('lr_log2_error'))}, batch {_g(held.get('batch_log2_error'))}; "
                     f"loss regret {_g(held.get('loss_regret_pct'))}%")
    loo = s["validation"].get("leave_one_cell_out")
    if isinstance(loo, dict):
        lines.append(f"  leave one cell out: |log2 err| LR {_g(loo.get('lr_log2_error'))}, "
                     f"batch {_g(loo.get('batch_log2_error'))}; loss regret {_g(loo.get('loss_regret_pct'))}%")
    lines.extend(f"  {line}" for line in coverage_lines(s["validation"].get("coverage")))
    from advisor.penalty import PenaltyModel, validation_lines  # only `show` needs them

    lines.extend(f"  {line}" for line in validation_lines(PenaltyModel.from_json(s["penalty"]) if s.get("penalty") else None))
    if not held and not loo:
        lines.append("  none recorded")
    if s["warnings"]:
        lines.append("Warnings:")
        lines.extend(f"  - {w}" for w in s["warnings"])
    return "\n".join(lines)
