"""The peak LR and batch for a target: `answer_from_model` (a fitted model's laws, with their 90% intervals and
what published laws add to them) or `answer_from_law` (a published point law), each an `Answer` that carries
its own warnings.

- batch: when the fitted model has no usable batch law (none, or one that traces the grid's edge),
  DeepSeek LLM's B(C) law (arXiv 2401.02954) stands in, and the answer says so.
- an MoE: the model's sparsity record says which N its laws take (advisor/sparsity.py) and what its sweep
  cannot support at the target (a total beyond the measured ones).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from advisor import shape as shapes
from advisor.answer_source import AnswerSource, LawSource, ModelSource
from advisor.coded_warning import CodedWarning
from advisor.errors import AdvisorError
from advisor.laws import FALLBACK_BATCH_LAW, HYPERPARAMETER_LAWS, LOSS_PRESETS, SETUP_LAWS, PublishedLaw, Target
from advisor.model import FittedModel, Prediction
from advisor.units import format_count

FAR_EXTRAPOLATION = 10.0  # factor beyond the fitted range that earns a warning
# The fit's warnings about its batch law, left out when a published law stands in for the batch size.
BATCH_LAW_WARNINGS = frozenset({"batch_on_grid_edge", "batch_edge_at_one_sequence", "batch_law_is_bound"})


@dataclass
class Answer:
    """The LR and batch (with intervals) for a target, where they came from and what the recipe rests on."""

    lr: Prediction
    batch: Prediction
    extrapolation: dict  # factor beyond the fitted range, per input (empty for a published law)
    batch_source: str  # "model", or "law:<key>" when a published law stood in for the batch size
    source: AnswerSource  # the model's summary or the published law's name, citation and formula
    optimizer: dict  # the calibration's optimizer settings ({} for a published law)
    schedule: dict  # the calibration's schedule ({} for a published law)
    n_params_laws: float  # the N the laws were evaluated at
    warnings: list[CodedWarning] = field(default_factory=list)
    moe_shift: dict | None = None  # an MoE beyond the measured totals (Sparsity.total_shift)
    setups: dict | None = None  # a cross-setup model's summary at the target (advisor/setup_answer.py)


def answer_from_model(fitted: FittedModel, shape: shapes.Shape, d: float, seq: int, setup: str | None = None) -> Answer:
    lr, batch, extrapolation, batch_source, setups, warnings = _from_model(fitted, shape, d, seq, setup)
    moe_shift, moe = None, shape.moe_counts
    if moe is not None:
        extrapolation = {**extrapolation, "n_params_total": fitted.sparsity_.total_beyond(moe[0])}
        moe_shift = fitted.sparsity_.total_shift(*moe, d, batch_source == "model")
        warnings.extend(fitted.sparsity_.target_warnings(*moe, moe_shift))
    if fitted.penalty_ is None:
        warnings.append(CodedWarning("no_penalty_model", _no_penalty_text(fitted)))
    if fitted.optimizer.get("name") == "muon":  # a model fitted on Muon proxies (docs/optimizers.md)
        from advisor.muon_lr import convention_line

        warnings.append(CodedWarning("muon_model", "this model's laws are Muon's: the peak LR is the Muon part's "
                                     f"({fitted.optimizer.get('muon_lr_convention', 'original')} convention), the "
                                     "AdamW settings below are its AdamW part's (LR × adam_lr_ratio "
                                     f"{fitted.optimizer.get('adam_lr_ratio')}). "
                                     + convention_line(lr.value, int(round(shape.d_model)))))
    if not isinstance(fitted.optimizer.get("weight_decay"), (int, float)):
        warnings.append(CodedWarning(
            "no_optimizer_settings", "the model does not record the weight decay its LR law was measured under (nor "
            "the other optimizer settings): λ comes from the τ rule; match the source's training setup where you can"))
    return Answer(lr, batch, extrapolation, batch_source, ModelSource.from_summary(fitted.summary()), fitted.optimizer,
                  fitted.schedule, shape.n_for_laws(fitted), warnings, moe_shift, setups)


def _no_penalty_text(fitted: FittedModel) -> str:
    """Why there are no tolerance ranges; `advisor fit` named only where a refit would give them (a file
    written before the penalty model existed), not for a fit that had too few runs near the optima."""
    if (fitted.doc.get("version") or 1) < 2:
        return ("the model has no penalty model (fitted before version 2): no tolerance ranges; refit it with "
                "`advisor fit` to get them")
    return ("the model has no penalty model (its sweep had too few runs near the optima to fit one): no "
            "tolerance ranges; a sweep with more points around each optimum would give them")


def answer_from_law(published: PublishedLaw, shape: shapes.Shape, d: float, seq: int) -> Answer:
    lr, batch = from_law(published, shape, d, seq)
    warning = CodedWarning("published_point_law", f"{published.name} is a published point law: no interval, and it "
                           "was fitted on that paper's data and tokenizer")
    return Answer(lr, batch, {}, f"law:{published.key}",
                  LawSource("law", published.key, published.name, published.citation, published.formula), {}, {}, shape.n_params, [warning])


def _from_model(fitted: FittedModel, shape: shapes.Shape, d: float, seq: int, setup: str | None):
    """(LR, batch, extrapolation, batch source, the setups' summary, warnings) from the model's laws."""
    n, moe = shape.n_for_laws(fitted), shape.moe_counts
    evidence = published_evidence(fitted, shape, d, seq, setup)
    shifts = {law: evidence[law].pop("shift", 0.0) for law in evidence}
    lr_values = {law: evidence[law].pop("values", None) for law in evidence}["lr"]
    if moe is not None:  # beyond the MoE sweep's range, its dense reading is a candidate form
        for law in ("lr", "batch"):
            form = fitted.sparsity_.alternative_form(law, *moe)
            evidence[law]["range_forms"] = [form] if form is not None else []
    lr = _shifted(fitted.predict_lr(n, d, **evidence["lr"], moe=moe), shifts["lr"])
    warnings = []
    if fitted.batch_unusable_ is None:
        batch = _shifted(fitted.predict_batch(n, d, **evidence["batch"], moe=moe), shifts["batch"])
        batch_source = "model"
    else:
        batch, batch_source, warnings = _stand_in_batch(fitted, shape, d, seq)
    for name, p in (("LR", lr), ("batch size", batch)):
        if not (p.value > 0 and math.isfinite(p.value)):
            raise AdvisorError(f"the model's {name} law gives {p.value:.3g} here: the target is outside what it can "
                               "say")
    extrapolation = fitted.extrapolation(n, d)
    warnings += _fit_warnings(fitted, extrapolation, batch_source)
    from advisor.setup_answer import disagreement_warning, summary

    setups = summary(fitted, {"values": lr_values} if lr_values is not None else None, setup)
    warnings.extend(disagreement_warning(setups))
    return lr, batch, extrapolation, batch_source, setups, warnings


def _stand_in_batch(fitted: FittedModel, shape: shapes.Shape, d: float, seq: int):
    """(batch, its source, warnings) from the published law that stands in for an unusable batch law."""
    stand_in = HYPERPARAMETER_LAWS[FALLBACK_BATCH_LAW]
    batch = from_law(stand_in, shape, d, seq)[1]
    warnings = [CodedWarning("batch_from_published_law", f"batch size from {stand_in.name} ({stand_in.citation}), "
                             f"not from this model: {fitted.batch_unusable_}")]
    calibrated = fitted.fit_range_.get("batch_tokens")
    if calibrated:
        warnings.append(CodedWarning("lr_calibrated_at_other_batch", "the peak LR was calibrated at batches of "
                        f"{format_count(calibrated[0])}–{format_count(calibrated[1])} tokens, not at this batch: the "
                        "optimal LR grows with "
                        "the batch, so treat it as a lower anchor for a short LR sweep"))
    return batch, f"law:{stand_in.key}", warnings


def _fit_warnings(fitted: FittedModel, extrapolation: dict, batch_source: str) -> list[CodedWarning]:
    """How far the target is from what the fit saw and what the fit itself warns about."""
    warnings = []
    far = {k: f for k, f in extrapolation.items() if f > FAR_EXTRAPOLATION}
    if far:
        what = ", ".join(f"{k} {f:.3g}×" for k, f in far.items())
        warnings.append(CodedWarning("far_extrapolation", f"far extrapolation beyond the fitted range ({what}): "
                                     "treat as a starting point for a short LR sweep, not an answer"))
    held = fitted.validation_.held_out_largest
    if held is not None:
        for err, label in ((held.lr_log2_error, "LR"), (held.batch_log2_error, "batch")):
            if err is not None and err > 1.0:
                warnings.append(CodedWarning("held_out_error_large", f"held-out {label} error is {2**err:.2g}× (mean "
                                             f"|log2| {err:.2g}): the law extrapolated poorly even within the proxies"))
    model_warnings = fitted.warnings_
    if batch_source != "model":  # the stand-in warning above already says why the batch law is unused
        model_warnings = [w for w in model_warnings if getattr(w, "code", None) not in BATCH_LAW_WARNINGS]
    warnings.extend(model_warnings)
    if not fitted.lr_.samples or (batch_source == "model" and not fitted.batch_.samples):
        warnings.append(CodedWarning("no_bootstrap_samples", "the model has no bootstrap samples: the sampling "
                                     "component is the residual scatter alone, and exponents get no extra width "
                                     "beyond the fitted range"))
    return warnings


def published_evidence(fitted: FittedModel, shape, d: float, seq: int, setup: str | None = None) -> dict[str, dict]:
    """Per law ("lr", "batch"): what published laws add to the prediction (advisor/intervals.py). The
    source authors' own law is another candidate form for the same data (with its error on our cells).
    The setup component: for a model fitted across setups, measured from them (advisor/setups.py; none for
    `setup`, a known one, whose own law shifts the point: "shift"); else the spread of the independent
    published laws at the target, used only when the model is not of the user's own setup (a shipped model
    is never)."""
    cross = cross_evidence(fitted, shape, d, seq, setup)
    if cross is not None:
        return cross
    other_setup = fitted.shipped_ is not None or not fitted.same_setup_as_target_
    at_target = {key: from_law(HYPERPARAMETER_LAWS[key], shape, d, seq) for key in SETUP_LAWS}
    out = {}
    for law, index in (("lr", 0), ("batch", 1)):
        own = getattr(fitted.lr_ if law == "lr" else fitted.batch_, "published", None)
        forms = []
        if own and own.law in HYPERPARAMETER_LAWS and own.log2_error is not None:
            forms.append((own.log2_error, law_as_form(HYPERPARAMETER_LAWS[own.law], shape.vocab_size, seq, index)))
        logs = [math.log(at_target[key][index].value) for key in SETUP_LAWS]
        out[law] = {"extra_forms": forms, "setup_width": max(logs) - min(logs) if other_setup else 0.0}
    return out


def law_as_form(published: PublishedLaw, vocab_size: int, seq: int, index: int):
    """A published law as a log-value function of a point (n_params, tokens), like a fitted form."""
    def log_value(point: dict[str, float]) -> float:
        s = shapes.from_nonembedding(point["n_params"], vocab_size)
        answer = published.evaluate(Target(point["n_params"], point["tokens"], seq, s.n_layer, s.d_model))
        value = (answer.lr, answer.batch_tokens)[index]
        return math.log(value) if value and value > 0 else float("nan")

    return log_value


def cross_evidence(fitted: FittedModel, shape, d: float, seq: int, setup: str | None) -> dict | None:
    """published_evidence for a model with a cross_setup record (advisor/setup_answer.py), else None."""
    from advisor.setup_answer import cross_record, evidence

    if cross_record(fitted) is None:
        return None
    n = shape.n_for_laws(fitted)
    point = {"n_params": n, "tokens": d, "flops": 6.0 * n * d}
    out = {}
    for law, index in (("lr", 0), ("batch", 1)):
        published = {key: law_as_form(HYPERPARAMETER_LAWS[key], shape.vocab_size, seq, index) for key in SETUP_LAWS}
        found = evidence(fitted, law, point, published, setup) or {"setup_width": 0.0, "shift": 0.0, "values": {}}
        out[law] = {"extra_forms": [], "setup_width": found["setup_width"], "shift": found["shift"],
                    "values": found["values"]}
    return out


def _shifted(pred: Prediction, shift: float) -> Prediction:
    """A prediction moved by a log offset (a known setup's own law against the pooled one)."""
    if not shift:
        return pred
    f = math.exp(shift)
    return Prediction(pred.value * f, pred.low * f, pred.high * f, pred.components)


def from_law(published: PublishedLaw, shape, d: float, seq: int) -> tuple[Prediction, Prediction]:
    loss_law = LOSS_PRESETS["chinchilla"]
    target = Target(shape.n_params, d, seq, shape.n_layer, shape.d_model,
                    loss=loss_law.loss(loss_law.n_of(shape), d), loss_source=loss_law.citation)
    answer = published.evaluate(target)
    if (answer.lr is None or answer.batch_tokens is None or not answer.lr > 0 or not answer.batch_tokens > 0
            or not math.isfinite(answer.lr * answer.batch_tokens)):
        raise AdvisorError(f"{published.name} gives no answer here: {'; '.join(answer.notes)}")
    return (Prediction(answer.lr, answer.lr, answer.lr),
            Prediction(answer.batch_tokens, answer.batch_tokens, answer.batch_tokens))
