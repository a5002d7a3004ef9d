"""One power law fitted across several setups (a laws.Stack, every setup on an equal footing).

    log y = c_s + sum_j e_j log x_j            (pooled: a prefactor per setup, shared exponents)
    log y = c_s + sum_j (e_j + d_sj) log x_j   (setup s's own law: its own slope for every input it spans)

The law for a setup none of them is: the mean prefactor with the shared exponents (`pooled_coef`), its
bootstrap the joint one (each setup's optima resampled from its own trials plus its between-cell scatter).
Each setup's own law comes from joint_law's consistency test with that setup in MINE's place (the stack
rotated): its own slope beside the pooled one, flagged when the difference's 90% interval excludes zero.
The own laws are what the advisor's setup part is built from (advisor/setups.py): how far the known
setups' own laws sit from the pooled one at the target, prefactors and exponents together.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

import calibration.fit.joint_law as joint_law
from calibration.fit.joint_law import JointLawFit
from calibration.fit.laws import LawForm, Stack, cv_log2_error, design, fit_forms as fit_each, infeasible_reason


MAX_CENSOR_ROUNDS = 10
BOUND_WEIGHT_STEP = 4.0
BOUND_SLACK = 0.05  # log: a bound crossed by less is met (5%, a tenth of a 2x grid step)


def rotated(stack: Stack, setup: int) -> Stack:
    """The stack with `setup` in MINE's place (gid 0) and setup 0 in its place."""
    gid = stack.gid.copy()
    gid[stack.gid == setup], gid[stack.gid == 0] = 0, setup
    names = list(stack.names)
    names[0], names[setup] = names[setup], names[0]
    return replace(stack, gid=gid, names=names)


def censored(stack: Stack, form: LawForm, own: tuple[str, ...] = ()) -> Stack:
    """The stack with each edge optimum's bound used as a value where the law crosses it: a bound
    constrains the law, it never pulls it. Crossed bounds join the fit at their bound value; one still
    crossed after a refit weighs BOUND_WEIGHT_STEP times more (the robust fit would otherwise discount it
    as an outlier), up to MAX_CENSOR_ROUNDS refits."""
    if stack.bound is None or not (stack.bound != 0).any():
        return stack
    weight = np.zeros(len(stack.y))
    eff = stack
    for _ in range(MAX_CENSOR_ROUNDS):
        eff = _with_bounds(stack, weight)
        if infeasible_across(eff, form) or infeasible_reason(eff, form, own):
            return stack
        coef, _ = joint_law.fit_point(eff, form, own)
        pred = design(eff, form, own) @ coef
        crossed = ((stack.bound > 0) & (pred > stack.bound_y + BOUND_SLACK)) | \
                  ((stack.bound < 0) & (pred < stack.bound_y - BOUND_SLACK))
        if not crossed.any():
            return eff
        weight = np.where(crossed, np.where(weight > 0, weight * BOUND_WEIGHT_STEP, 1.0), weight)
    return eff


def _with_bounds(stack: Stack, weight: np.ndarray) -> Stack:
    active = weight > 0
    y = np.where(active, stack.bound_y, stack.y)
    samples = None if stack.samples is None else np.where(active[None, :], stack.bound_y[None, :], stack.samples)
    return replace(stack, y=y, w=np.where(active, weight, stack.w), samples=samples)


def own_law(stack: Stack, form: LawForm, setup: int, rng: np.random.Generator) -> dict:
    """Setup `setup`'s own law (intercept and one exponent per input: its own slope for every input its
    cells can test, the pooled one otherwise) with the consistency test of each own slope."""
    rot = rotated(stack, setup)
    can_test, why = joint_law.testable(rot, form)
    if infeasible_reason(rot, form, can_test):
        can_test = ()
    rot = censored(rot, form, can_test)  # the bounds this setup's own law crosses
    tests = {}
    if can_test and rot.samples is not None and len(rot.samples) >= joint_law.MIN_TEST_BOOT:
        tests = joint_law.consistency_tests(rot, form, can_test, rng)
    coef, groups = joint_law.fit_point(rot, form, can_test)
    log_coef = joint_law.mine_coef(coef, form, can_test, len(groups))[0]
    return {"log_coef": [float(v) for v in log_coef], "own": list(can_test),
            "inconsistent": [n for n, t in tests.items() if t["inconsistent"]],
            "tests": tests, "untested": {n: why[n] for n in form.inputs if n not in can_test and n in why},
            "n_cells": int(((stack.gid == setup) & (stack.w > 0)).sum())}


@dataclass
class CrossLawFit(JointLawFit):
    """A law form fitted across setups: `log_coef` and `samples` are the unknown setup's (mean prefactor,
    shared exponents); `joint` records each setup's prefactor and own law."""


def pooled_coef(coef: np.ndarray, n_groups: int) -> np.ndarray:
    """(R, 1 + k) unknown-setup coefficients from joint ones (R, n_groups + k): the mean prefactor."""
    coef = np.atleast_2d(coef)
    return np.column_stack([coef[:, :n_groups].mean(axis=1), coef[:, n_groups:]])


def fit_form(stack: Stack, form: LawForm, rng: np.random.Generator, own_laws: bool = True) -> CrossLawFit:
    """The pooled fit of one form over every setup (edge bounds used where crossed), its bootstrap and
    (own_laws) each setup's own law."""
    raw, stack = stack, censored(stack, form)
    coef, groups = joint_law.fit_point(stack, form, ())
    x = design(stack, form)
    scatter = joint_law.group_scatter(stack, x, coef)
    boot = stack.samples is not None and len(stack.samples) >= 10
    samples = joint_law.bootstrap(stack, x, scatter, rng) if boot else None
    residual = float(np.sqrt(np.mean([scatter[g][0] ** 2 for g in groups])))
    between = float(np.sqrt(np.mean([scatter[g][1] ** 2 for g in groups])))
    fit = CrossLawFit(form, pooled_coef(coef, len(groups))[0], residual, cv_log2_error(stack, form, batched=False),
                      int((stack.w > 0).sum()), pooled_coef(samples, len(groups)) if samples is not None else None,
                      between)
    setups = {}
    for i, g in enumerate(groups):
        record = own_law(raw, form, g, rng) if own_laws else {}
        setups[stack.names[g]] = {"prefactor": float(np.exp(coef[i])), "residual_sd": scatter[g][0], **record}
    fit.joint = {"form": form.name, "inputs": list(form.inputs), "setups": setups,
                 "exponents": {n: {"status": "pooled", "shared": {"value": float(coef[len(groups) + j])}}
                               for j, n in enumerate(form.inputs)}}
    return fit


def fit_forms(stack: Stack, forms, rng: np.random.Generator):
    """Every feasible form, best first by the pooled leave-one-size-out error; own laws for the best only
    (the setup part is built from the chosen form)."""
    fits, skipped = fit_each(stack, forms, lambda st, form: fit_form(st, form, rng, own_laws=False), infeasible_across)
    if fits:
        fits[0] = fit_form(stack, fits[0].form, rng, own_laws=True)
    return fits, skipped


def infeasible_across(stack: Stack, form: LawForm) -> str | None:
    """laws.infeasible_reason without its MINE requirement (every setup is on an equal footing)."""
    if not (stack.w > 0).any():
        return "no usable cell"
    first = stack.present()[0]
    return infeasible_reason(rotated(stack, first) if first else stack, form)


def law_record(fit: CrossLawFit) -> dict:
    """One law's part of provenance.cross_setup (advisor/setups.py reads it)."""
    setups = {}
    for name, s in fit.joint["setups"].items():
        if "log_coef" not in s:
            continue
        shared = [fit.joint["exponents"][n]["shared"]["value"] for n in fit.form.inputs]
        pooled = [float(np.log(s["prefactor"]))] + shared
        setup_law = s["log_coef"] if s["inconsistent"] else pooled  # --setup NAME: own slopes only where they differ
        setups[name] = {**{k: v for k, v in s.items() if k != "tests"}, "setup_log_coef": [float(v) for v in setup_law],
                        "tests": {n: {k: t[k] for k in ("mine", "others", "difference", "inconsistent")}
                                  for n, t in s.get("tests", {}).items()}}
    return {"form": fit.form.name, "inputs": list(fit.form.inputs),
            "pooled_log_coef": [float(v) for v in fit.log_coef], "setups": setups}


def anchored_record(stack: Stack, form: LawForm, fit: JointLawFit, rng: np.random.Generator) -> dict:
    """The anchored setup part of a joint fit of one law: the other setups' own slopes around the pooled ones,
    pinned at MINE's cells' geometric centre (advisor/setups.py, mode `anchored`)."""
    mine = (stack.gid == 0) & (stack.w > 0)
    setups = {stack.names[g]: {"log_coef": own_law(stack, form, g, rng)["log_coef"]} for g in stack.present() if g != 0}
    anchor = {k: float(np.exp(np.log(stack.inputs[k][mine]).mean())) for k in ("n_params", "tokens")}
    own = [n for n, e in fit.joint["exponents"].items() if e["status"] == "own"]
    return {"form": form.name, "inputs": list(form.inputs), "own": own,
            "pooled_log_coef": [float(v) for v in fit.log_coef], "setups": setups, "anchor": anchor}
