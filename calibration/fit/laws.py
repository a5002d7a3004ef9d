"""Power laws for the optimal LR and batch size, fitted in log space with a robust (Huber) loss.

log y = c0 + sum_i c_i log x_i, x_i among n_params (N), tokens (D), flops (C = 6ND). The fit is
iteratively reweighted least squares with Huber weights (Huber 1964; the scale from the MAD of the
residuals), written batched over rows of weights so that one call fits every bootstrap resample,
every cross-validation fold or every leave-one-cell-out refit at once.
"""
from __future__ import annotations

from dataclasses import dataclass

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


def design(form: LawForm, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """(m, k) design matrix [1, log x_1, ...] for cells with the given input arrays."""
    logs = [np.log(np.asarray(inputs[name], dtype=float)) for name in form.inputs]
    return np.column_stack([np.ones_like(logs[0])] + logs)


def predict(log_coef: np.ndarray, form: LawForm, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """log y for each cell; log_coef (k,) or (R, k) -> (m,) or (R, m)."""
    return np.asarray(log_coef) @ design(form, inputs).T


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


def infeasible_reason(form: LawForm, inputs: dict[str, np.ndarray], w: np.ndarray) -> str | None:
    """Why this form cannot be fitted to the cells with positive weight, or None."""
    use = w > 0
    m = int(use.sum())
    if m < form.n_coef + 1:
        return f"needs at least {form.n_coef + 1} usable cells, has {m}"
    logs = np.column_stack([np.log(np.asarray(inputs[n], float)[use]) for n in form.inputs])
    sd = logs.std(axis=0)
    for name, s in zip(form.inputs, sd):
        if s < 1e-6:
            return f"{name} does not vary across the usable cells"
    if len(form.inputs) > 1:
        corr = np.corrcoef(logs, rowvar=False)
        if np.abs(corr[np.triu_indices_from(corr, 1)]).max() > COLLINEAR_CORR:
            return f"{' and '.join(form.inputs)} vary together across cells (collinear): not separable"
    return None


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


def cv_log2_error(form: LawForm, inputs: dict[str, np.ndarray], y: np.ndarray, w: np.ndarray,
                  sizes: np.ndarray) -> float | None:
    """Leave-one-size-out mean |log2 error| over held-out cells (None: no fold was feasible)."""
    folds, held = loso_folds(sizes, w)
    x = design(form, inputs)
    feasible = [i for i in range(len(folds)) if infeasible_reason(form, inputs, folds[i]) is None]
    if not feasible:
        return None
    coef = huber_fit(x, np.broadcast_to(y, (len(feasible), len(y))), folds[feasible])
    errors = [np.abs(x[held[i]] @ coef[j] - y[held[i]]) for j, i in enumerate(feasible)]
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


def fit_forms(forms, inputs: dict[str, np.ndarray], y: np.ndarray, w: np.ndarray,
              sizes: np.ndarray) -> tuple[list[LawFit], list[SkippedForm]]:
    """Fit every feasible form; return (fits sorted best-first by CV error, skipped forms with reasons).

    The chosen form is fits[0]: smallest leave-one-size-out error; forms without a CV error (too few
    sizes) come after, simplest first.
    """
    fits, skipped = [], []
    for form in forms:
        reason = infeasible_reason(form, inputs, w)
        if reason:
            skipped.append(SkippedForm(form.name, reason))
            continue
        x = design(form, inputs)
        coef = huber_fit(x, y[None, :], w[None, :])[0]
        fits.append(LawFit(form, coef, residual_sd(x, y, w, coef),
                           cv_log2_error(form, inputs, y, w, sizes), int((w > 0).sum())))
    fits.sort(key=lambda f: (f.cv_log2_error is None, f.cv_log2_error or 0.0, f.form.n_coef))
    return fits, skipped
