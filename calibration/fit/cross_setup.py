"""Laws fitted across setups (`advisor fit --across A B ...`): the model for a setup none of them is.

`AcrossSetups` is the ScaleLawFitter strategy (law_setups.py) whose laws treat every setup alike
(cross_law.py): a prefactor per setup, the exponents shared, each setup's own slopes tested against the
others' (the consistency test of the joint fit with that setup in MINE's place):
`ScaleLawFitter(setups=AcrossSetups(tables)).fit(tables[0][1])`. The artifact's laws are the unknown setup's: the
mean prefactor with the shared exponents and their joint bootstrap. `provenance.cross_setup` records each
setup's prefactor and own law, from which the advisor builds the setup part of the interval at the target
(advisor/setups.py) and answers `--setup NAME` for a known one; and the leave-one-setup-out validation
(cross_validate.py).

The first setup is the reference: its cells give the loss surface, the penalty model and the cell list
(those are properties of one setup's landscape and cannot be pooled); it should be the richest grid.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor.coded_warning import CodedWarning
from advisor.setup_record import CrossSetupRecord
import calibration.fit.cross_law as cross_law
from calibration.fit.cross_validate import leave_one_setup_out
from calibration.fit.joint import WithSources, record_joint, sources_stack
from calibration.fit.joint_record import INPUT_NAMES
from calibration.fit.law_setups import StackedSetups
from calibration.fit.table import FitInputError, read_table

# one-setup warnings about the pooled exponents' width: across setups their spread between setups is the
# larger uncertainty, carried by the setup part and said by `setup_exponent_differs`
CARRIED = {"lr_exponent_wide", "batch_exponent_wide"}
# columns whose several values in one table mean several setups (a cross-setup fit needs one table each)
SETUP_MARKERS = ("setup", "data_id", "tokenizer", "optimizer")

# Published laws fitted by other teams on their own sweeps that enter the setup part as setups (decided by
# the leave-one-setup-out measurement: docs/fitting.md, "Across setups")
PUBLISHED_SETUPS = ("deepseek",)
SPREAD_RULE = ("the setups' own laws (their prefactor, and their own slope for each input they span) at the "
               "target, around the pooled law: 90% prediction bound for one more setup, "
               "1.645 * sqrt(1 + 1/k) * their sd (k setups, published laws counted)")


@dataclass(frozen=True)
class AcrossSetups(StackedSetups):
    """Several setups on an equal footing: `tables` (name, table path) pairs, the first the reference (the
    table the fitter is given); `published_setups`: published laws that enter the setup part as setups;
    `validate_setups`: leave each setup out (cross_validate.py). The fitter also learns `cross_`
    (provenance.cross_setup)."""

    tables: tuple = ()
    published_setups: tuple = PUBLISHED_SETUPS
    validate_setups: bool = True

    def __post_init__(self) -> None:  # lists are fine: kept as tuples (hashable)
        object.__setattr__(self, "tables", tuple(self.tables))
        object.__setattr__(self, "published_setups", tuple(self.published_setups))
    how = "across the setups"
    same_setup = False  # the model is of a setup none of them is

    def get_params(self) -> dict:
        return {"tables": [name for name, _ in self.tables], "published_setups": list(self.published_setups),
                "validate_setups": self.validate_setups}

    def load(self, fitter) -> list:
        """Every table checked for mixed setups (the reference's included), then the others read."""
        if len(self.tables) < 2:
            raise FitInputError("a cross-setup fit needs two or more setups")
        names = [n for n, _ in self.tables]
        if len(set(names)) < len(names):
            raise FitInputError(f"a setup is given twice: {', '.join(names)}")
        for name, path in self.tables:
            check_one_setup(name, read_table(path))
        return WithSources(tuple(self.tables[1:])).load(fitter)

    def stacks(self, table, samples: dict, sources: list) -> dict:
        """Every setup's cells, the reference named (the bounds are used per form, in cross_law.fit_form)."""
        stacks = {law: sources_stack(table, samples, sources, law) for law in ("lr", "batch")}
        for st in stacks.values():
            st.names[0] = self.tables[0][0]
        return stacks

    def fit_forms(self, stack, forms, rng: np.random.Generator):
        return cross_law.fit_forms(stack, forms, rng)

    def record(self, fitter) -> None:
        """provenance.cross_setup (leave one setup out included) in place of a joint fit's record."""
        record_joint(fitter, anchored=False)
        fitter.provenance_.joint = None
        fitter.cross_ = cross_section(fitter, self)
        if self.validate_setups:
            fitter.cross_["leave_one_setup_out"] = leave_one_setup_out(fitter, self.published_setups)
        fitter.provenance_.cross_setup = CrossSetupRecord.from_json(fitter.cross_)  # the artifact's type
        reference = self.tables[0][0]
        warnings = [w for w in fitter.warnings_ if not w.code.startswith("joint_") and w.code not in CARRIED]
        fitter.warnings_ = [reference_edge_warning(w, reference) for w in warnings] + cross_warnings(fitter)
        fitter.artifact_.warnings = fitter.warnings_


def check_one_setup(name: str, raw) -> None:
    """FitInputError naming the table when it holds several setups (several values of a SETUP_MARKERS column):
    pooling them as one setup would hide the very spread the fit measures."""
    for col in SETUP_MARKERS:
        if col in raw.columns:
            values = sorted(raw[col].dropna().astype(str).unique())
            if len(values) > 1:
                where = ("its setup column holds" if col == "setup" else f"it has no setup column and its {col} holds")
                raise FitInputError(f"{name} mixes setups: {where} {', '.join(values[:4])}"
                                    f"{' ...' if len(values) > 4 else ''}; give each setup as its own table")


def cross_section(fitter, across: AcrossSetups) -> dict:
    """provenance.cross_setup: the setups, each law's pooled and own laws, the rule of the setup part."""
    laws = {law: cross_law.law_record(fits[0]) for law, fits in (("lr", fitter.lr_fits_), ("batch", fitter.batch_fits_))
            if fits}
    reference = across.tables[0][0]
    sources = [{"name": reference, "n_cells": len(fitter.table_.cells), "n_trials": len(fitter.trials_)}]
    sources += [{"name": s.name, "table_sha256": s.sha256, "n_trials": s.n_trials, "n_cells": len(s.table.cells)}
                for s in fitter.sources_]
    return {"mode": "unknown", "setups": sources, "published_setups": list(across.published_setups),
            "reference": reference, "spread_rule": SPREAD_RULE,
            "reference_only": "loss surface, penalty model and cells: the reference setup's", "laws": laws}


def reference_edge_warning(warning, reference: str):
    """The grid-edge count is over the reference setup's cells only (the other setups' edge optima enter the
    pooled laws as bounds), so its total must say whose cells it counts, not read as the pooled laws' total."""
    if not warning.code.endswith("_on_grid_edge") or " of " not in warning.message:
        return warning
    count, rest = warning.message.split(" of ", 1)
    return CodedWarning(warning.code, f"{count} of the reference setup {reference}'s {rest}"
                        .replace(" (down-weighted)", " (down-weighted; the other setups' edge optima enter the "
                                                      "pooled laws as bounds)"))


def cross_warnings(fitter) -> list:
    """One `setup_exponent_differs` warning naming every law whose setups' own exponents differ (tested)."""
    parts = []
    for law, rec in fitter.cross_["laws"].items():
        flagged = {n: s for n, s in rec["setups"].items() if s.get("inconsistent")}
        if not flagged:
            continue
        own = "; ".join(f"{name} " + ", ".join(f"{INPUT_NAMES.get(i, i)} {s['log_coef'][1 + j]:+.2f}"
                                               for j, i in enumerate(rec["inputs"]))
                        for name, s in rec["setups"].items() if "log_coef" in s)
        differs = ", ".join(f"{name}'s {INPUT_NAMES.get(i, i)}" for name, s in flagged.items() for i in s["inconsistent"])
        parts.append(f"{'LR' if law == 'lr' else 'batch'}: {own} (the difference's 90% interval excludes 0 for "
                     f"{differs})")
    if not parts:
        return []
    return [CodedWarning("setup_exponent_differs", "the setups' own exponents differ: " + "; ".join(parts) +
                         "; the point uses the pooled exponents, the setup part carries the spread")]
