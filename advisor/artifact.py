"""The fitted-model artifact (docs/fitted-model.md) as types: what `advisor fit` writes and the advisor reads.

One representation for both sides: the fitter (calibration/fit/) builds a `FittedModelArtifact` and
serialises it with `to_json()`; `advisor/model.py` parses a file with `FittedModelArtifact.from_json()`
and predicts from it. Parsing validates (a `ModelError` with a one-line message naming the problem) and
is lenient where older files differ: optional keys may be missing, warnings may be plain strings, failed
bootstrap draws are dropped. Rules about the artifact's content are decided here, once
(`traces_grid_edge`: when a law is only a bound).

Pure Python (math, json-compatible values): the advisor's cold start reads this.
"""
from __future__ import annotations

import math
from dataclasses import field, fields
from itertools import chain

from advisor.artifact_check import check_artifact
from advisor.artifact_record import ModelError, Record
from advisor.coded_warning import CodedWarning
from advisor.collinearity import NDLine
from advisor.json_record import json_of, read_record, record, record_fields
from advisor.laws import LossLaw, PowerLaw
from advisor.penalty import PenaltyModel
from advisor.setup_record import CrossSetupRecord, JointRecord
from advisor.sparsity import Sparsity
from advisor.units import is_number, number_pair

SCHEMA = "scaling-advisor/fitted-model"
VERSION = 2  # 2 added the penalty model (`penalty`); version-1 files still load, without one
READABLE_VERSIONS = (1, 2)
FLOPS_FORMULA = "6ND"
LOSS_FORM = "E+A/N^alpha+B/D^beta"
LOSS_PARAMS = ("E", "A", "alpha", "B", "beta")
# When more than this fraction of a law's cells had their optimum on the grid's edge, the law traces the
# edge of the grid, not an optimum: a bound, not an estimate, and not to be extrapolated.
EDGE_BOUND_FRACTION = 0.5


def traces_grid_edge(n_edge_cells: int | None, n_cells: int | None) -> bool:
    """The rule for "this law is a bound": more than EDGE_BOUND_FRACTION of the cells it was fitted to
    (weight > 0) had their optimum for it on the grid's edge."""
    if not isinstance(n_edge_cells, int) or not isinstance(n_cells, int) or n_cells <= 0:
        return False
    return n_edge_cells > EDGE_BOUND_FRACTION * n_cells


# ------------------------------------------------------------------ laws

@record
class SkippedForm(Record):
    """A law form that could not be fitted, and why."""

    form: str = ""
    reason: str = ""


@record
class PublishedScore(Record):
    """The source authors' own law scored on our cells: its key in advisor.laws, mean |log2 error|, cells."""

    law: str
    log2_error: float | None = None
    n_cells: int | None = None

    @classmethod
    def from_json(cls, d, where: str = "published") -> "PublishedScore | None":
        """None when the record names no law (older files)."""
        return read_record(cls, d, where, ModelError) if isinstance(d, dict) and isinstance(d.get("law"), str) else None


def _as_written(value, where):
    return value


def _form_name(value, where) -> str:
    return "" if value is None else str(value)


@record
class LawEntry(Record):
    """One power law: log y = log_coef[0] + sum_i log_coef[i+1]·log(inputs[i]); the chosen form carries the
    other forms (`alternatives`), the forms that could not be fitted (`skipped`) and its diagnostics."""

    KEEP_NULL = ("cv_log2_error", "n_cells")  # written as null when None

    form: str = field(metadata={"read": _form_name})
    inputs: tuple[str, ...]
    log_coef: tuple[float, ...]
    # bootstrap draws of log_coef; read by from_json (draws of the wrong width or not finite are dropped)
    samples: list[tuple[float, ...]] = field(default_factory=list, metadata={"read": _as_written})
    residual_sd: float = 0.0  # sd of log residuals across cells
    cv_log2_error: float | None = None  # leave-one-size-out mean |log2 error|
    n_cells: int | None = None  # cells with weight > 0
    cell_scatter_sd: float | None = None  # between-cell scatter added in the bootstrap
    alternatives: list["LawEntry"] = field(default_factory=list)
    skipped: list[SkippedForm] = field(default_factory=list)
    n_edge_cells: int | None = None  # cells (weight > 0) whose optimum for this law is on the grid edge
    published: PublishedScore | None = None  # the source authors' own law scored on our cells

    @property
    def forms(self) -> list["LawEntry"]:
        """The chosen form first, then the alternatives."""
        return [self, *self.alternatives]

    @property
    def is_bound(self) -> bool:
        return traces_grid_edge(self.n_edge_cells, self.n_cells)

    def bound_reason(self, quantity: str) -> str | None:
        """Why this law is a bound, not an estimate (None when it is an estimate); quantity: "LR" or "batch"."""
        if not self.is_bound:
            return None
        return (f"{self.n_edge_cells} of {self.n_cells} calibration cells had their {quantity} optimum on the "
                f"grid's edge, so the fitted {quantity} law is a bound, not an estimate")

    def power_law(self) -> PowerLaw:
        return PowerLaw(self.inputs, self.log_coef, self.form)

    def to_json(self, nested: bool = False) -> dict:
        """An alternative (nested) is written without its own alternatives, skipped forms and diagnostics."""
        out = json_of(self, keep_null=self.KEEP_NULL, only=NESTED_LAW_KEYS)
        if nested:
            return out
        out["alternatives"] = [a.to_json(nested=True) for a in self.alternatives]
        return {**out, **json_of(self, only=OWN_LAW_KEYS[1:])}

    @classmethod
    def from_json(cls, d, where: str = "law") -> "LawEntry":
        entry = read_record(cls, d, where, ModelError)
        entry.residual_sd = abs(entry.residual_sd)
        try:
            entry.power_law()
        except ValueError as exc:
            raise ModelError(f"{where}: {exc}") from None
        entry.samples = _usable_samples(entry.samples, len(entry.log_coef))
        return entry


# What an alternative form (nested in the chosen one) leaves out; every other field it writes (a new field too)
OWN_LAW_KEYS = ("alternatives", "skipped", "n_edge_cells", "published")
NESTED_LAW_KEYS = tuple(f.name for f in fields(LawEntry) if f.name not in OWN_LAW_KEYS)


@record
class LossEntry(Record):
    """The loss surface L = E + A/N^alpha + B/D^beta; values and samples in LOSS_PARAMS order."""

    READ_BY_TYPE = False  # from_json below reads it

    values: tuple[float, ...]
    samples: list[tuple[float, ...]] = field(default_factory=list)
    residual_sd: float = 0.0  # in nats
    n_cells: int | None = None

    def by_name(self) -> dict[str, float]:
        return dict(zip(LOSS_PARAMS, self.values))

    def loss_law(self) -> LossLaw:
        return LossLaw(**self.by_name(), name="fitted", citation="this model's loss fit")

    def to_json(self) -> dict:
        return {"form": LOSS_FORM, "param_names": list(LOSS_PARAMS), "values": list(self.values),
                "samples": [list(s) for s in self.samples], "residual_sd": self.residual_sd, "n_cells": self.n_cells}

    @classmethod
    def from_json(cls, d, where: str = "laws.loss") -> "LossEntry | None":
        """Parameters may come in any order (named by param_names); null: no loss surface."""
        if d is None:
            return None
        if not isinstance(d, dict):
            raise ModelError(f"{where} must be an object or null")
        names = d.get("param_names") or list(LOSS_PARAMS)
        values = _finite_numbers(d.get("values"), f"{where}.values")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names) \
                or sorted(names) != sorted(LOSS_PARAMS) or len(values) != len(names):
            raise ModelError(f"{where} must name the parameters {list(LOSS_PARAMS)}")
        order = [names.index(k) for k in LOSS_PARAMS]
        samples = _usable_samples(d.get("samples"), len(names))
        if order != sorted(order):  # parameters stored in another order than LOSS_PARAMS
            samples = [tuple(s[i] for i in order) for s in samples]
        return cls(tuple(values[i] for i in order), samples, abs(_number(d, "residual_sd") or 0.0),
                   _integer(d, "n_cells"))


@record
class Laws(Record):
    """The fitted laws: the optimal LR, the optimal batch and the loss surface."""

    KEEP_NULL = ("batch", "loss")  # written as null when None

    READ_BY_TYPE = False  # from_json below reads it

    lr: LawEntry
    batch: LawEntry | None = None  # None: the fit could not estimate a batch law
    loss: LossEntry | None = None  # None: no loss surface

    def batch_unusable_reason(self) -> str | None:
        """Why the batch law must not be used for advice (None when it can be)."""
        if self.batch is None:
            return "the fit could not estimate a batch law"
        return self.batch.bound_reason("batch")


    @classmethod
    def from_json(cls, laws, where: str = "laws") -> "Laws":
        if not isinstance(laws, dict):
            raise ModelError("missing 'laws' section")
        if not isinstance(laws.get("lr"), dict):
            raise ModelError("missing laws.lr")
        if "batch" not in laws or not (laws["batch"] is None or isinstance(laws["batch"], dict)):
            raise ModelError("missing laws.batch (null is allowed when the fit could not estimate it)")
        batch = LawEntry.from_json(laws["batch"], "laws.batch") if laws["batch"] is not None else None
        return cls(LawEntry.from_json(laws["lr"], "laws.lr"), batch, LossEntry.from_json(laws.get("loss")))


# ------------------------------------------------------------------ cells and validation

@record
class ProfileRecord(Record):
    """A coordinate-descent cell's 1-D LR or batch profile: what it supports about the optimum (support:
    interior | diverged_beyond | upper_bound | lower_bound | not_swept), the best value, the distinct values
    that trained, the smallest and largest tried, the bound and the grid step (log2)."""

    support: str | None = None
    value: float | None = None
    values: int | None = None
    tried: tuple[float, float] | None = None
    bound: float | None = None
    step_log2: float | None = None


@record
class CellEntry(Record):
    """One (N, D) cell's optimum, as the laws were fitted to it."""

    n_params: float | None = None
    tokens: float | None = None
    flops: float | None = None
    lr_opt: float | None = None
    batch_opt: float | None = None
    loss_opt: float | None = None
    best_loss: float | None = None  # best measured loss (mean over seeds at one grid point)
    n_trials: int | None = None
    method: str | None = None  # how the optimum was found (docs/fitting.md, "Cell optimum")
    weight: float | None = None  # weight in the LR law
    weight_batch: float | None = None
    flags: list[str] = field(default_factory=list)
    near_optimal_lr: tuple[float, float] | None = None
    near_optimal_batch: tuple[float, float] | None = None
    lr_opt_ci90: tuple[float, float] | None = None
    batch_opt_ci90: tuple[float, float] | None = None
    lr_profile: ProfileRecord | None = None  # coordinate-descent cells: what the 1-D LR profile supports
    batch_profile: ProfileRecord | None = None


@record
class HeldOutCell(Record):
    """A held-out cell: the refit's prediction against the cell's own optimum, and the regret."""

    n_params: float | None = None
    tokens: float | None = None
    lr_pred: float | None = None
    lr_opt: float | None = None
    batch_pred: float | None = None
    batch_opt: float | None = None
    batch_predicted: bool | None = None  # false: read at the cell's own optimal batch
    loss_at_pred: float | None = None
    loss_opt: float | None = None
    regret_pct: float | None = None
    outside_grid: bool | None = None  # the prediction lies off the measured grid: regret is a lower bound
    nearest_run_regret_pct: float | None = None
    read_through: str | None = None  # "local fit" or "measured grid"
    published_law_nearest_run_regret_pct: float | None = None


@record
class HeldOutForms(Record):
    """The form chosen again for each law without the held-out cells (null: no form could be fitted)."""

    KEEP_NULL = ("lr", "batch")  # written as null when None

    lr: str | None = None
    batch: str | None = None



@record
class HeldOutSummary(Record):
    """One held-out view (the largest size, or each cell in turn): mean errors and regret, or why skipped."""

    n_params: float | None = None  # the held-out size (held_out_largest)
    skipped: str | None = None
    forms: HeldOutForms | None = None
    lr_log2_error: float | None = None
    batch_log2_error: float | None = None  # None: no batch law or no cell with a swept batch
    loss_regret_pct: float | None = None
    nearest_run_regret_pct: float | None = None
    any_outside_grid: bool | None = None
    cells: list[HeldOutCell] | None = None
    n_cells: int | None = None

    def to_json(self) -> dict:
        out = json_of(self)
        if not self.skipped and self.batch_log2_error is None:
            out["batch_log2_error"] = None
        return out


@record
class CoverageCell(Record):
    """One held-out optimum against the 90% interval the refit predicts for it."""

    STRICT = True
    n_params: float | None = None
    tokens: float | None = None
    measured: float | None = None
    point: float | None = None
    low: float | None = None
    high: float | None = None
    inside: bool | None = None
    form: str | None = None


@record
class LawCoverage(Record):
    """One law's coverage in one view: `inside` of `n` held-out optima in their intervals, or why skipped."""

    STRICT = True
    inside: int | None = None
    n: int | None = None
    fraction: float | None = None
    median_width_ratio: float | None = None  # the intervals' median high/low
    cells: list[CoverageCell] | None = None  # kept for the held-out largest size
    skipped: str | None = None


@record
class CoverageView(Record):
    """Coverage of the LR and batch laws in one held-out view, or why the view was skipped."""

    STRICT = True
    lr: LawCoverage | None = None
    batch: LawCoverage | None = None
    skipped: str | None = None

    def laws(self) -> dict[str, LawCoverage]:
        return {name: law for name, law in (("lr", self.lr), ("batch", self.batch)) if law is not None}


@record
class IntervalCoverage(Record):
    """Held-out optima against the 90% intervals (docs/fitted-model.md): the nominal level, the interval
    components counted, and the two held-out views."""

    STRICT = True
    nominal: float | None = None
    components: list[str] | None = None
    held_out_largest: CoverageView | None = None
    leave_one_cell_out: CoverageView | None = None

    def views(self) -> dict[str, CoverageView]:
        return {name: view for name, view in (("held_out_largest", self.held_out_largest),
                                              ("leave_one_cell_out", self.leave_one_cell_out)) if view is not None}


@record
class Validation(Record):
    """Held-out errors of the fitted laws and the coverage of their intervals."""

    held_out_largest: HeldOutSummary | None = None
    leave_one_cell_out: HeldOutSummary | None = None
    coverage: IntervalCoverage | None = None  # held-out optima against the 90% intervals


# ------------------------------------------------------------------ provenance and the whole artifact

@record
class Provenance(Record):
    """Where the fit came from. Scalars are kept as written (a table may hold several values of a column,
    written as a list; advisor/artifact_check.py refuses a wrong type); proxy, optimizer, schedule, ... are
    open-ended dicts; the records of a fit over several setups are types (advisor/setup_record.py)."""

    KEEP_NULL = ("source_name", "trials_code_version")  # written as null when None

    READ_BY_TYPE = False  # from_json below reads it

    source: str | None = None  # "calibration" or "external"
    same_setup_as_target: bool | None = None
    source_name: str | None = None  # a shipped source's name
    table: str | None = None
    table_sha256: str | None = None
    data_id: object = None
    tokenizer: object = None
    proxy: dict = field(default_factory=dict)
    optimizer: dict = field(default_factory=dict)
    schedule: dict = field(default_factory=dict)
    n_trials: int | None = None
    n_trials_used: int | None = None
    n_excluded: dict = field(default_factory=dict)
    n_cells: int | None = None
    code_version: object = None
    trials_code_version: object = None
    bootstrap: int | None = None
    loss_bootstrap: int | None = None
    seed: int | None = None
    near_optimal: float | None = None
    columns: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    published_law: str | None = None  # only for a shipped source whose authors published a law
    joint: JointRecord | None = None  # a joint fit with public sweeps (advisor/setup_record.py)
    cross_setup: CrossSetupRecord | None = None  # the setups' own laws: the setup part (advisor/setups.py)
    extra: dict = field(default_factory=dict)  # keys this version does not know, kept as they are

    def is_same_setup(self) -> bool:
        """Whether the fit's data come from the setup the user will train; files without the flag: true
        for calibrations only."""
        flag = self.same_setup_as_target
        return flag if isinstance(flag, bool) else self.source == "calibration"

    def to_json(self) -> dict:
        out = json_of(self, keep_null=self.KEEP_NULL)
        extra = out.pop("extra", {})
        return {**out, **extra}

    @classmethod
    def from_json(cls, d, where: str = "provenance") -> "Provenance":
        if not isinstance(d, dict):
            return cls()
        known = {f.name for f in fields(cls)} - {"extra"}
        prov = cls(**{k: v for k, v in d.items() if k in known}, extra={k: v for k, v in d.items() if k not in known})
        for name in ("proxy", "optimizer", "schedule", "n_excluded", "columns"):
            if not isinstance(getattr(prov, name), dict):
                setattr(prov, name, {})
        prov.notes = [str(n) for n in prov.notes] if isinstance(prov.notes, list) else []
        if not isinstance(prov.same_setup_as_target, bool):
            prov.same_setup_as_target = None
        for name, record_type in record_fields(cls).items():  # the typed records in it, by their types
            value = getattr(prov, name)
            setattr(prov, name, record_type.from_json(value, f"{where}.{name}") if isinstance(value, dict) else None)
        return prov


def _provenance(value, where) -> Provenance:
    return Provenance.from_json(value)


def _laws(value, where) -> Laws:
    return Laws.from_json(value)


def _fit_range_of(value, where) -> dict[str, tuple[float, float]]:
    return _fit_range(value)


@record
class FittedModelArtifact(Record):
    """The whole fitted model (schema scaling-advisor/fitted-model, version 2)."""

    KEEP_NULL = ("created_at", "penalty")  # written as null when None

    provenance: Provenance = field(metadata={"read": _provenance})
    # [min, max] per quantity over the cells used in the fits
    fit_range: dict[str, tuple[float, float]] = field(metadata={"read": _fit_range_of})
    laws: Laws = field(metadata={"read": _laws})
    validation: Validation = field(default_factory=Validation)
    cells: list[CellEntry] = field(default_factory=list)
    warnings: list[CodedWarning] = field(default_factory=list)
    created_at: str | None = None
    flops_formula: str = FLOPS_FORMULA
    penalty: PenaltyModel | None = None  # the cost of being off (advisor/penalty.py); None before version 2
    # how an MoE's N enters (advisor/sparsity.py); optional and additive: None for a dense model
    sparsity: Sparsity | None = None
    # the line N and D were moved along when the table cannot separate them (advisor/collinearity.py);
    # optional and additive: None when the table varies D at a given N
    nd_line: NDLine | None = None

    def to_json(self) -> dict:
        """Every field (None left out, but for created_at and penalty), in the order of TOP_KEYS first."""
        body = json_of(self, keep_null=self.KEEP_NULL)
        head = {k: body.pop(k) for k in TOP_KEYS if k in body}
        return {"schema": SCHEMA, "version": VERSION, **head, **body}

    @classmethod
    def from_json(cls, doc, where: str = "") -> "FittedModelArtifact":
        if not isinstance(doc, dict):
            raise ModelError("the fitted model is not a JSON object")
        if doc.get("schema") != SCHEMA:
            raise ModelError(f"not a fitted model: schema is {doc.get('schema')!r}, expected {SCHEMA!r}")
        if doc.get("version") not in READABLE_VERSIONS:
            raise ModelError(f"unsupported fitted-model version {doc.get('version')!r} (this advisor reads "
                             f"{', '.join(map(str, READABLE_VERSIONS))})")
        for key in ("cells", "warnings"):  # a model whose warnings cannot be read must not pass for one without
            if doc.get(key) is not None and not isinstance(doc[key], list):
                raise ModelError(f"{key} must be a list, got {type(doc[key]).__name__}")
        artifact = read_record(cls, doc, where, ModelError)
        check_artifact(artifact, ModelError)  # every field by its declared type; laws finite on their range
        return artifact


# The order of the artifact's first keys in the file (docs/fitted-model.md); other fields follow in field order.
TOP_KEYS = ("created_at", "flops_formula", "provenance", "fit_range", "laws", "penalty", "validation", "cells",
            "warnings")


# ------------------------------------------------------------------ reading and writing values

def _finite_numbers(values, where: str) -> tuple[float, ...]:
    if not isinstance(values, (list, tuple)) or not values:
        raise ModelError(f"{where} must be a non-empty list of numbers")
    out = []
    for v in values:
        if not is_number(v):
            raise ModelError(f"{where} holds a non-number or a non-finite number: {v!r}")
        out.append(float(v))
    return tuple(out)


def _usable_samples(raw, width: int) -> list[tuple[float, ...]]:
    """Bootstrap draws of the right width with finite values (failed draws are dropped, not fatal)."""
    if isinstance(raw, list) and _all_float_draws(raw, width):  # the common case, checked at once in C
        return list(map(tuple, raw))
    samples = []
    numbers = {int, float}
    for s in raw or []:
        # set(map(type, ...)) and fsum run in C: this loop is most of loading a model (cold start)
        if isinstance(s, (list, tuple)) and len(s) == width and set(map(type, s)) <= numbers \
                and math.isfinite(math.fsum(s)):
            samples.append(tuple(map(float, s)))
    return samples


def _all_float_draws(raw: list, width: int) -> bool:
    """Every draw a list of `width` floats whose sum is finite (so each is): then nothing is dropped."""
    return (set(map(type, raw)) <= {list} and set(map(len, raw)) <= {width}
            and set(map(type, chain.from_iterable(raw))) <= {float}
            and math.isfinite(math.fsum(chain.from_iterable(raw))))


def _number(d: dict, key: str) -> float | None:
    v = d.get(key)
    return float(v) if is_number(v) else None


def _integer(d: dict, key: str) -> int | None:
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _fit_range(d) -> dict[str, tuple[float, float]]:
    """[min, max] per quantity; pairs that are not two positive finite numbers are left out."""
    ranges = {}
    for name, pair in (d.items() if isinstance(d, dict) else ()):
        values = number_pair(pair)
        if values and min(values) > 0:
            ranges[name] = (min(values), max(values))
    return ranges
