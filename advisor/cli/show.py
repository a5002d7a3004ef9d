"""`advisor show`: what a fitted model is (provenance, fit ranges, laws, held-out errors)."""
from __future__ import annotations

import click

from advisor.artifact_text import coef_intervals, model_text
from advisor.cli.style import StyledCommand, dump_json, out_of_range
from advisor.model import FittedModel
from advisor.errors import AdvisorError
from advisor.recipe import load_source


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
    if as_json:
        dump_json(describe_model(fitted))
    else:
        click.echo(model_text(fitted))


def _law_summary(fl) -> dict:
    names = ["log_a"] + [f"exp_{name}" for name in fl.law.inputs]
    return {
        "form": fl.law.form, "inputs": list(fl.law.inputs), "coef_names": names,
        "log_coef": list(fl.law.log_coef), "log_coef_90": coef_intervals(fl.law.log_coef, fl.samples),
        "n_samples": len(fl.samples), "residual_sd": fl.residual_sd, "cv_log2_error": fl.cv_log2_error,
        "n_cells": fl.n_cells,
    }


def _penalty_summary(penalty) -> dict | None:
    """The penalty model without its bootstrap draws (their number instead)."""
    if penalty is None:
        return None
    return {**{k: v for k, v in penalty.to_json().items() if k != "samples"}, "n_samples": len(penalty.samples)}


def _stored_provenance(fitted: FittedModel) -> dict:
    """The provenance as the file stores it (its keys in the file's order), else as the artifact writes it."""
    stored = fitted.doc.get("provenance")
    return stored if isinstance(stored, dict) else fitted.provenance_.to_json()


def describe_model(fitted: FittedModel) -> dict:
    """`advisor show --json`: the artifact without bootstrap samples (their number instead), plus the
    coefficients' 90% intervals."""
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
                        "values": values, "values_90": coef_intervals(values, fitted.loss_.samples),
                        "n_samples": len(fitted.loss_.samples), "residual_sd": fitted.loss_.residual_sd,
                        "n_cells": fitted.loss_.n_cells}
    else:
        laws["loss"] = None
    return {"path": fitted.path, "schema": fitted.doc.get("schema"), "version": fitted.doc.get("version"),
            "created_at": fitted.artifact_.created_at, "flops_formula": fitted.flops_formula,
            "provenance": _stored_provenance(fitted), "fit_range": {k: list(v) for k, v in fitted.fit_range_.items()},
            "shipped": fitted.shipped_, "penalty": _penalty_summary(fitted.penalty_), "laws": laws, "validation": fitted.validation_.to_json(), "n_cells": len(fitted.cells_),
            "warnings": fitted.warnings_}
