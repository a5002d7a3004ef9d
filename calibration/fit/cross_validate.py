"""Leave one setup out: standard output of a cross-setup fit (calibration/fit/cross_setup.py).

For each setup h, its cell optima are predicted, with the 90% intervals a user would get, by
- `unanchored`: the cross-setup fit of the other setups (the default's case: a setup none of them is);
- `anchored`: the joint fit of h's smallest size (as a cheap anchor sweep would give it) with the other
  setups, exponents pooled, the spread of the setups' slopes in the interval (advisor/setups.py); h's larger
  sizes are predicted.
Scores per law: median |log2| error (raw, and with an error within half the cell's grid step counted as 0),
the coverage of the 90% intervals (with half a grid step of tolerance) and the median interval width.
Forms are the full fit's chosen ones.
"""
from __future__ import annotations

import math

import numpy as np

from advisor.model import FittedLaw
from advisor.setup_record import CrossLaw
from advisor.setups import SetupSpread
import calibration.fit.cross_law as cross_law
import calibration.fit.joint_law as joint_law
from calibration.fit.laws import Stack, infeasible_reason

LN2 = math.log(2.0)
# the reference target: 7B total (6.5B non-embedding under the standard shape), 2T tokens
TARGET_7B = {"n_params": 6.5e9, "tokens": 2e12, "flops": 6.0 * 6.5e9 * 2e12}


def substack(st: Stack, keep: np.ndarray, first: int | None = None) -> Stack:
    """The cells in `keep`, setups renumbered in order of appearance (`first` made setup 0)."""
    order = ([first] if first is not None else []) + [g for g in dict.fromkeys(st.gid[keep]) if g != first]
    remap = {g: i for i, g in enumerate(order)}
    gid = np.array([remap[g] for g in st.gid[keep]])
    return Stack({k: v[keep] for k, v in st.inputs.items()}, st.y[keep], st.w[keep], gid,
                 None if st.samples is None else st.samples[:, keep], [st.names[g] for g in order],
                 None if st.bound is None else st.bound[keep], None if st.bound_y is None else st.bound_y[keep])


def grid_steps(tables, law: str) -> np.ndarray:
    """Each cell's grid step (log) in the law's variable: a profile's own step, else the median spacing of
    the cell's distinct values."""
    out = []
    for t in tables:
        for c, o in zip(t.cells, t.optima):
            support = o.lr_profile if law == "lr" else o.batch_profile
            if support is not None and support.step_log2:
                out.append(support.step_log2 * LN2)
                continue
            v = np.unique(np.round(c.log_lr if law == "lr" else c.log_batch, 6))
            out.append(float(np.median(np.diff(v))) if len(v) > 1 else LN2)
    return np.array(out)


def scored_cells(tables, law: str) -> np.ndarray:
    """The cells whose optimum validation predicts: those in the law's fit, and every profile cell that
    trained (its tuned value is the best its authors found, a bound or a lone run included)."""
    out = []
    for t in tables:
        for o in t.optima:
            support = o.lr_profile if law == "lr" else o.batch_profile
            out.append((o.weight_lr if law == "lr" else o.weight_batch) > 0 or support is not None)
    return np.array(out)


def published_forms(keys) -> dict:
    """Log-value functions of the published setups' laws (lr, batch), seq 2048 and vocab 32000 (DeepSeek's
    law is in C alone: neither matters to it)."""
    from advisor.answer import law_as_form
    from advisor.laws import HYPERPARAMETER_LAWS

    return {law: {k: law_as_form(HYPERPARAMETER_LAWS[k], 32000, 2048, i) for k in keys}
            for i, law in enumerate(("lr", "batch"))}


def _fit_range(st: Stack) -> dict:
    use = st.w > 0
    return {k: (float(v[use].min()), float(v[use].max())) for k, v in st.inputs.items()}


def _predict(fit, spread: SetupSpread, st_fit: Stack, points) -> list:
    law = FittedLaw.from_entry(fit.to_entry())
    rng = _fit_range(st_fit)
    out = []
    for p in points:
        width = spread.width(p, law.law.log_predict(p)) or 0.0
        out.append(law.predict(p, rng, setup_width=width))
    return out


def _score(preds, y, steps) -> dict:
    err = np.array([math.log(p.value) for p in preds]) - y
    tol = steps / 2
    inside = [p.low * math.exp(-t) <= math.exp(v) <= p.high * math.exp(t) for p, v, t in zip(preds, y, tol)]
    return {"n": len(y), "median_abs_log2": float(np.median(np.abs(err)) / LN2),
            "median_abs_log2_tol": float(np.median(np.maximum(np.abs(err) - tol, 0)) / LN2),
            "mean_log2": float(np.mean(err) / LN2), "inside": int(sum(inside)),
            "median_width": float(np.median([p.ratio for p in preds]))}


def _points(st: Stack, sel: np.ndarray) -> list[dict]:
    return [{"n_params": float(n), "tokens": float(d), "flops": 6.0 * n * d}
            for n, d in zip(st.inputs["n_params"][sel], st.inputs["tokens"][sel])]


def hold_out(st: Stack, form, h: int, steps, scored, published: dict, rng, anchored: bool) -> dict | None:
    """Scores of one law for setup h held out (None when the fit is impossible)."""
    mine = (st.gid == h) & (st.w > 0)
    if not mine.any():
        return None
    scored = scored & (st.gid == h)
    if not anchored:
        sub = substack(st, st.gid != h)
        if len(sub.present()) < 1 or cross_law.infeasible_across(sub, form):
            return None
        fit = cross_law.fit_form(sub, form, rng)
        spread = SetupSpread(CrossLaw.from_json(cross_law.law_record(fit)), "unknown", published)
        target = scored
    else:
        smallest = st.inputs["n_params"][mine].min()
        anchor = mine & (st.inputs["n_params"] == smallest)
        target = scored & (st.inputs["n_params"] > smallest * 1.01)
        sub = substack(st, (st.gid != h) | anchor, first=h)
        if not target.any() or infeasible_reason(sub, form):
            return None
        sub = cross_law.censored(sub, form)
        fit = joint_law.fit_form(sub, form, rng)
        spread = anchored_spread(sub, form, fit, {}, rng)  # no published setups in the slope spread (cross_setup.py)
    preds = _predict(fit, spread, sub, _points(st, target))
    at_7b = _predict(fit, spread, sub, [TARGET_7B])[0]
    return {**_score(preds, st.y[target], steps[target]), "width_at_7b_2t": float(at_7b.ratio)}


def anchored_spread(st: Stack, form, fit, published: dict, rng) -> SetupSpread:
    """The anchored setup part of a joint fit: the sources' own slopes around the pooled ones, pinned at
    MINE's cells' geometric centre."""
    return SetupSpread(CrossLaw.from_json(cross_law.anchored_record(st, form, fit, rng)), "anchored", published)


def leave_one_setup_out(fitter, keys) -> dict:
    """Per setup, per law: unanchored and anchored scores (module doc); `keys`: the published setups."""
    published = published_forms(keys)
    tables = [fitter.table_] + [s.table for s in fitter.sources_]
    out = {}
    for law, fits in (("lr", fitter.lr_fits_), ("batch", fitter.batch_fits_)):
        if not fits:
            continue
        st, form, steps, scored = fitter.stacks_[law], fits[0].form, grid_steps(tables, law), scored_cells(tables, law)
        rng = np.random.default_rng(fitter.seed + 11)
        for h, name in enumerate(st.names):
            row = out.setdefault(name, {})
            for mode in ("unanchored", "anchored"):
                row.setdefault(mode, {})[law] = hold_out(st, form, h, steps, scored, published[law], rng,
                                                mode == "anchored")
    return {"published_setups": list(keys), "setups": out,
            "tolerance": "an error within half the cell's grid step counts as 0 (coverage: the interval widened by "
                         "half a step each side)"}
