"""Power laws for the optimal LR and batch size, fitted in log space with a robust (Huber) loss.

log y = c0 + sum_i c_i log x_i, x_i among n_params (N), tokens (D), flops (C = 6ND). The fit is
iteratively reweighted least squares with Huber weights (Huber 1964; the scale from the MAD of the
residuals), written batched over rows of weights so that one call fits every bootstrap resample,
every cross-validation fold or every leave-one-cell-out refit at once.

The functions take a `Stack` of cells: one setup's (`Stack.one`), or several setups' stacked, each with its
own intercept c0 (its prefactor) and the exponents shared (joint_law.py, cross_law.py fit those).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from advisor.artifact import LawEntry, SkippedForm

HUBER_DELTA = 1.345  # 95% efficiency at the normal
MIN_SCALE = 0.01  # residuals below 1% (in log) are never down-weighted: with few cells the MAD is ~0
IRLS_ITERS = 15
COLLINEAR_CORR = 0.995


@dataclass(frozen=True)
class LawForm:
    name: str
    inputs: tuple[str, ...]

    @property
    def n_coef(self) -> int:
        return len(self.inputs) + 1


LR_FORMS = (LawForm("a*N^alpha*D^beta", ("n_params", "tokens")), LawForm("a*C^alpha", ("flops",)))
BATCH_FORMS = (LawForm("b*D^gamma", ("tokens",)), LawForm("b*C^gamma", ("flops",)),
               LawForm("b*N^delta*D^gamma", ("n_params", "tokens")))


@dataclass
class Stack:
    """One law's cells, of one setup or of several stacked: inputs (m,), log optimum y, weight w (0: left
    out), the setup of each cell gid (0: the setup whose law is fitted, MINE), optima samples (R, m) or None,
    the setups' names. A single setup is a stack of one (`Stack.one`)."""

    inputs: dict[str, np.ndarray]
    y: np.ndarray
    w: np.ndarray
    gid: np.ndarray
    samples: np.ndarray | None = None
    names: list[str] = field(default_factory=lambda: ["mine"])
    # edge optima of coordinate-descent sources (profile.py, joint.edge_bounds): sign (+1 upper, -1 lower
    # bound, 0 none) and the bound's log value; cross_law.censored turns a crossed bound into a value
    bound: np.ndarray | None = None
    bound_y: np.ndarray | None = None

    @classmethod
    def one(cls, inputs: dict[str, np.ndarray], y: np.ndarray | None = None, w: np.ndarray | None = None,
            samples: np.ndarray | None = None) -> "Stack":
        """One setup's cells (y and w default to zeros and ones: enough to build a design)."""
        m = len(next(iter(inputs.values())))
        return cls(inputs, np.zeros(m) if y is None else y, np.ones(m) if w is None else w,
                   np.zeros(m, int), samples)

    @property
    def several(self) -> bool:
        return len(self.names) > 1

    def present(self, w: np.ndarray | None = None) -> list[int]:
        """Setups with a usable cell (their intercepts are identified); a single setup always has its own."""
        w = self.w if w is None else w
        if not self.several:
            return [0]
        return [g for g in range(len(self.names)) if (w[self.gid == g] > 0).any()]

    def logs(self, name: str) -> np.ndarray:
        return np.log(np.asarray(self.inputs[name], float))

    def n_usable(self, setup: int = 0) -> int:
        return int(((self.gid == setup) & (self.w > 0)).sum())


def design(stack: Stack, form: LawForm, own: tuple[str, ...] = ()) -> np.ndarray:
    """(m, k) design matrix: one intercept per present setup, log x_1, ... (the exponents every setup
    shares), then MINE's own-slope terms for the inputs in `own` (its slope is the shared one plus these)."""
    cols = [(stack.gid == g).astype(float) for g in stack.present()]
    cols += [stack.logs(n) for n in form.inputs]
    cols += [(stack.gid == 0) * stack.logs(n) for n in own]
    return np.column_stack(cols)


def predict(log_coef: np.ndarray, form: LawForm, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """log y of one setup's law at each point; log_coef (k,) or (R, k) -> (m,) or (R, m)."""
    return np.asarray(log_coef) @ design(Stack.one(inputs), form).T


def huber_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Batched Huber regression. x (m, k); y, w (R, m) -> coef (R, k). Zero weight = left out."""
    y = np.atleast_2d(y).astype(float)
    w = np.broadcast_to(np.atleast_2d(w).astype(float), y.shape)
    coef = _wls(x, y, w)
    for _ in range(IRLS_ITERS):
        r = y - coef @ x.T
        absr = np.where(w > 0, np.abs(r), np.nan)
        scale = np.maximum(1.4826 * np.nanmedian(absr, axis=1), MIN_SCALE)
        robust = np.minimum(1.0, HUBER_DELTA * scale[:, None] / np.maximum(np.abs(r), 1e-300))
        new = _wls(x, y, w * robust)
        if np.allclose(new, coef, rtol=0, atol=1e-10):
            return new
        coef = new
    return coef


def _wls(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    a = np.einsum("mk,rm,ml->rkl", x, w, x) + 1e-12 * np.eye(x.shape[1])
    b = np.einsum("mk,rm,rm->rk", x, w, y)
    return np.linalg.solve(a, b[:, :, None])[:, :, 0]


def infeasible_reason(stack: Stack, form: LawForm, own: tuple[str, ...] = (), w: np.ndarray | None = None) -> str | None:
    """Why the form cannot be fitted to the cells with positive weight w (default the stack's), or None.
    Across several setups an input must vary within them (each has its own intercept), and MINE needs a
    usable cell; `own` needs MINE's cells to span each of its inputs."""
    w = stack.w if w is None else w
    use = w > 0
    if stack.several and not (use & (stack.gid == 0)).any():
        return "your table has no usable cell for this law"
    n_coef = len(stack.present(w)) + len(form.inputs) + len(own)
    if use.sum() < n_coef + 1:
        where = " over all setups" if stack.several else ""
        return f"needs at least {n_coef + 1} usable cells{where}, has {int(use.sum())}"
    logs = np.column_stack([stack.logs(n) for n in form.inputs])
    logs = np.column_stack([_within(c, stack.gid, use) for c in logs.T])[use] if stack.several else logs[use]
    for name, sd in zip(form.inputs, logs.std(axis=0)):
        if sd < 1e-6:
            return f"{name} does not vary {'within any setup' if stack.several else 'across the usable cells'}"
    if len(form.inputs) > 1:
        corr = np.corrcoef(logs, rowvar=False)
        if np.abs(corr[np.triu_indices_from(corr, 1)]).max() > COLLINEAR_CORR:
            where = "within the setups" if stack.several else "across cells"
            return f"{' and '.join(form.inputs)} vary together {where} (collinear): not separable"
    return _own_infeasible(stack, own, use & (stack.gid == 0))


def _own_infeasible(stack: Stack, own: tuple[str, ...], mine: np.ndarray) -> str | None:
    if own and mine.sum() < 1 + len(own):
        return "too few of your cells for your own exponents"
    for name in own:
        if np.ptp(stack.logs(name)[mine]) < 1e-6:
            return f"your own {name} exponent needs two or more values of {name} in your cells"
    return None


def _within(values: np.ndarray, gid: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Values centred on their setup's mean over the usable cells."""
    out = values.astype(float).copy()
    for g in np.unique(gid):
        sel = gid == g
        if (sel & use).any():
            out[sel] -= values[sel & use].mean()
    return out


def residual_sd(x: np.ndarray, y: np.ndarray, w: np.ndarray, coef: np.ndarray) -> float:
    """Weighted sd of the log residuals, with the degrees of freedom of the fit removed."""
    use = w > 0
    r = (y - x @ coef)[use]
    ww = w[use] / w[use].max()
    dof = max(ww.sum() - x.shape[1], 1.0)
    return float(np.sqrt((ww * r * r).sum() / dof))


def loso_folds(sizes: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Leave-one-size-out: a (F, m) weight matrix (the held-out size zeroed) and held-out masks."""
    rows, held = [], []
    for s in np.unique(sizes[w > 0]):
        out = (sizes == s) & (w > 0)
        rows.append(np.where(out, 0.0, w))
        held.append(out)
    return np.array(rows).reshape(len(rows), len(w)), held


def cv_log2_error(stack: Stack, form: LawForm, own: tuple[str, ...] = (), only_mine: bool = False,
                  batched: bool = True) -> float | None:
    """Leave-one-size-out mean |log2 error| over held-out cells (None: no fold was feasible), a size being
    one setup's N; a fold leaving its setup no usable cell is skipped (its prefactor would be unknown).
    only_mine: hold out MINE's sizes only. batched: refit every fold in one solve, else fold by fold (the
    batched IRLS runs until every fold has converged, so the two agree to ~1e-10; the fits of several
    setups were made fold by fold, and kept so, so that the shipped models do not move)."""
    keys = stack.gid * 1e3 + np.unique(stack.inputs["n_params"], return_inverse=True)[1]
    folds, held = loso_folds(keys, np.where(stack.gid == 0, stack.w, 0.0) if only_mine else stack.w)
    folds = [np.where(out, 0.0, stack.w) for out in held]
    x = design(stack, form, own)
    keep = [i for i, (row, out) in enumerate(zip(folds, held)) if (row[stack.gid == stack.gid[out][0]] > 0).any()
            and infeasible_reason(stack, form, own, row) is None]
    if not keep:
        return None
    rows = np.array([folds[i] for i in keep])
    if batched:
        coef = huber_fit(x, np.broadcast_to(stack.y, rows.shape), rows)
    else:
        coef = np.array([huber_fit(x, stack.y[None, :], row[None, :])[0] for row in rows])
    errors = [np.abs(x[held[i]] @ coef[j] - stack.y[held[i]]) for j, i in enumerate(keep)]
    return float(np.concatenate(errors).mean() / np.log(2))

@dataclass
class LawFit:
    """One fitted form: point coefficients, CV error, bootstrap samples (filled later)."""

    form: LawForm
    log_coef: np.ndarray
    residual_sd: float
    cv_log2_error: float | None
    n_cells: int
    samples: np.ndarray | None = None
    cell_scatter_sd: float = 0.0  # between-cell scatter added in the bootstrap (see bootstrap_law)

    def to_entry(self) -> LawEntry:
        """The artifact's entry for this form (advisor/artifact.py), samples to 6 significant digits."""
        samples = [tuple(float(f"{v:.6g}") for v in row) for row in self.samples] if self.samples is not None else []
        return LawEntry(form=self.form.name, inputs=self.form.inputs, log_coef=tuple(float(c) for c in self.log_coef),
                        samples=samples, residual_sd=float(self.residual_sd), cv_log2_error=self.cv_log2_error,
                        n_cells=int(self.n_cells), cell_scatter_sd=float(self.cell_scatter_sd))


def fit_form(stack: Stack, form: LawForm) -> LawFit:
    """One setup's fit of a form: point coefficients, residual sd, leave-one-size-out error (samples come
    from the bootstrap, bootstrap.bootstrap_law)."""
    x = design(stack, form)
    coef = huber_fit(x, stack.y[None, :], stack.w[None, :])[0]
    return LawFit(form, coef, residual_sd(x, stack.y, stack.w, coef), cv_log2_error(stack, form), stack.n_usable())


def fit_forms(stack: Stack, forms, fit: Callable[[Stack, LawForm], LawFit] = fit_form,
              infeasible: Callable[[Stack, LawForm], str | None] = infeasible_reason
              ) -> tuple[list[LawFit], list[SkippedForm]]:
    """Fit every feasible form (`fit`: one setup's by default, or a stacked one: joint_law, cross_law);
    return (fits sorted best-first by CV error, skipped forms with reasons).

    The chosen form is fits[0]: smallest leave-one-size-out error; forms without a CV error (too few
    sizes) come after, simplest first.
    """
    fits, skipped = [], []
    for form in forms:
        reason = infeasible(stack, form)
        if reason:
            skipped.append(SkippedForm(form.name, reason))
            continue
        fits.append(fit(stack, form))
    fits.sort(key=lambda f: (f.cv_log2_error is None, f.cv_log2_error or 0.0, f.form.n_coef))
    return fits, skipped
