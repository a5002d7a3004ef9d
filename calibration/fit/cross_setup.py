"""Laws fitted across setups (`advisor fit --setups A B ...`): the model for a setup none of them is.

A JointFitter whose laws treat every setup alike (cross_law.py): a prefactor per setup, the exponents
shared, each setup's own slopes tested against the others' (the consistency test of the joint fit with
that setup in MINE's place). The artifact's laws are the unknown setup's: the mean prefactor with the
shared exponents and their joint bootstrap. `provenance.cross_setup` records each setup's prefactor and
own law, from which the advisor builds the setup part of the interval at the target (advisor/setups.py)
and answers `--setup NAME` for a known one; and the leave-one-setup-out validation (cross_validate.py).

The first setup is the reference: its cells give the loss surface, the penalty model and the cell list
(those are properties of one setup's landscape and cannot be pooled); it should be the richest grid.
"""
from __future__ import annotations

import numpy as np

from advisor.setup_record import CrossSetupRecord
from calibration.fit import cross_law
from calibration.fit.joint import INPUT_NAMES, JointFitter, stack
from calibration.fit.laws import BATCH_FORMS, LR_FORMS
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


# An anchor pins your prefactor, not the slopes you borrow: their spread between the sources, carried from your
# cells to the target. Published C-only laws (DeepSeek's) imply no slope in N at fixed D that anyone measured:
# they are left out here (with them the anchored 7B/2T widths reached 1e2-1e5x; docs/fitting.md)
ANCHORED_RULE = ("the sources' own slopes, for each exponent your fit borrowed, carried from your cells' geometric "
                 "centre to the target, around the pooled law: 1.645 * sqrt(1 + 1/k) * their sd (k sources)")


class CrossSetupFitter(JointFitter):
    """Fit several setups (a list of (name, table path); the first is the reference) across setups."""

    def __init__(self, setups, n_boot: int = 1000, seed: int = 0, near_optimal: float = 0.0025,
                 loss_surface: bool = True, loss_boot_max: int | None = None, progress: bool = False,
                 published_setups=PUBLISHED_SETUPS, validate_setups: bool = True) -> None:
        setups = list(setups)
        if len(setups) < 2:
            raise FitInputError("a cross-setup fit needs two or more setups")
        names = [n for n, _ in setups]
        if len(set(names)) < len(names):
            raise FitInputError(f"a setup is given twice: {', '.join(names)}")
        super().__init__(setups[1:], n_boot=n_boot, seed=seed, near_optimal=near_optimal, loss_surface=loss_surface,
                         loss_boot_max=loss_boot_max, progress=progress)
        self.setups = setups
        self.published_setups = tuple(published_setups)
        self.validate_setups = validate_setups

    def fit(self, trials=None, columns=None, **kw) -> "CrossSetupFitter":
        from calibration.fit.table import ColumnMap

        for setup_name, setup_path in self.setups:
            check_one_setup(setup_name, read_table(setup_path))
        name, path = self.setups[0]
        kw.setdefault("table_name", name)
        return super().fit(path if trials is None else trials, columns or ColumnMap(), **kw)

    def _fit_laws(self) -> None:
        table, rng = self.table_, np.random.default_rng(self.seed)
        from calibration.fit.bootstrap import resample_optima

        self._mine_samples = {}
        if self.n_boot > 0:
            s_lr, s_b, s_loss = resample_optima(table.cells, table.optima, self.n_boot, rng, self.progress)
            self._mine_samples = {"lr": s_lr, "batch": s_b, "loss": s_loss}
        self.stacks_ = {law: stack(table, self._mine_samples, self.sources_, law) for law in ("lr", "batch")}
        for st in self.stacks_.values():
            st.names[0] = self.setups[0][0]
        law_rng = np.random.default_rng(self.seed + 3)
        self.lr_fits_, self.lr_skipped_ = cross_law.fit_forms(self.stacks_["lr"], LR_FORMS, law_rng)
        if not self.lr_fits_:
            raise FitInputError("no LR law form can be fitted across the setups ("
                                + "; ".join(f"{s.form}: {s.reason}" for s in self.lr_skipped_) + ")")
        self.batch_fits_, self.batch_skipped_ = cross_law.fit_forms(self.stacks_["batch"], BATCH_FORMS, law_rng)
        self._fit_loss_surface()

    def _build_artifact(self, raw, columns, excluded, table_name, table_sha256, notes) -> None:
        super()._build_artifact(raw, columns, excluded, table_name, table_sha256, notes)
        self.provenance_.same_setup_as_target = False
        self.provenance_.joint = None
        self.cross_ = cross_section(self)
        if self.validate_setups:
            from calibration.fit.cross_validate import leave_one_setup_out

            self.cross_["leave_one_setup_out"] = leave_one_setup_out(self)
        self.provenance_.cross_setup = CrossSetupRecord.from_json(self.cross_)  # the artifact's type
        self.warnings_ = [w for w in self.warnings_ if not w.code.startswith("joint_") and w.code not in CARRIED]
        self.warnings_ = [reference_edge_warning(w, self.setups[0][0]) for w in self.warnings_]
        self.warnings_ += cross_warnings(self)
        self.artifact_.warnings = self.warnings_


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


def law_record(fit, mode: str = "unknown", anchor: dict | None = None) -> dict:
    """One law's part of provenance.cross_setup (advisor/setups.py reads it)."""
    setups = {}
    for name, s in fit.joint["setups"].items():
        if "log_coef" not in s:
            continue
        pooled = [float(np.log(s["prefactor"]))] + [fit.joint["exponents"][n]["shared"]["value"] for n in fit.form.inputs]
        setup_law = s["log_coef"] if s["inconsistent"] else pooled  # --setup NAME: own slopes only where they differ
        setups[name] = {**{k: v for k, v in s.items() if k != "tests"}, "setup_log_coef": [float(v) for v in setup_law],
                        "tests": {n: {k: t[k] for k in ("mine", "others", "difference", "inconsistent")}
                                  for n, t in s.get("tests", {}).items()}}
    out = {"form": fit.form.name, "inputs": list(fit.form.inputs),
           "pooled_log_coef": [float(v) for v in fit.log_coef], "setups": setups}
    if anchor is not None:
        out["anchor"] = anchor
    return out


def anchored_section(fitter) -> dict | None:
    """provenance.cross_setup of a joint fit (your cells pin your prefactor): each source's own slopes and
    the published setups', whose spread around the pooled exponents, pinned at your cells' geometric centre,
    is the setup part of your interval (advisor/setups.py, mode `anchored`). None for a cross-setup fit."""
    if isinstance(fitter, CrossSetupFitter):
        return None
    laws = {}
    for law, fits in (("lr", fitter.lr_fits_), ("batch", fitter.batch_fits_)):
        if not fits:
            continue
        st, form = fitter.stacks_[law], fits[0].form
        mine = (st.gid == 0) & (st.w > 0)
        rng = np.random.default_rng(fitter.seed + 5)
        setups = {st.names[g]: {"log_coef": cross_law.own_law(st, form, g, rng)["log_coef"]}
                  for g in st.present() if g != 0}
        anchor = {k: float(np.exp(np.log(st.inputs[k][mine]).mean())) for k in ("n_params", "tokens")}
        own = [n for n, e in fits[0].joint["exponents"].items() if e["status"] == "own"]
        laws[law] = {"form": form.name, "inputs": list(form.inputs), "own": own,
                     "pooled_log_coef": [float(v) for v in fits[0].log_coef], "setups": setups, "anchor": anchor}
    return {"mode": "anchored", "setups": [{"name": s.name} for s in fitter.sources_],
            "published_setups": [], "spread_rule": ANCHORED_RULE, "laws": laws}


def cross_section(fitter) -> dict:
    """provenance.cross_setup: the setups, each law's pooled and own laws, the rule of the setup part."""
    laws = {law: law_record(fits[0]) for law, fits in (("lr", fitter.lr_fits_), ("batch", fitter.batch_fits_)) if fits}
    sources = [{"name": fitter.setups[0][0], "n_cells": len(fitter.table_.cells), "n_trials": len(fitter.trials_)}]
    sources += [{"name": s.name, "table_sha256": s.sha256, "n_trials": s.n_trials, "n_cells": len(s.table.cells)}
                for s in fitter.sources_]
    return {"mode": "unknown", "setups": sources, "published_setups": list(fitter.published_setups),
            "reference": fitter.setups[0][0], "spread_rule": SPREAD_RULE,
            "reference_only": "loss surface, penalty model and cells: the reference setup's", "laws": laws}


def reference_edge_warning(warning, reference: str):
    """The grid-edge count is over the reference setup's cells only (the other setups' edge optima enter the
    pooled laws as bounds), so its total must say whose cells it counts, not read as the pooled laws' total."""
    from advisor.coded_warning import CodedWarning

    if not warning.code.endswith("_on_grid_edge") or " of " not in warning.message:
        return warning
    count, rest = warning.message.split(" of ", 1)
    return CodedWarning(warning.code, f"{count} of the reference setup {reference}'s {rest}"
                        .replace(" (down-weighted)", " (down-weighted; the other setups' edge optima enter the "
                                                      "pooled laws as bounds)"))


def cross_warnings(fitter) -> list:
    """One `setup_exponent_differs` warning naming every law whose setups' own exponents differ (tested)."""
    from advisor.coded_warning import CodedWarning

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
