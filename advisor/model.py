"""FittedModel: load and validate the fitted-model artifact (docs/fitted-model.md), predict with intervals.

Pure Python (math + json): the recommend path must start fast, so no numpy here.

Intervals: 90%, the quadrature sum of sampling, law-form and (for a model of another setup) setup
components at the target; advisor/intervals.py says how each is built.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from advisor.intervals import (COMPONENTS, Spread, Z90, bootstrap_spread, excess, extrapolated_point, form_candidates,
                              range_deviation, range_scales)
from advisor.laws import LossLaw, PowerLaw

SCHEMA = "scaling-advisor/fitted-model"
VERSION = 1
LOG_LIMIT = 690.0  # exp() of more overflows a float
LOSS_PARAMS = ("E", "A", "alpha", "B", "beta")
# When more than this fraction of the cells had their batch optimum on the grid's edge, the batch law
# traces the edge of the grid, not an optimum: a bound, not an estimate, and not to be extrapolated.
EDGE_BOUND_FRACTION = 0.5


class ModelError(ValueError):
    """The fitted-model file cannot be used (one-line message naming the problem)."""


@dataclass(frozen=True)
class Prediction:
    """A point estimate with a 90% interval [low, high]; `components` holds the spread of each source of
    uncertainty on its own (advisor/intervals.py), the interval being their quadrature sum."""

    value: float
    low: float
    high: float
    components: dict = field(default_factory=dict, compare=False)  # name -> Spread (log half-widths)

    @property
    def ratio(self) -> float:
        """Width of the interval as high/low (1.0 = exact)."""
        return self.high / self.low

    def component_bounds(self) -> dict[str, list[float]]:
        """Each component's interval on its own, and the total, as [low, high] values."""
        spreads = {name: self.components.get(name, Spread()) for name in COMPONENTS}  # a point law has none
        out = {name: [self.value * math.exp(-s.below), self.value * math.exp(s.above)] for name, s in spreads.items()}
        out["total"] = [self.low, self.high]
        return out


@dataclass
class FittedLaw:
    """One power law of the artifact with its uncertainty and diagnostics."""

    law: PowerLaw
    samples: list[tuple[float, ...]] = field(default_factory=list)
    residual_sd: float = 0.0
    cv_log2_error: float | None = None
    n_cells: int | None = None
    alternatives: list["FittedLaw"] = field(default_factory=list)
    published: dict | None = None  # the source authors' own law: {"law": key, "log2_error": e}

    def predict(self, point: dict[str, float], fit_range: dict | None = None,
                extra_forms: Sequence[tuple[float | None, Callable]] = (), setup_width: float = 0.0) -> Prediction:
        """Point and 90% interval at `point` (advisor/intervals.py). extra_forms: (error, log-value function
        of a point) of further candidate forms, e.g. the source authors' own law; setup_width: the setup
        component's half-width in log space (0 for a model of the target's own setup)."""
        fit_range = fit_range or {}
        chosen = self.law.log_predict(point)
        candidates = self._candidates(extra_forms)
        log_point = extrapolated_point(self.law.log_predict, candidates, point, fit_range)
        boot = bootstrap_spread([self.law.log_predict(point, s) - chosen for s in self.samples])
        parts = {"sampling": Spread.quadrature(boot, Spread.symmetric(Z90 * self.residual_sd)),
                 "law_form": Spread.quadrature(
                     Spread.reaching(log_point, [chosen] + [f(point) for f in candidates]),
                     self._range_excess(point, fit_range, boot)),
                 "setup": Spread.symmetric(setup_width)}
        total = Spread.quadrature(*parts.values())
        low, high = log_point - total.below, log_point + total.above
        if not (math.isfinite(low) and math.isfinite(high)) or max(abs(low), abs(high)) > LOG_LIMIT:
            raise ModelError(f"the {self.law.form or 'law'} prediction is out of numeric range here "
                             f"(log value {log_point:.3g}): the target is far outside what the law can say")
        return Prediction(math.exp(log_point), math.exp(low), math.exp(high), parts)

    @classmethod
    def from_json(cls, d: dict, where: str = "law") -> "FittedLaw":
        """One law entry of the artifact (with its alternatives), validated."""
        return _parse_power_law(d, where)

    def _candidates(self, extra_forms) -> list[Callable]:
        """Log-value functions of the forms nearly as good as the chosen one (intervals.form_candidates)."""
        pairs = [(a.cv_log2_error, a.law.log_predict) for a in self.alternatives] + list(extra_forms)
        return form_candidates(self.cv_log2_error, pairs)

    def _range_excess(self, point: dict[str, float], fit_range: dict, boot: Spread) -> Spread:
        """What the range rule adds to the plain bootstrap beyond the fitted range (intervals.py)."""
        if not (self.samples and fit_range):
            return Spread()
        inputs, coef = self.law.inputs, self.law.log_coef
        clipped, scale = range_scales(inputs, point, fit_range)
        if all(v == 1.0 for v in scale.values()):
            return Spread()
        log_x = {n: math.log(point[n]) for n in inputs}
        wide = bootstrap_spread([range_deviation(inputs, coef, s, log_x, clipped, scale) for s in self.samples])
        return excess(wide, boot)


@dataclass
class FittedLossLaw:
    law: LossLaw
    samples: list[tuple[float, ...]] = field(default_factory=list)
    residual_sd: float = 0.0
    n_cells: int | None = None


class FittedModel:
    """The fitted-model artifact, validated. Build with `FittedModel.load(path)` or `from_dict(doc)`.

    Learned state (sklearn-style trailing underscore): `lr_`, `batch_` (FittedLaw, or None when the fit
    has none), `batch_unusable_` (why the batch law must not be used for advice, else None), `loss_`
    (FittedLossLaw or None), `fit_range_`, `provenance_`, `validation_`, `warnings_`, `cells_`.
    """

    def __init__(self, doc: dict, path: str = "<dict>") -> None:
        self.path = path
        self.doc = doc
        _check_header(doc)
        laws = doc.get("laws")
        if not isinstance(laws, dict):
            raise ModelError("missing 'laws' section")
        if not isinstance(laws.get("lr"), dict):
            raise ModelError("missing laws.lr")
        if "batch" not in laws or not (laws["batch"] is None or isinstance(laws["batch"], dict)):
            raise ModelError("missing laws.batch (null is allowed when the fit could not estimate it)")
        self.lr_ = _parse_power_law(laws["lr"], "laws.lr")
        self.batch_ = _parse_power_law(laws["batch"], "laws.batch") if laws["batch"] is not None else None
        self.batch_unusable_ = _batch_unusable_reason(laws["batch"])
        self.loss_ = _parse_loss_law(laws.get("loss"))
        self.fit_range_ = _parse_fit_range(doc.get("fit_range"))
        self.provenance_ = doc.get("provenance") if isinstance(doc.get("provenance"), dict) else {}
        self.validation_ = doc.get("validation") if isinstance(doc.get("validation"), dict) else {}
        self.cells_ = doc.get("cells") if isinstance(doc.get("cells"), list) else []
        self.warnings_ = [str(w) for w in doc.get("warnings") or [] if w]
        self.flops_formula = str(doc.get("flops_formula", "6ND"))
        self.shipped_: dict | None = None  # the catalog entry when this is a shipped model (set by the loader)

    @classmethod
    def load(cls, path: str | Path) -> "FittedModel":
        p = Path(path)
        try:
            exists = p.is_file()
        except (OSError, ValueError):  # e.g. a NUL byte in the name
            exists = False
        if not exists:
            if p.is_dir():
                raise ModelError(f"{p} is a directory; pass the model JSON file (e.g. {p / 'model.json'})")
            raise ModelError(f"model file not found: {p}")
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"cannot read model file {p}: {exc}") from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"model file {p} is not valid JSON (truncated?): {exc}") from None
        if not isinstance(doc, dict):
            raise ModelError(f"model file {p} does not hold a JSON object")
        try:
            return cls(doc, str(p))
        except ModelError as exc:
            raise ModelError(f"model file {p}: {exc}") from None

    @classmethod
    def from_dict(cls, doc: dict) -> "FittedModel":
        return cls(doc)

    # ------------------------------------------------------------------ predictions

    def predict_lr(self, n_params: float, tokens: float, extra_forms=(), setup_width: float = 0.0) -> Prediction:
        """See FittedLaw.predict for extra_forms and setup_width."""
        return self.lr_.predict(_point(n_params, tokens), self.fit_range_, extra_forms, setup_width)

    def predict_batch(self, n_params: float, tokens: float, extra_forms=(), setup_width: float = 0.0) -> Prediction:
        if self.batch_ is None:
            raise ModelError(f"{self.path} has no batch law: {self.batch_unusable_}")
        return self.batch_.predict(_point(n_params, tokens), self.fit_range_, extra_forms, setup_width)

    @property
    def same_setup_as_target_(self) -> bool:
        """Whether the fit's data come from the setup the user will train (their own calibration): then
        no setup component. Recorded by `advisor fit`; older files: true for calibrations only."""
        flag = self.provenance_.get("same_setup_as_target")
        return flag if isinstance(flag, bool) else self.provenance_.get("source") == "calibration"

    def extrapolation(self, n_params: float, tokens: float) -> dict[str, float]:
        """Factor beyond the fitted range per input (1.0 = inside; 100 = 100× beyond the edge)."""
        point = _point(n_params, tokens)
        factors = {}
        for name, (lo, hi) in self.fit_range_.items():
            if name not in point:
                continue
            x = point[name]
            factors[name] = x / hi if x > hi else (lo / x if x < lo else 1.0)
        return factors

    def summary(self) -> dict:
        """A short provenance summary for recommendations."""
        prov = self.provenance_
        shipped = self.shipped_ or {}
        return {
            "name": shipped.get("name"),
            "description": shipped.get("description"),
            "path": self.path,
            "created_at": self.doc.get("created_at"),
            "source": prov.get("source"),
            "data_id": prov.get("data_id"),
            "tokenizer": prov.get("tokenizer"),
            "n_trials_used": prov.get("n_trials_used"),
            "n_cells": prov.get("n_cells"),
            "code_version": prov.get("code_version"),
            "lr_form": self.lr_.law.form,
            "batch_form": self.batch_.law.form if self.batch_ is not None else None,
            "batch_unusable": self.batch_unusable_,
            "notes": prov.get("notes") or [],
        }

    @property
    def optimizer(self) -> dict:
        opt = self.provenance_.get("optimizer")
        return opt if isinstance(opt, dict) else {}

    @property
    def schedule(self) -> dict:
        sched = self.provenance_.get("schedule")
        return sched if isinstance(sched, dict) else {}


def _batch_unusable_reason(raw: dict | None) -> str | None:
    """Why the artifact's batch law must not be used for advice (None when it can be)."""
    if raw is None:
        return "the fit could not estimate a batch law"
    edge, cells = raw.get("n_edge_cells"), raw.get("n_cells")
    if isinstance(edge, int) and isinstance(cells, int) and cells > 0 and edge > EDGE_BOUND_FRACTION * cells:
        return (f"{edge} of {cells} calibration cells had their batch optimum on the grid's edge, so the "
                "fitted batch law is a bound, not an estimate")
    return None


def _point(n_params: float, tokens: float) -> dict[str, float]:
    return {"n_params": n_params, "tokens": tokens, "flops": 6.0 * n_params * tokens}


def _check_header(doc: dict) -> None:
    if doc.get("schema") != SCHEMA:
        raise ModelError(f"not a fitted model: schema is {doc.get('schema')!r}, expected {SCHEMA!r}")
    if doc.get("version") != VERSION:
        raise ModelError(f"unsupported fitted-model version {doc.get('version')!r} (this advisor reads {VERSION})")


def _finite_numbers(values, where: str) -> tuple[float, ...]:
    if not isinstance(values, (list, tuple)) or not values:
        raise ModelError(f"{where} must be a non-empty list of numbers")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ModelError(f"{where} holds a non-number: {v!r}")
        if not math.isfinite(v):
            raise ModelError(f"{where} holds a non-finite number ({v})")
        out.append(float(v))
    return tuple(out)


def _usable_samples(raw, width: int) -> list[tuple[float, ...]]:
    """Bootstrap draws of the right width with finite values (failed draws are dropped, not fatal)."""
    samples = []
    numbers = {int, float}
    for s in raw or []:
        # set(map(type, ...)) and fsum run in C: this loop is most of loading a model (cold start)
        if isinstance(s, (list, tuple)) and len(s) == width and set(map(type, s)) <= numbers \
                and math.isfinite(math.fsum(s)):
            samples.append(tuple(map(float, s)))
    return samples


def _optional_number(d: dict, key: str) -> float | None:
    v = d.get(key)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def _parse_power_law(d: dict, where: str, nested: bool = False) -> FittedLaw:
    inputs = d.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise ModelError(f"{where}.inputs must be a list of names")
    coef = _finite_numbers(d.get("log_coef"), f"{where}.log_coef")
    try:
        law = PowerLaw(tuple(inputs), coef, str(d.get("form", "")))
    except ValueError as exc:
        raise ModelError(f"{where}: {exc}") from None
    sd = _optional_number(d, "residual_sd") or 0.0
    alternatives = []
    if not nested:
        for i, alt in enumerate(d.get("alternatives") or []):
            if isinstance(alt, dict):
                alternatives.append(_parse_power_law(alt, f"{where}.alternatives[{i}]", nested=True))
    n_cells = d.get("n_cells")
    published = d.get("published")
    return FittedLaw(
        law=law,
        samples=_usable_samples(d.get("samples"), len(coef)),
        residual_sd=abs(sd),
        cv_log2_error=_optional_number(d, "cv_log2_error"),
        n_cells=n_cells if isinstance(n_cells, int) else None,
        alternatives=alternatives,
        published=published if isinstance(published, dict) and isinstance(published.get("law"), str) else None,
    )


def _parse_loss_law(d) -> FittedLossLaw | None:
    if d is None:
        return None
    if not isinstance(d, dict):
        raise ModelError("laws.loss must be an object or null")
    names = d.get("param_names") or list(LOSS_PARAMS)
    values = _finite_numbers(d.get("values"), "laws.loss.values")
    if sorted(names) != sorted(LOSS_PARAMS) or len(values) != len(names):
        raise ModelError(f"laws.loss must name the parameters {list(LOSS_PARAMS)}")
    by_name = dict(zip(names, values))
    law = LossLaw(**{k: by_name[k] for k in LOSS_PARAMS}, name="fitted", citation="this model's loss fit")
    order = [names.index(k) for k in LOSS_PARAMS]
    samples = [tuple(s[i] for i in order) for s in _usable_samples(d.get("samples"), len(names))]
    n_cells = d.get("n_cells")
    return FittedLossLaw(law, samples, abs(_optional_number(d, "residual_sd") or 0.0),
                         n_cells if isinstance(n_cells, int) else None)


def _parse_fit_range(d) -> dict[str, tuple[float, float]]:
    ranges = {}
    if not isinstance(d, dict):
        return ranges
    for name, pair in d.items():
        if (isinstance(pair, (list, tuple)) and len(pair) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)
                and all(math.isfinite(v) and v > 0 for v in pair)):
            ranges[name] = (float(min(pair)), float(max(pair)))
    return ranges
