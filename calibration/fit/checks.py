"""The warnings of a fit: a list of small checks, each reading the fitted state and returning zero or more
warnings with a stable code (advisor/coded_warning.py; the codes are listed in docs/fitted-model.md).

Each check takes the fitted ScaleLawFitter (calibration/fit/fitter.py): its cell table (`table_`), law
fits (`lr_fits_`, `batch_fits_`), what the table pools (`mixed_setups_`), artifact entries (`lr_law_`,
`batch_law_`, `loss_law_`, `validation_`, `provenance_`) and settings. `fit_warnings` runs them in the order of CHECKS.
"""
from __future__ import annotations

import math

import numpy as np

from advisor.coded_warning import CodedWarning
from calibration.fit.laws import LawFit
from calibration.fit.loss_surface import at_bounds
from calibration.fit.optimum import BELOW_DIVERGENCE_WEIGHT, Method

FEW_SIZES = 4  # fewer sizes than this: exponents are weakly determined
WIDE_EXPONENT_CI = 0.2  # 90% interval of an exponent wider than this: flagged
HELD_OUT_LR_WARN = 0.5  # |log2 error| above this (a factor 1.4): flagged
HELD_OUT_REGRET_WARN = 1.0  # percent


def few_sizes(fit) -> list[CodedWarning]:
    sizes = np.unique(fit.table_.sizes[fit.table_.w("lr") > 0])
    if len(sizes) >= FEW_SIZES:
        return []
    return [CodedWarning("few_sizes", f"only {len(sizes)} sizes: exponents are weakly determined")]


def _on_grid_edge(fit, law: str, what: str) -> list[CodedWarning]:
    optima = fit.table_.optima
    k = sum(f"{law}_on_grid_edge" in o.flags for o in optima)
    if not k:
        return []
    return [CodedWarning(f"{law}_on_grid_edge", f"{k} of {len(optima)} cells have the {what} optimum on the grid "
                                              f"edge (down-weighted): extend the {what} grid and rerun")]


def lr_on_grid_edge(fit) -> list[CodedWarning]:
    return _on_grid_edge(fit, "lr", "LR")


def batch_on_grid_edge(fit) -> list[CodedWarning]:
    return _on_grid_edge(fit, "batch", "batch")


def batch_edge_at_one_sequence(fit) -> list[CodedWarning]:
    """A batch edge at one sequence cannot be extended: say what can be changed instead."""
    seq_len = fit.provenance_.proxy.get("seq_len")
    if not isinstance(seq_len, (int, float)):
        return []
    floor = sum("batch_on_grid_edge" in o.flags and math.exp(c.log_batch.min()) <= 1.01 * seq_len
                and o.log_batch < (c.log_batch.min() + c.log_batch.max()) / 2  # the low edge
                for c, o in zip(fit.table_.cells, fit.table_.optima))
    if not floor:
        return []
    return [CodedWarning("batch_edge_at_one_sequence",
                       f"{floor} of the cells with the batch optimum on the grid edge sit at one sequence "
                       f"({seq_len:g} tokens), the smallest batch there is: a shorter seq_len or larger token "
                       "budgets would bring them inside")]


def _law_is_bound(entry, law: str, what: str) -> list[CodedWarning]:
    if entry is None or not entry.is_bound:
        return []
    return [CodedWarning(f"{law}_law_is_bound", f"most cells' {what} optimum is on the grid edge: the {what} law "
                                              "describes the grid's edge, not the optimum")]


def lr_law_is_bound(fit) -> list[CodedWarning]:
    return _law_is_bound(fit.lr_law_, "lr", "LR")


def batch_law_is_bound(fit) -> list[CodedWarning]:
    return _law_is_bound(fit.batch_law_, "batch", "batch")


def lr_below_divergence(fit) -> list[CodedWarning]:
    """Bracketed by divergence: no grid to extend, only a note on the (small, low) bias."""
    optima = fit.table_.optima
    below = sum(any(f.split(":")[0] == "lr_below_divergence" for f in o.flags) for o in optima)
    if not below:
        return []
    return [CodedWarning("lr_below_divergence",
                       f"{below} of {len(optima)} cells have their best LR just below one that diverged: the LR "
                       f"optimum is bracketed by divergence, no grid to extend (weight {BELOW_DIVERGENCE_WEIGHT})")]


def cells_dropped_thin(fit) -> list[CodedWarning]:
    optima = fit.table_.optima
    dropped = sum(o.weight_lr == 0 and o.method is not Method.PROFILE for o in optima)
    if not dropped:
        return []
    return [CodedWarning("cells_dropped_thin",
                       f"{dropped} of {len(optima)} cells dropped as too thinly sampled (fewer than 3 LR values)")]


def profile_support(fit) -> list[CodedWarning]:
    """Coordinate-descent cells: what their 1-D profiles support, law by law (calibration/fit/profile.py)."""
    optima = [o for o in fit.table_.optima if o.method is Method.PROFILE]
    if not optima:
        return []
    parts, active = [], getattr(fit, "active_bounds_", {})
    for law, what in (("lr", "LR"), ("batch", "batch")):
        kinds = [getattr(o, f"{law}_profile").kind for o in optima]
        counts = ", ".join(f"{kinds.count(k)} {k.replace('_', ' ')}" for k in dict.fromkeys(kinds))
        parts.append(f"{what}: {counts} ({active.get(law, 0)} bound(s) active in the law fit)")
    return [CodedWarning("profile_support",
                         f"{len(optima)} cells are 1-D profiles around a tuned run, not grids; "
                         f"{'; '.join(parts)}. A bound is not a value: it is left out of the point fit and "
                         "enters only where the law would pass it (docs/fitting.md)")]


def argmin_fallback(fit) -> list[CodedWarning]:
    optima = fit.table_.optima
    fallback = sum(o.method is Method.ARGMIN for o in optima)
    if not fallback:
        return []
    return [CodedWarning("argmin_fallback", f"{fallback} of {len(optima)} cells use the grid argmin (local fit rejected)")]


def lr_form_without_cv(fit) -> list[CodedWarning]:
    if fit.lr_fits_[0].cv_log2_error is not None:
        return []
    return [CodedWarning("lr_form_without_cv", "LR law form chosen without leave-one-size-out CV (too few sizes)")]


def no_batch_law(fit) -> list[CodedWarning]:
    if fit.batch_fits_:
        return []
    reasons = "; ".join(f"{s.form}: {s.reason}" for s in fit.batch_skipped_)
    return [CodedWarning("no_batch_law", f"no batch law: {reasons}")]


def loss_surface(fit) -> list[CodedWarning]:
    """No loss surface, or one whose parameters sit at their bounds."""
    if fit.surface_skip_:
        return [CodedWarning("no_loss_surface", f"no loss surface: {fit.surface_skip_}")]
    entry = fit.loss_law_
    if entry is None:
        return []
    bounds = at_bounds(np.asarray(entry.values), np.asarray(entry.samples or [], float),
                       min(o.loss for o in fit.table_.optima))
    return [CodedWarning("loss_surface_weak", f"loss surface weakly determined: {'; '.join(bounds)}")] if bounds else []


def no_bootstrap(fit) -> list[CodedWarning]:
    return [CodedWarning("no_bootstrap", "no bootstrap: coefficients have no intervals")] if fit.n_boot == 0 else []


def _wide_exponents(fits: list[LawFit], law: str, what: str) -> list[CodedWarning]:
    if not fits or fits[0].samples is None or len(fits[0].samples) < 10:
        return []
    lo, hi = np.percentile(fits[0].samples[:, 1:], [5, 95], axis=0)
    return [CodedWarning(f"{law}_exponent_wide", f"{what} law: the 90% interval of the {name} exponent is {width:.2f} wide")
            for name, width in zip(fits[0].form.inputs, hi - lo) if width > WIDE_EXPONENT_CI]


def lr_exponent_wide(fit) -> list[CodedWarning]:
    return _wide_exponents(fit.lr_fits_, "lr", "LR")


def batch_exponent_wide(fit) -> list[CodedWarning]:
    return _wide_exponents(fit.batch_fits_, "batch", "batch")


def held_out_largest(fit) -> list[CodedWarning]:
    """The refit without the largest size: skipped, or its predictions off."""
    held = fit.validation_.held_out_largest
    if held.skipped:
        return [CodedWarning("held_out_skipped", f"held-out validation skipped: {held.skipped}")]
    out = []
    if held.lr_log2_error > HELD_OUT_LR_WARN:
        out.append(CodedWarning("held_out_lr_error", f"held-out largest size: LR off by a factor "
                                                   f"{2 ** held.lr_log2_error:.2f} on average"))
    if held.loss_regret_pct > HELD_OUT_REGRET_WARN:
        out.append(CodedWarning("held_out_regret", f"held-out largest size: loss regret {held.loss_regret_pct:.2f}% "
                                                 "at the predicted setting"))
    if held.any_outside_grid:
        out.append(CodedWarning("held_out_outside_grid", "held-out largest size: a prediction falls outside the "
                                                       "measured grid (regret is a lower bound)"))
    return out


def duplicate_trials(fit) -> list[CodedWarning]:
    dropped = fit.provenance_.n_excluded.get("duplicate", 0)
    if not dropped:
        return []
    return [CodedWarning("duplicate_trials", f"{dropped} of {fit.provenance_.n_trials} rows are exact duplicates of "
                                             "another row and were counted once (is the table concatenated "
                                             "with itself?)")]


def flat_cells(fit) -> list[CodedWarning]:
    dropped = fit.provenance_.n_excluded.get("flat_cell", 0)
    if not dropped:
        return []
    return [CodedWarning("flat_cells", f"{dropped} trials left out: their cells gave one and the same loss at "
                                       "every LR and batch (no information on the optimum)")]


def out_of_range_trials(fit) -> list[CodedWarning]:
    dropped = fit.provenance_.n_excluded.get("out_of_range", 0)
    if not dropped:
        return []
    return [CodedWarning("out_of_range_trials", f"{dropped} trials left out: their compute 6ND is beyond "
                                                "floating point (check the units of N and D)")]


def mixed_setups(fit) -> list[CodedWarning]:
    """Several data sources, code versions or architectures pooled as one setup (table.mixed_setups)."""
    what = {"mixed_data": "data sources", "mixed_sources": "sources", "mixed_code_versions": "code versions",
            "mixed_architectures": "architectures"}
    return [CodedWarning(code, f"the table mixes {what[code]} ({'; '.join(found)}): the fit pools them as one "
                               "setup; fit each on its own unless they are known to agree")
            for code, found in fit.mixed_setups_.items()]


def n_d_collinear(fit) -> list[CodedWarning]:
    line = fit.artifact_.nd_line
    if line is None:
        return []
    return [CodedWarning("n_d_collinear", f"the table has {line.reason}: N's effect cannot be told from D's, so "
                         "the laws hold only along that line; the advisor refuses targets off it")]


CHECKS = (duplicate_trials, flat_cells, out_of_range_trials, mixed_setups, few_sizes, n_d_collinear, lr_on_grid_edge,
          lr_law_is_bound, batch_on_grid_edge, batch_edge_at_one_sequence, batch_law_is_bound,
          lr_below_divergence, cells_dropped_thin, profile_support, argmin_fallback, lr_form_without_cv, no_batch_law,
          loss_surface, no_bootstrap, lr_exponent_wide, batch_exponent_wide, held_out_largest)


def fit_warnings(fit) -> list[CodedWarning]:
    """Every check's warnings, in the order of CHECKS."""
    return [warning for check in CHECKS for warning in check(fit)]
