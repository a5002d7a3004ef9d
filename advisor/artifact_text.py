"""The fitted-model artifact for people, from its types (advisor/artifact.py): what `advisor show` prints
(`model_text`), the parts of `advisor fit`'s summary that need no numpy (`trials_line`, `held_out_lines`,
`coverage_lines`; calibration/cli/fit.py adds the laws with their bootstrap intervals) and the facts the
fit report's headline shares with it (`excluded_text`, calibration/fit/report.py).

Pure Python: `advisor show` runs on the light install.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from advisor.artifact import LOSS_FORM
from advisor.laws import FALLBACK_BATCH_LAW, HYPERPARAMETER_LAWS
from advisor.units import format_count, is_number

if TYPE_CHECKING:
    from advisor.artifact import HeldOutSummary, IntervalCoverage, Provenance, Validation
    from advisor.model import FittedLaw, FittedModel

PROVENANCE_KEYS = ("source", "table", "data_id", "tokenizer", "n_trials", "n_trials_used", "n_excluded", "n_cells",
                   "bootstrap", "code_version")


# ------------------------------------------------------------------ shared by show, fit and the report

def excluded_text(n_excluded: dict) -> str:
    """'diverged 3, pruned 12' (the reasons with a count), or 'none'."""
    return ", ".join(f"{k} {v}" for k, v in n_excluded.items() if v) or "none"


def trials_line(prov: Provenance) -> str:
    """`advisor fit`'s first line: the trials used, the cells, the exclusions and the bootstrap."""
    return (f"{prov.n_trials_used} of {prov.n_trials} trials used in {prov.n_cells} cells "
            f"(excluded: {excluded_text(prov.n_excluded)}); bootstrap {prov.bootstrap}")


def coverage_lines(coverage: IntervalCoverage | None) -> list[str]:
    """One line per view: how many held-out optima fell inside their predicted 90% intervals."""
    if not coverage:
        return []
    out = []
    for view, label in (("held_out_largest", "held out, largest size"), ("leave_one_cell_out", "leave one cell out")):
        part = getattr(coverage, view)
        if part is not None and part.skipped is not None:
            out.append(f"90% interval coverage, {label}: skipped ({part.skipped})")
            continue
        laws = part.laws() if part is not None else {}
        bits = [f"{law} {c.inside}/{c.n} (median width {c.median_width_ratio:.2f}x)"
                for law, c in laws.items() if c.inside is not None]
        out.append(f"90% interval coverage, {label}: " + ", ".join(bits))
    return out


def held_out_lines(validation: Validation) -> list[str]:
    """`advisor fit`'s held-out figures: the largest size held out, and leave one cell out."""
    held, loco = validation.held_out_largest, validation.leave_one_cell_out
    lines = []
    if held is not None and held.skipped:
        lines.append(f"held-out largest N: skipped ({held.skipped})")
    elif held is not None:
        lines.append(f"held-out largest N={held.n_params:.3g}: |log2 err| LR {held.lr_log2_error:.3f}, "
                     f"batch {_fixed(held.batch_log2_error)}, loss regret {held.loss_regret_pct:.3f}%{_nearest(held)}")
    if loco is not None and not loco.skipped:
        lines.append(f"leave-one-cell-out: |log2 err| LR {loco.lr_log2_error:.3f}, "
                     f"batch {_fixed(loco.batch_log2_error)}, loss regret {loco.loss_regret_pct:.3f}%{_nearest(loco)}")
    return lines


def _nearest(summary: HeldOutSummary) -> str:
    v = summary.nearest_run_regret_pct
    ref = [c.published_law_nearest_run_regret_pct for c in summary.cells or []
           if c.published_law_nearest_run_regret_pct is not None]
    ref_text = (f"; the source authors' own law, fitted on every size: {', '.join(f'{r:.3f}%' for r in ref)}"
                if ref else "")
    return "" if v is None else f" (nearest measured run: {v:.3f}%{ref_text})"


def _fixed(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


# ------------------------------------------------------------------ advisor show

def model_text(fitted: FittedModel) -> str:
    """`advisor show`: provenance, fit range, laws with their intervals, validation, warnings."""
    from advisor.penalty import validation_lines  # only `show` needs it

    lines = provenance_lines(fitted) + ["Fit range:"]
    lines += [f"  {name:<14} {lo:.3g} – {hi:.3g}" for name, (lo, hi) in fitted.fit_range_.items()]
    lines += law_lines(fitted) + ["Validation:"] + validation_lines_of(fitted.validation_)
    lines += [f"  {line}" for line in coverage_lines(fitted.validation_.coverage)]
    lines += [f"  {line}" for line in validation_lines(fitted.penalty_)]
    if fitted.validation_.held_out_largest is None and fitted.validation_.leave_one_cell_out is None:
        lines.append("  none recorded")
    if fitted.warnings_:
        lines += ["Warnings:"] + [f"  - {w}" for w in fitted.warnings_]
    return "\n".join(lines)


def provenance_lines(fitted: FittedModel) -> list[str]:
    prov, shipped = fitted.provenance_, fitted.shipped_
    lines = [f"Shipped model {shipped['name']}: {shipped['description']}"] if shipped else []
    lines += [f"Fitted model {fitted.path} ({fitted.doc.get('schema')} v{fitted.doc.get('version')}, created "
              f"{fitted.artifact_.created_at}, C = {fitted.flops_formula})", "Provenance:"]
    lines += [f"  {key:<14} {_plain(getattr(prov, key))}" for key in PROVENANCE_KEYS if getattr(prov, key) is not None]
    lines += [f"  {key:<14} " + ", ".join(f"{k} {_plain(v)}" for k, v in getattr(prov, key).items())
              for key in ("proxy", "optimizer", "schedule")]
    return lines + setups_lines(prov) + [f"  note           {n}" for n in prov.notes]


def setups_lines(prov: Provenance) -> list[str]:
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


def law_lines(fitted: FittedModel) -> list[str]:
    """The LR and batch laws (coefficients with 90% bootstrap intervals, alternatives) and the loss surface."""
    lines = ["Laws (log y = log a + Σ exponent·log x; 90% bootstrap intervals in brackets):"]
    for name, law in (("lr", fitted.lr_), ("batch", fitted.batch_)):
        lines += _law_lines(name, law)
    if fitted.batch_unusable_:
        stand_in = HYPERPARAMETER_LAWS[FALLBACK_BATCH_LAW].name
        lines.append(f"         not used for advice: {fitted.batch_unusable_}; "
                     f"the advisor takes the batch size from {stand_in}'s law instead")
    loss = fitted.loss_
    if loss is None:
        return lines + ["  loss   none (could not be fitted): compute-optimal defaults fall back to 20 tokens/param"]
    values = loss.entry.values
    vals = ", ".join(f"{n} {v:.4g}{_interval(ci)}"
                     for n, v, ci in zip(loss.entry.by_name(), values, coef_intervals(values, loss.samples)))
    return lines + [f"  loss   {LOSS_FORM}: {vals}; residual sd {loss.residual_sd:.3g} nats"]


def _law_lines(name: str, law: FittedLaw | None) -> list[str]:
    if law is None:
        return [f"  {name:<6} none"]
    names = ["log_a"] + [f"exp_{i}" for i in law.law.inputs]
    coefs = ", ".join(f"{n} {v:.4g}{_interval(ci)}"
                      for n, v, ci in zip(names, law.law.log_coef, coef_intervals(law.law.log_coef, law.samples)))
    lines = [f"  {name:<6} {law.law.form}: {coefs}; residual sd {law.residual_sd:.3g}, CV |log2 err| "
             f"{_g(law.cv_log2_error)}, {law.n_cells} cells, {len(law.samples)} bootstrap draws"]
    return lines + [f"         alternative {alt.law.form}: CV |log2 err| {_g(alt.cv_log2_error)}"
                    for alt in law.alternatives]


def validation_lines_of(validation: Validation) -> list[str]:
    """`advisor show`'s held-out lines."""
    held, loo = validation.held_out_largest, validation.leave_one_cell_out
    lines = []
    if held is not None:
        lines.append(f"  held out largest N ({_g(held.n_params)}): |log2 err| LR {_g(held.lr_log2_error)}, batch "
                     f"{_g(held.batch_log2_error)}; loss regret {_g(held.loss_regret_pct)}%")
    if loo is not None:
        lines.append(f"  leave one cell out: |log2 err| LR {_g(loo.lr_log2_error)}, batch {_g(loo.batch_log2_error)}; "
                     f"loss regret {_g(loo.loss_regret_pct)}%")
    return lines


def coef_intervals(values, samples) -> list[list[float] | None]:
    """Each coefficient's 90% bootstrap interval [5th, 95th percentile] (None without draws)."""
    from advisor.intervals import percentile

    if not samples:
        return [None] * len(values)
    return [[percentile(sorted(col), 5.0), percentile(sorted(col), 95.0)] for col in zip(*samples)]


def _g(x) -> str:
    return f"{x:.3g}" if is_number(x) else "n/a"


def _interval(pair) -> str:
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
