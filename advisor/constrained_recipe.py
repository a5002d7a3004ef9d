"""`recommend --batch B` and `recommend --lr X`: the recipe when one of the two is fixed (by the cluster, or
by a run already going), from the fitted loss surface around the joint optimum (advisor/constrained.py).

    from advisor.constrained_recipe import recommend_constrained
    rec = recommend_constrained("7B", "2T", batch="4M")   # rec.lr: the best LR at 4M tokens
    rec.unconstrained["lr"], rec.constraint["cost_pct"]

`lr` and `batch_tokens` are what to train with under the constraint; the joint optimum sits beside them
under `unconstrained`, and `constraint` says what was held, what the fixed √ and linear rules would give
and what the constraint costs in loss against the joint optimum (with its 90% interval).
"""
from __future__ import annotations

import math
from dataclasses import replace

from advisor import recipe
from advisor import rules as recipe_rules
from advisor.coded_warning import UNSPECIFIED, CodedWarning
from advisor.constrained import RULES, constrained_optimum
from advisor.errors import AdvisorError
from advisor.interval_bounds import ComponentBounds
from advisor.recipe import Recommendation, recommend
from advisor.rules import beta2_rule, practical_batch_seqs
from advisor.units import format_count, parse_quantity
from advisor.unknown_optimum import informative

ABSURD_LR_RATIO = 1000.0  # an LR this far from the optimum (either way) is refused: a typo or the wrong unit
METHOD = ("argmin of the fitted penalty surface P(u, v) (u = log2 LR/LR*, v = log2 B/B*; its u·v term: a larger "
          "batch wants a larger LR) along the free axis, the other held; interval: the optimum's own 90% interval "
          "moved with it, and the spread of the argmin over the penalty model's bootstrap draws, in quadrature")


def recommend_constrained(params=None, tokens=None, *, batch=None, lr=None, model=None, law=None,
                          **target) -> Recommendation:
    """The recipe with the batch (tokens, e.g. "4M") or the peak LR fixed; the rest as `recommend`.
    `target` takes recommend's other keywords (seq_len, vocab_size, config, active_params, ...)."""
    if (batch is None) == (lr is None):
        raise AdvisorError("give one of batch= or lr= to hold (both: `advisor check` costs a full plan)")
    if law is not None:
        raise AdvisorError("batch= and lr= read a fitted model's loss surface; a published law (law=) has none")
    fitted = model_with_penalty(model, target)
    rec = recommend(params, tokens, model=fitted, **target)
    if rec.batch_source != "model":
        raise AdvisorError(f"this model's batch comes from a published law ({rec.batch_source[4:]}), not its own "
                           "sweep: the surface around it is not measured, so batch=/lr= cannot be answered")
    n = rec.n_params_laws or rec.n_params
    if batch is not None:
        return _at_batch(rec, fitted, n, _batch_tokens(batch, rec))
    return _at_lr(rec, fitted, n, _lr_value(lr, rec))


def model_with_penalty(model, target: dict):
    """The fitted model that serves the target (the MoE model for an MoE), refused without a penalty model."""
    moe = target.get("active_params") is not None or target.get("n_params_active_nonembedding") is not None
    fitted, _ = recipe.load_moe_source(model) if moe else recipe.load_source(model, None)
    if fitted.penalty_ is None:
        raise AdvisorError(f"the model {fitted.path} has no penalty model (fitted before version 2): refit it with "
                           "`advisor fit` to answer batch=/lr=")
    return fitted


def _batch_tokens(batch, rec: Recommendation) -> float:
    tokens = parse_quantity(batch, "batch=")
    if tokens < rec.seq_len:
        raise AdvisorError(f"batch={format_count(tokens)} tokens is smaller than one sequence of {rec.seq_len}")
    if tokens > rec.tokens:
        raise AdvisorError(f"batch={format_count(tokens)} tokens is larger than the whole training run "
                           f"({format_count(rec.tokens)} tokens)")
    return tokens


def _lr_value(lr, rec: Recommendation) -> float:
    value = parse_quantity(lr, "lr=")
    if not 1 / ABSURD_LR_RATIO <= value / rec.lr <= ABSURD_LR_RATIO:
        raise AdvisorError(f"lr={value:g} is {value / rec.lr:.3g}× the optimum {rec.lr:.3g}: not an LR this tool "
                           "can say anything about (a typo, or the wrong unit?)")
    return value


def _at_batch(rec: Recommendation, fitted, n: float, batch: float) -> Recommendation:
    """The best LR at a held batch."""
    seqs = max(1, round(batch / rec.seq_len))
    v = math.log2(seqs * rec.seq_len / rec.batch_tokens)
    opt = constrained_optimum(fitted.penalty_, n, rec.tokens, "batch", v)
    lr = rec.lr * 2.0 ** opt["offset"]
    rules = {name: rec.lr * 2.0 ** (slope * v) for name, slope in RULES.items()}
    constraint = {"fixed": "batch_tokens", "value": batch, "batch_seqs": seqs, "batch_ratio": 2.0 ** v,
                  "lr_ratio": lr / rec.lr, "rules_lr": rules, **_cost_fields(opt)}
    lr_bounds = _moved(rec.lr_interval, rec.lr, 2.0 ** opt["offset"], _spread(opt))
    return _rebuilt(rec, fitted, lr, lr_bounds, seqs * rec.seq_len, _fixed_bounds(seqs * rec.seq_len), seqs,
                    constraint)


def _at_lr(rec: Recommendation, fitted, n: float, lr: float) -> Recommendation:
    """The best batch at a held LR, rounded to a practical number of sequences; its cost at that batch."""
    u = math.log2(lr / rec.lr)
    opt = constrained_optimum(fitted.penalty_, n, rec.tokens, "lr", u)
    best = rec.batch_tokens * 2.0 ** opt["offset"]
    seqs = practical_batch_seqs(best, rec.seq_len)
    if seqs * rec.seq_len > rec.tokens / recipe_rules.MIN_STEPS:
        raise AdvisorError(f"at lr={lr:g} the best batch ({format_count(best)} tokens) leaves fewer than "
                           f"{recipe_rules.MIN_STEPS} steps of the run: not an LR to train this run with")
    cost = fitted.penalty_.predict(n, rec.tokens, u, math.log2(seqs * rec.seq_len / rec.batch_tokens))
    rules = {name: rec.batch_tokens * 2.0 ** (u / slope) for name, slope in RULES.items() if slope > 0}
    constraint = {"fixed": "lr", "value": lr, "batch_ratio": best / rec.batch_tokens, "lr_ratio": lr / rec.lr,
                  "rules_batch_tokens": rules, **_cost_fields({**opt, "cost": cost})}
    batch_bounds = _moved(rec.batch_interval, rec.batch_tokens, 2.0 ** opt["offset"], _spread(opt))
    return _rebuilt(rec, fitted, lr, _fixed_bounds(lr), best, batch_bounds, seqs, constraint)


def _cost_fields(opt: dict) -> dict:
    cost = opt["cost"]
    return {"cost_pct": cost.pct, "cost_pct_low": cost.low, "cost_pct_high": cost.high, "risky": cost.risky,
            "cost_is_lower_bound": cost.at_least,  # beyond 4×: the value at the edge (advisor/penalty.py)
            "extrapolated": cost.extrapolated, "beyond_validated": opt["beyond_validated"],
            "offset_log2": opt["offset"], "offset_log2_interval": [opt["offset_low"], opt["offset_high"]],
            "at_search_edge": opt["at_search_edge"], "surface_minimum_at_optimum_log2": opt["home"],
            "method": METHOD}


def _spread(opt: dict) -> tuple[float, float]:
    """The surface's own uncertainty about the free axis, as log distances below and above the point."""
    return (opt["offset"] - opt["offset_low"]) * math.log(2), (opt["offset_high"] - opt["offset"]) * math.log(2)


def _moved(bounds: ComponentBounds, point: float, factor: float, spread: tuple[float, float]) -> ComponentBounds:
    """The joint optimum's interval components moved by `factor` with its point, a `surface` component, and
    the total: on each side the quadrature sum of the joint total's and the surface's log widths."""
    value = point * factor
    out = {name: [lo * factor, hi * factor] for name, (lo, hi) in bounds.components().items()}
    lo, hi = bounds.total
    below, above = math.log(point / lo), math.log(hi / point)
    out["surface"] = [value * math.exp(-spread[0]), value * math.exp(spread[1])]
    out["total"] = [value * math.exp(-math.hypot(below, spread[0])), value * math.exp(math.hypot(above, spread[1]))]
    return ComponentBounds.from_dict(out)


def _fixed_bounds(value: float) -> ComponentBounds:
    return ComponentBounds(total=[value, value])


def _rebuilt(rec: Recommendation, fitted, lr: float, lr_bounds: ComponentBounds, batch: float, batch_bounds: ComponentBounds, seqs: int,
             constraint: dict) -> Recommendation:
    """The recommendation at the constrained (LR, batch): steps, warmup, schedule, β2 and weight decay follow
    them by the same rules as `recommend`; the joint optimum moves under `unconstrained`. A free LR or batch
    the model does not know (advisor/unknown_optimum.py) leaves them on the recommendation's assumed point."""
    known = informative(*lr_bounds.total), informative(*batch_bounds.total)
    assumed = {k: v for k, v in (rec.assumed or {}).items() if not known[0 if k.startswith("lr") else 1]} or None
    lr_used = (assumed or {}).get("lr", lr)
    if assumed and "batch_tokens" in assumed:
        seqs = practical_batch_seqs(assumed["batch_tokens"], rec.seq_len)
    rounded = seqs * rec.seq_len
    steps, warmup = recipe_rules.steps_and_warmup(rec.tokens, seqs, rec.seq_len, rec.n_params_active or rec.n_params)
    _, final_frac = recipe_rules.schedule_rule(fitted.schedule, lr_used)
    calibrated = rec.rules.get("weight_decay") == recipe_rules.WEIGHT_DECAY_CALIBRATED
    decay = rec.weight_decay if calibrated else 1.0 / (rec.tau_frac * lr_used * steps)  # the same τ fraction
    warnings = [w for w in rec.warnings if getattr(w, "code", None) not in ("few_steps", "batch_rounded_up")]
    warnings += recipe_rules.run_shape_warnings(batch, seqs, rec.seq_len, steps) + _constraint_warnings(constraint)
    (lr_lo, lr_hi), (b_lo, b_hi) = lr_bounds.total, batch_bounds.total
    return replace(
        rec, lr=lr, lr_low=lr_lo, lr_high=lr_hi, lr_interval=lr_bounds, lr_interval_ratio=lr_hi / lr_lo,
        batch_tokens=batch, batch_tokens_low=b_lo, batch_tokens_high=b_hi, batch_interval=batch_bounds,
        batch_interval_ratio=b_hi / b_lo, batch_seqs=seqs, batch_tokens_rounded=rounded, steps=steps,
        warmup_steps=warmup, warmup_tokens=warmup * rounded, final_lr=lr_used * final_frac, final_lr_frac=final_frac,
        beta2=beta2_rule(rounded), weight_decay=decay, tau_frac=1.0 / (lr_used * decay * steps), tolerance=None,
        lr_informative=known[0], batch_informative=known[1], assumed=assumed,
        warnings=warnings, warning_codes=[getattr(w, "code", UNSPECIFIED) for w in warnings],
        constraint=constraint, unconstrained=_joint(rec))


def _joint(rec: Recommendation) -> dict:
    keys = ("lr", "lr_low", "lr_high", "batch_tokens", "batch_tokens_low", "batch_tokens_high", "batch_seqs",
            "batch_tokens_rounded", "steps", "beta2", "tolerance", "lr_informative", "batch_informative")
    return {k: getattr(rec, k) for k in keys}


def _constraint_warnings(c: dict) -> list[CodedWarning]:
    out = []
    if c["beyond_validated"]:
        out.append(CodedWarning("constraint_beyond_validated", "the held value or its best partner lies more than 4× "
                                "from the joint optimum, beyond the range the penalty model was validated on: the "
                                "answer and its cost are extrapolated"))
    if c.get("at_search_edge"):
        out.append(CodedWarning("constraint_at_search_edge", "the surface's best value lies at the edge of the 4× "
                                "searched around the joint optimum (it keeps falling beyond, where the penalty model is "
                                "not validated): read it as a bound, and sweep beyond it before you trust it"))
    if c["risky"]:
        out.append(CodedWarning("constraint_risky", f"the constraint's cost may reach {c['cost_pct_high']:.2g}% "
                                "(90% upper bound): a costly, spiking or failed run cannot be ruled out"))
    return out
