"""One power law fitted jointly to several setups: a prefactor per setup, exponents shared.

Setup 0 is MINE (the user's own table); the others are sources (public sweeps). In log space,

    log y = c_s + sum_j e_j log x_j   (+ d_j log x_j for MINE alone, j in `own`)

so each setup has its own intercept c_s (its prefactor) and every setup shares the exponents e_j, except
those MINE keeps for itself (`own`: its slope is e_j + d_j). The fit is laws.huber_fit on this design; the
bootstrap draws each setup's cell optima from their own trial resamples (resampling is within cells, so
within sources) and adds each setup's between-cell scatter, as bootstrap.bootstrap_law does for one setup.

The consistency test: MINE gets its own slope for every input it spans (two or more distinct values, not
collinear with the form's other input in its cells); an exponent whose difference d_j has a 90% bootstrap
interval excluding zero is inconsistent: it is not pooled, MINE's own slope is used. The bootstrap scatter
for the test is estimated under the pooled model (the null), so a MINE whose exponent differs does not
widen its own interval by the misfit it is being tested for.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from calibration.fit.laws import (COLLINEAR_CORR, LawFit, LawForm, Stack, cv_log2_error, design, huber_fit,
                                  infeasible_reason)

INTERVAL = (5.0, 95.0)  # the consistency test's bootstrap interval (90%)
# Below these an exponent is borrowed untested rather than tested: with fewer resamples the 90% interval's
# ends move from run to run enough to flip the verdict, and over less than a factor 2 in an input a slope
# is mostly scatter (two MoE sizes 1.24x apart were "inconsistent" at 50 resamples, consistent at 100)
MIN_TEST_BOOT = 200
MIN_TEST_SPAN = 2.0


@dataclass
class JointLawFit(LawFit):
    """A law form fitted jointly: `log_coef`, `samples` and `residual_sd` are MINE's (its prefactor with the
    shared or own exponents); `joint` records the per-setup prefactors and the consistency tests."""

    joint: dict = field(default_factory=dict)


def mine_coef(coef: np.ndarray, form: LawForm, own: tuple[str, ...], n_groups: int) -> np.ndarray:
    """MINE's law (intercept, exponent per input) from joint coefficients (k,) or (R, k)."""
    coef = np.atleast_2d(coef)
    k = len(form.inputs)
    slopes = coef[:, n_groups:n_groups + k].copy()
    for i, name in enumerate(own):
        slopes[:, form.inputs.index(name)] += coef[:, n_groups + k + i]
    return np.column_stack([coef[:, 0], slopes])


def testable(stack: Stack, form: LawForm) -> tuple[tuple[str, ...], dict[str, str]]:
    """The inputs whose exponent MINE's usable cells can test, and why each other one cannot be."""
    mine = (stack.gid == 0) & (stack.w > 0)
    logs = {n: stack.logs(n)[mine] for n in form.inputs}
    why = {n: f"your cells have one value of {n}" for n in form.inputs if len(np.unique(np.round(logs[n], 6))) < 2}
    why.update({n: f"your cells span {np.exp(np.ptp(logs[n])):.2f}x in {n}, under the {MIN_TEST_SPAN:g}x a slope "
                   "needs" for n in form.inputs if n not in why and np.ptp(logs[n]) < np.log(MIN_TEST_SPAN)})
    spanned = [n for n in form.inputs if n not in why]
    if len(spanned) == 2 and abs(np.corrcoef(logs[spanned[0]], logs[spanned[1]])[0, 1]) > COLLINEAR_CORR:
        why.update({n: f"{' and '.join(spanned)} vary together in your cells" for n in spanned})
        spanned = []
    if len(spanned) and mine.sum() < 1 + len(spanned):
        why.update({n: "too few of your cells" for n in spanned})
        spanned = []
    return tuple(spanned), why


def fit_point(stack: Stack, form: LawForm, own: tuple[str, ...], w: np.ndarray | None = None) -> tuple[np.ndarray, list[int]]:
    """Joint point coefficients (k,) and the present setups."""
    x = design(stack, form, own)
    return huber_fit(x, stack.y[None, :], (stack.w if w is None else w)[None, :])[0], stack.present()


def group_scatter(stack: Stack, x: np.ndarray, coef: np.ndarray) -> dict[int, tuple[float, float]]:
    """Per setup: (residual sd of its cells about the joint fit, between-cell scatter beyond the optima's
    own bootstrap noise). A setup with a single usable cell takes the pooled residual sd."""
    r = stack.y - x @ coef
    use = stack.w > 0
    n, k = int(use.sum()), x.shape[1]
    pooled = float(np.sqrt((stack.w[use] * r[use] ** 2).sum() / stack.w[use].sum() * n / max(n - k, 1)))
    out = {}
    for g in stack.present():
        sel = use & (stack.gid == g)
        if sel.sum() >= 2:
            ww = stack.w[sel]
            sd = float(np.sqrt((ww * r[sel] ** 2).sum() / ww.sum() * sel.sum() / (sel.sum() - 1)))
        else:
            sd = pooled
        within = float(np.mean(np.var(stack.samples[:, sel], axis=0))) if stack.samples is not None else 0.0
        out[g] = (sd, float(np.sqrt(max(sd * sd - within, 0.0))))
    return out


def bootstrap(stack: Stack, x: np.ndarray, scatter: dict[int, tuple[float, float]], rng: np.random.Generator) -> np.ndarray:
    """(R, k) joint coefficients over the optima samples plus each setup's between-cell scatter."""
    sd = np.zeros(len(stack.y))
    for g, (_, extra) in scatter.items():
        sd[stack.gid == g] = extra
    jitter = sd[None, :] * rng.standard_normal(stack.samples.shape)
    return huber_fit(x, stack.samples + jitter, stack.w)


def fit_form(stack: Stack, form: LawForm, rng: np.random.Generator) -> JointLawFit:
    """The joint fit of one form: the consistency test of each exponent MINE can test (with a bootstrap),
    then the fit with MINE's own slope for the inconsistent ones; MINE's law with its samples."""
    can_test, untestable = testable(stack, form)
    boot = stack.samples is not None and len(stack.samples) >= 10
    if can_test and not (boot and len(stack.samples) >= MIN_TEST_BOOT):
        n = 0 if stack.samples is None else len(stack.samples)
        untestable.update({name: f"{n} bootstrap resamples, under the {MIN_TEST_BOOT} the test needs"
                           for name in can_test})
        can_test = ()
    tests = consistency_tests(stack, form, can_test, rng) if can_test else {}
    own = tuple(n for n in form.inputs if tests.get(n, {}).get("inconsistent"))
    if infeasible_reason(stack, form, own):
        own = ()
    coef, groups = fit_point(stack, form, own)
    x = design(stack, form, own)
    scatter = group_scatter(stack, x, coef)
    samples = bootstrap(stack, x, scatter, rng) if boot else None
    fit = JointLawFit(form, mine_coef(coef, form, own, len(groups))[0], scatter[0][0],
                      cv_log2_error(stack, form, own, batched=False), stack.n_usable(),
                      mine_coef(samples, form, own, len(groups)) if samples is not None else None, scatter[0][1])
    fit.joint = _record(stack, form, own, coef, samples, groups, scatter, tests, untestable, boot)
    return fit


def consistency_tests(stack: Stack, form: LawForm, can_test: tuple[str, ...], rng) -> dict[str, dict]:
    """Per testable input: MINE's own slope, the pooled slope of the others and their difference, each
    with its 90% bootstrap interval, and whether the difference's interval excludes zero."""
    if infeasible_reason(stack, form, can_test):
        return {}
    null_coef, _ = fit_point(stack, form, ())
    x_null = design(stack, form, ())
    scatter = group_scatter(stack, x_null, null_coef)  # scatter under the null: see the module doc
    coef, groups = fit_point(stack, form, can_test)
    x = design(stack, form, can_test)
    samples = bootstrap(stack, x, scatter, rng)
    k, g = len(form.inputs), len(groups)
    out = {}
    for i, name in enumerate(can_test):
        j = form.inputs.index(name)
        shared, diff = (coef[g + j], samples[:, g + j]), (coef[g + k + i], samples[:, g + k + i])
        mine = (shared[0] + diff[0], shared[1] + diff[1])
        lo, hi = np.percentile(diff[1], INTERVAL)
        out[name] = {"mine": _with_interval(*mine), "others": _with_interval(*shared),
                     "difference": _with_interval(*diff), "inconsistent": bool(lo > 0 or hi < 0)}
    return out


def _record(stack, form, own, coef, samples, groups, scatter, tests, untestable, boot) -> dict:
    """The joint part of the law for the artifact (provenance.joint): prefactors, exponents, tests."""
    g = len(groups)
    col = (lambda c: samples[:, c]) if samples is not None else (lambda c: None)
    prefactors = {stack.names[s]: {**_with_interval(coef[i], col(i), exp=True),
                                   "n_cells": int(((stack.gid == s) & (stack.w > 0)).sum()),
                                   "residual_sd": scatter[s][0]} for i, s in enumerate(groups)}
    exponents = {}
    for j, name in enumerate(form.inputs):
        if name in own:
            status = "own"
        elif name in tests:
            status = "pooled"
        else:
            status = "borrowed"
        exponents[name] = {"status": status, "shared": _with_interval(coef[g + j], col(g + j)),
                           "test": tests.get(name), "untested_because": None if name in tests else
                           untestable.get(name, "no bootstrap" if not boot else "the test could not be fitted")}
    return {"form": form.name, "setups": [stack.names[s] for s in groups], "prefactors": prefactors,
            "exponents": exponents, "mine_cv_log2_error": cv_log2_error(stack, form, own, only_mine=True, batched=False)}


def _with_interval(point, samples, exp: bool = False) -> dict:
    f = np.exp if exp else (lambda v: v)
    out = {"value": float(f(point))}
    if samples is not None and len(samples) >= 10:
        lo, hi = np.percentile(samples, INTERVAL)
        out["ci90"] = [float(f(lo)), float(f(hi))]
    return out
