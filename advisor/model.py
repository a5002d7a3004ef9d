"""FittedModel: the fitted-model artifact (docs/fitted-model.md, advisor/artifact.py) loaded for advice:
predictions with intervals.

Pure Python (math + json): the recommend path must start fast, so no numpy here.

Intervals: 90%, the quadrature sum of sampling, law-form and (for a model of another setup) setup
components at the target; advisor/intervals.py says how each is built.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from advisor.artifact import (SCHEMA, VERSION, FittedModelArtifact, LawEntry, LossEntry, ModelError, Provenance,
                              Validation)
from advisor.coded_warning import CodedWarning
from advisor.intervals import (COMPONENTS, Spread, Z90, beyond_range, bootstrap_spread, excess, extrapolated_point,
                              range_deviations, range_scales, weighted_candidates)
from advisor.bounded_read import read_text
from advisor.json_text import parse_object

__all__ = ["SCHEMA", "VERSION", "Z90", "ModelError", "Prediction", "FittedLaw", "FittedLossLaw", "FittedModel",
           "CodedWarning"]
LOG_LIMIT = 690.0  # exp() of more overflows a float


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
        names = [*COMPONENTS, *(k for k in self.components if k not in COMPONENTS)]  # e.g. an MoE's "sparsity"
        spreads = {name: self.components.get(name, Spread()) for name in names}  # a point law has none
        log_value = math.log(self.value)  # exp of the sum: a wide spread at a small value must not overflow
        out = {name: [math.exp(log_value - s.below), math.exp(log_value + s.above)] for name, s in spreads.items()}
        out["total"] = [self.low, self.high]
        return out


class FittedLaw:
    """One power law of the artifact (a LawEntry, advisor/artifact.py) ready to predict with its uncertainty:
    the entry's fields are read through, not copied (`entry`, `samples`, `residual_sd`, `cv_log2_error`,
    `n_cells`, `published`); `law` is its PowerLaw and `alternatives` its other forms, each a FittedLaw."""

    def __init__(self, entry: LawEntry) -> None:
        self.entry = entry
        self.law = entry.power_law()
        self.alternatives = [FittedLaw(a) for a in entry.alternatives]

    samples = property(lambda self: self.entry.samples)
    residual_sd = property(lambda self: self.entry.residual_sd)
    cv_log2_error = property(lambda self: self.entry.cv_log2_error)
    n_cells = property(lambda self: self.entry.n_cells)
    published = property(lambda self: self.entry.published)  # the source authors' own law scored (PublishedScore)

    def predict(self, point: dict[str, float], fit_range: dict | None = None,
                extra_forms: Sequence[tuple[float | None, Callable]] = (), setup_width: float = 0.0,
                range_forms: Sequence[Callable] = ()) -> Prediction:
        """Point and 90% interval at `point` (advisor/intervals.py). extra_forms: (error, log-value function
        of a point) of further candidate forms, e.g. the source authors' own law; setup_width: the setup
        component's half-width in log space (0 for a model of the target's own setup); range_forms: log-value
        functions of forms measured over a wider range (an MoE model's dense reading), candidates only
        beyond the fitted range, where their longer-measured exponents count."""
        fit_range = fit_range or {}
        chosen = self.law.log_predict(point)
        weighted = self._candidates(extra_forms) + [(1.0, f) for f in (range_forms if beyond_range(point, fit_range) else ())]
        candidates = [f for _, f in weighted]
        log_point = extrapolated_point(self.law.log_predict, weighted, point, fit_range)
        boot = bootstrap_spread([y - chosen for y in self.law.log_predict_each(point, self.samples)])
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
        """One law entry of the artifact's JSON (with its alternatives), validated."""
        return cls(LawEntry.from_json(d, where))

    @classmethod
    def from_entry(cls, entry: LawEntry) -> "FittedLaw":
        return cls(entry)

    def _candidates(self, extra_forms) -> list[tuple[float, Callable]]:
        """(weight for the point, log-value function) of the forms nearly as good as the chosen one
        (intervals.weighted_candidates: weighed by their held-out errors)."""
        pairs = [(a.cv_log2_error, a.law.log_predict) for a in self.alternatives] + list(extra_forms)
        return weighted_candidates(self.cv_log2_error, pairs, self.n_cells)

    def _range_excess(self, point: dict[str, float], fit_range: dict, boot: Spread) -> Spread:
        """What the range rule adds to the plain bootstrap beyond the fitted range (intervals.py)."""
        if not (self.samples and fit_range):
            return Spread()
        inputs, coef = self.law.inputs, self.law.log_coef
        clipped, scale = range_scales(inputs, point, fit_range)
        if all(v == 1.0 for v in scale.values()):
            return Spread()
        log_x = {n: math.log(point[n]) for n in inputs}
        wide = bootstrap_spread(range_deviations(inputs, coef, self.samples, log_x, clipped, scale))
        return excess(wide, boot)


class FittedLossLaw:
    """The fitted loss surface L(N, D) of the artifact (a LossEntry, read through) with its bootstrap draws."""

    def __init__(self, entry: LossEntry) -> None:
        self.entry = entry
        self.law = entry.loss_law()

    samples = property(lambda self: self.entry.samples)
    residual_sd = property(lambda self: self.entry.residual_sd)
    n_cells = property(lambda self: self.entry.n_cells)

    @classmethod
    def from_entry(cls, entry: LossEntry) -> "FittedLossLaw":
        return cls(entry)


class FittedModel:
    """The fitted-model artifact, validated, ready to predict. Build with `FittedModel.load(path)`,
    `from_dict(doc)` (the JSON) or `from_artifact(artifact)` (advisor/artifact.py).

    Learned state (sklearn-style trailing underscore): `artifact_` (the FittedModelArtifact), `lr_`,
    `batch_` (FittedLaw over the artifact's law entry, or None when the fit has none), `batch_unusable_` (why
    the batch law must not be used for advice, else None), `loss_` (FittedLossLaw or None), `fit_range_`,
    `provenance_` (Provenance) and `validation_` (Validation), also as `.provenance` and `.validation`,
    `warnings_` (CodedWarning: each a message with its `.code`), `cells_` (CellEntry): the artifact's own
    records, as in the fitter.
    """

    def __init__(self, artifact: FittedModelArtifact, path: str = "<artifact>", doc: dict | None = None) -> None:
        self.path = path
        self.artifact_ = artifact
        self._doc = doc  # the JSON as read, when it was
        laws = artifact.laws
        self.lr_ = FittedLaw(laws.lr)
        self.batch_ = FittedLaw(laws.batch) if laws.batch is not None else None
        self.batch_unusable_ = laws.batch_unusable_reason()
        self.loss_ = FittedLossLaw(laws.loss) if laws.loss is not None else None
        self.fit_range_ = artifact.fit_range
        self.provenance_ = artifact.provenance
        self.validation_ = artifact.validation
        self.cells_ = artifact.cells
        self.warnings_ = artifact.warnings
        self.penalty_ = artifact.penalty  # PenaltyModel, or None for a model fitted before version 2
        self.flops_formula = artifact.flops_formula
        self.sparsity_ = artifact.sparsity  # how an MoE's N enters (advisor/sparsity.py); None: dense only
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
            text = read_text(p)  # bounded: /dev/zero or a FIFO says size 0 and never ends
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"cannot read model file {p}: {exc}") from None
        try:
            doc = parse_object(text)
        except ValueError as exc:
            raise ModelError(f"model file {p}: {exc}") from None
        try:
            return cls(FittedModelArtifact.from_json(doc), str(p), doc)
        except ModelError as exc:
            raise ModelError(f"model file {p}: {exc}") from None

    @classmethod
    def from_dict(cls, doc: dict) -> "FittedModel":
        return cls(FittedModelArtifact.from_json(doc), "<dict>", doc)

    @classmethod
    def from_artifact(cls, artifact: FittedModelArtifact) -> "FittedModel":
        return cls(artifact)

    @property
    def provenance(self) -> Provenance:
        return self.provenance_

    @property
    def validation(self) -> Validation:
        return self.validation_

    @property
    def doc(self) -> dict:
        """The artifact's JSON: as read, or written out from the artifact (once) when built from one."""
        if self._doc is None:
            self._doc = self.artifact_.to_json()
        return self._doc

    # ------------------------------------------------------------------ predictions

    def predict_lr(self, n_params: float, tokens: float, extra_forms=(), setup_width: float = 0.0,
                   moe: tuple[float, float] | None = None, range_forms=()) -> Prediction:
        """See FittedLaw.predict for extra_forms, setup_width and range_forms. moe: (N_total, N_active) of an
        MoE target, n_params being the N the laws take for it (`n_for_laws`): adds the sparsity component."""
        self._refuse_off_line(n_params, tokens)
        pred = self.lr_.predict(_point(n_params, tokens), self.fit_range_, extra_forms, setup_width, range_forms)
        return self._with_sparsity(pred, "lr", moe, tokens)

    def predict_batch(self, n_params: float, tokens: float, extra_forms=(), setup_width: float = 0.0,
                      moe: tuple[float, float] | None = None, range_forms=()) -> Prediction:
        if self.batch_ is None:
            raise ModelError(f"{self.path} has no batch law: {self.batch_unusable_}")
        self._refuse_off_line(n_params, tokens)
        pred = self.batch_.predict(_point(n_params, tokens), self.fit_range_, extra_forms, setup_width, range_forms)
        return self._with_sparsity(pred, "batch", moe, tokens)

    def _refuse_off_line(self, n_params: float, tokens: float) -> None:
        """A table that moved N and D together answers only along its line (advisor/collinearity.py)."""
        line = self.artifact_.nd_line
        reason = line.off_line_reason(n_params, tokens) if line is not None else None
        if reason:
            raise ModelError(reason)

    def n_for_laws(self, n_total: float, n_active: float) -> float:
        """The N the laws take for a target of n_total (non-embedding) with n_active active per token."""
        if self.sparsity_ is not None:
            return self.sparsity_.n_for_laws(n_total, n_active)
        if n_active < n_total:
            raise ModelError(f"the model {self.shipped_ and self.shipped_.get('name') or self.path} was fitted on "
                             "dense runs and records no sparsity: it cannot say how an MoE's active and total counts "
                             "enter; use a model fitted on MoE runs (the shipped steplaw-moe), or drop the active count")
        return n_total

    def _with_sparsity(self, pred: Prediction, law: str, moe, tokens: float) -> Prediction:
        """An MoE target beyond the measured totals: the point moves by half the alternative reading's increment
        in the total, and a `sparsity` component reaches both readings (advisor/sparsity.py)."""
        if moe is None or self.sparsity_ is None or self.sparsity_.alternative is None:
            return pred
        shift, alternative = self.sparsity_.alternative_shift(law, moe[0], moe[1], tokens)
        own = math.log(pred.value)
        log_point = own + shift
        spread = Spread.reaching(log_point, [own, alternative])
        parts = {**pred.components, "sparsity": spread}
        total = Spread.quadrature(*parts.values())
        return Prediction(math.exp(log_point), math.exp(log_point - total.below), math.exp(log_point + total.above),
                          parts)

    @property
    def same_setup_as_target_(self) -> bool:
        """Whether the fit's data come from the setup the user will train (their own calibration): then
        no setup component. Recorded by `advisor fit`; older files: true for calibrations only."""
        return self.artifact_.provenance.is_same_setup()

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
        prov = self.artifact_.provenance
        shipped = self.shipped_ or {}
        return {
            "name": shipped.get("name"),
            "description": shipped.get("description"),
            "path": self.path,
            "created_at": self.artifact_.created_at,
            "source": prov.source,
            "data_id": prov.data_id,
            "tokenizer": prov.tokenizer,
            "n_trials_used": prov.n_trials_used,
            "n_cells": prov.n_cells,
            # the setups the laws rest on: a cross-setup fit's with their counts, a joint fit's sources without
            "setups": [{"name": s.name, "n_trials": s.n_trials, "n_cells": s.n_cells}
                       for s in (prov.cross_setup.setups or [] if prov.cross_setup else [])],
            "code_version": prov.code_version,
            "lr_form": self.lr_.law.form,
            "batch_form": self.batch_.law.form if self.batch_ is not None else None,
            "batch_unusable": self.batch_unusable_,
            "notes": prov.notes,
        }

    @property
    def optimizer(self) -> dict:
        return self.artifact_.provenance.optimizer

    @property
    def schedule(self) -> dict:
        return self.artifact_.provenance.schedule


def _point(n_params: float, tokens: float) -> dict[str, float]:
    return {"n_params": n_params, "tokens": tokens, "flops": 6.0 * n_params * tokens}
