"""`check`: a planned (LR, batch) against the recommendation at the target, and what it is predicted to
cost in loss (advisor/cost.py, advisor/penalty.py).

    from advisor import check
    c = check("7B", "2T", lr=3e-4, batch="4M")        # CheckResult; c.to_dict() is `advisor check --json`
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from advisor.answer_source import AnswerSource
from advisor.coded_warning import CodedWarning
from advisor.cost import cost_of
from advisor.penalty import RISKY_PCT, VALIDATED_LOG2
from advisor.constrained import constrained_optimum
from advisor.errors import AdvisorError
from advisor.recipe import load_moe_source, load_source, recommend
from advisor.rules import practical_batch_seqs
from advisor.units import format_count, parse_int_quantity, parse_quantity

MIN_LR, MAX_LR = 1e-8, 1.0  # outside: not a peak LR anyone trains with (a typo, or the wrong unit)
ABSURD_RATIO = 1000.0  # an LR this far from the optimum (either way) is refused as absurd
UNSURE_OPTIMUM_RATIO = 30.0  # an optimum whose LR interval is wider than this earns a caution
NOTHING_TO_GAIN_PCT = 0.05  # a change that saves less than this is not worth suggesting


@dataclass
class CheckResult:
    lr: float
    batch_tokens: float
    lr_opt: float
    batch_tokens_opt: float
    lr_ratio: float  # lr / lr_opt
    batch_ratio: float  # batch / batch_opt
    penalty_pct: float
    penalty_pct_low: float
    penalty_pct_high: float
    risky: bool  # the 90% interval reaches RISKY_PCT, or the LR is far above the optimum (risk_reasons)
    # why it is risky: "penalty_interval" (the 90% interval reaches RISKY_PCT), "lr_far_above" (the LR more
    # than 4× above the optimum: such runs spike or fail); empty when not risky
    risk_reasons: list
    # the offsets beyond the range the penalty model was validated on (within 4× of the optimum), where
    # its answer is extrapolated: any of "lr_above", "lr_below", "batch_above", "batch_below"
    beyond_validated: list
    extrapolated: bool
    suggestion: dict  # the single change that would help most: {"change", "to", "penalty_pct"} or {}
    n_params: float
    tokens: float
    seq_len: int
    source: AnswerSource
    warnings: list[CodedWarning]  # the recommendation's warnings (extrapolation, MoE, ...) and the check's own
    n_params_laws: float = 0.0  # the N the laws and the penalty were read at (an MoE: from the sparsity record)
    n_params_active: float = 0.0
    # beyond the validated 4× the penalty is the value at that edge, a lower bound: "at least" (penalty.py)
    penalty_is_lower_bound: bool = False
    # the recommendation's verdict (advisor/unknown_optimum.py): where either is False the optimum is not known
    # here, and penalty, ratios and suggestion are None/empty; the risk is judged against `published_lr`
    lr_informative: bool = True
    batch_informative: bool = True
    published_lr: list = field(default_factory=list)  # [[law name, LR at the target], ...] when not known

    def to_dict(self) -> dict:
        return asdict(self)


def check(params=None, tokens=None, *, lr, batch=None, batch_seqs=None, seq_len=None, n_params_nonembedding=None,
          vocab_size=None, model=None, config=None, active_params=None,
          n_params_active_nonembedding=None) -> CheckResult:
    """The predicted penalty of training at (lr, batch) against the model's optimum at the target.
    `batch` is in tokens ("4M"), or give `batch_seqs` sequences of `seq_len`. A mixture of experts adds its
    active count (`active_params` or `n_params_active_nonembedding`, as in `recommend`)."""
    _lr_value(lr)  # a bad LR is refused before the target is computed
    checker = Checker(params, tokens, seq_len=seq_len, n_params_nonembedding=n_params_nonembedding,
                      vocab_size=vocab_size, model=model, config=config, active_params=active_params,
                      n_params_active_nonembedding=n_params_active_nonembedding)
    return checker(lr, batch=batch, batch_seqs=batch_seqs)


class Checker:
    """The target's recommendation and the model's penalty model, computed once; called with one planned
    (lr, batch) after another (`advisor check --configs`: 10,000 candidates in seconds). Arguments as
    `check`'s."""

    def __init__(self, params=None, tokens=None, *, seq_len=None, n_params_nonembedding=None, vocab_size=None,
                 model=None, config=None, active_params=None, n_params_active_nonembedding=None) -> None:
        config, moe = moe_target(config, active_params, n_params_active_nonembedding)
        self.fitted = _model_with_penalty(model, moe)
        self.rec = recommend(params, tokens, seq_len=seq_len, vocab_size=vocab_size,
                             n_params_nonembedding=n_params_nonembedding, model=self.fitted, config=config,
                             active_params=active_params, n_params_active_nonembedding=n_params_active_nonembedding)
        self.warnings = _warnings(self.rec)

    def __call__(self, lr, batch=None, batch_seqs=None) -> CheckResult:
        return _check_point(self.fitted.penalty_, self.rec, self.warnings, _lr_value(lr),
                            _batch_tokens(batch, batch_seqs, self.rec.seq_len, self.rec.tokens))


def _lr_value(lr) -> float:
    lr_value = parse_quantity(lr, "lr=")
    if not MIN_LR <= lr_value <= MAX_LR:
        raise AdvisorError(f"lr={lr_value:g} is not a plausible peak learning rate (expected {MIN_LR:g}–{MAX_LR:g})")
    return lr_value


def _check_point(penalty, rec, warnings: list[CodedWarning], lr_value: float, batch_tokens: float) -> CheckResult:
    n_laws = rec.n_params_laws or rec.n_params
    if not (rec.lr_informative and rec.batch_informative):
        return _unknown_optimum_check(rec, warnings, lr_value, batch_tokens)
    if not 1 / ABSURD_RATIO <= lr_value / rec.lr <= ABSURD_RATIO:
        raise AdvisorError(f"lr={lr_value:g} is {lr_value / rec.lr:.3g}× the optimum {rec.lr:.3g}: not a plan "
                           "this tool can say anything about (a typo, or the wrong unit?)")
    cost = cost_of(penalty, n_laws, rec.tokens, lr_value, batch_tokens, rec.lr, rec.batch_tokens)
    return CheckResult(
        lr=lr_value, batch_tokens=batch_tokens, lr_opt=rec.lr, batch_tokens_opt=rec.batch_tokens,
        lr_ratio=lr_value / rec.lr, batch_ratio=batch_tokens / rec.batch_tokens, penalty_pct=cost.pct,
        penalty_pct_low=cost.low, penalty_pct_high=cost.high, risky=cost.risky, extrapolated=cost.extrapolated,
        risk_reasons=_risk_reasons(cost, lr_value / rec.lr),
        beyond_validated=_beyond_validated(lr_value / rec.lr, batch_tokens / rec.batch_tokens),
        suggestion=_best_single_change(penalty, rec, lr_value, batch_tokens, cost.pct),
        n_params=rec.n_params, tokens=rec.tokens, seq_len=rec.seq_len, source=rec.source,
        warnings=list(warnings), n_params_laws=n_laws, n_params_active=rec.n_params_active,
        penalty_is_lower_bound=cost.at_least)


def moe_target(config, active_params=None, n_params_active_nonembedding=None):
    """(the config, read once where given; whether the target is an MoE: an active count, or a config with
    experts, which goes the way --active-params goes)."""
    moe = active_params is not None or n_params_active_nonembedding is not None
    if config is not None and not moe:
        from advisor.model_config import ModelConfig, read_model_config  # only with a config: cold start

        config = config if isinstance(config, ModelConfig) else read_model_config(config)
        moe = config.is_moe
    return config, moe


def _unknown_optimum_check(rec, warnings: list[CodedWarning], lr_value: float, batch_tokens: float) -> CheckResult:
    """No penalty against an optimum the model does not know: only whether the LR lies far (more than 4×)
    above every published law's LR at the target, where runs often spike or fail."""
    from advisor.short_answer import published_answers

    published = [[name, value] for name, value in published_answers(rec, 0)]
    if published and not 1 / ABSURD_RATIO <= lr_value / math.sqrt(min(v for _, v in published) * max(
            v for _, v in published)) <= ABSURD_RATIO:
        raise AdvisorError(f"lr={lr_value:g} is over {ABSURD_RATIO:g}× from the published laws' LRs here: not a plan "
                           "this tool can say anything about (a typo, or the wrong unit?)")
    far = bool(published) and math.log2(lr_value / max(v for _, v in published)) > VALIDATED_LOG2
    return CheckResult(
        lr=lr_value, batch_tokens=batch_tokens, lr_opt=rec.lr, batch_tokens_opt=rec.batch_tokens, lr_ratio=None,
        batch_ratio=None, penalty_pct=None, penalty_pct_low=None, penalty_pct_high=None, risky=far,
        risk_reasons=["lr_far_above_published"] if far else [], beyond_validated=[],
        extrapolated=any(f > 1.0 for f in rec.extrapolation.values() if isinstance(f, (int, float))), suggestion={}, n_params=rec.n_params,
        tokens=rec.tokens, seq_len=rec.seq_len, source=rec.source,
        warnings=[w for w in warnings if getattr(w, "code", None) != "optimum_uncertain"],
        n_params_laws=rec.n_params_laws or rec.n_params, n_params_active=rec.n_params_active,
        lr_informative=rec.lr_informative, batch_informative=rec.batch_informative, published_lr=published)


def danger_rank(result: CheckResult) -> tuple:
    """Sort key for candidates, safest first: risky ones last, and among them an LR far above the optimum
    (runs spike or fail there, whatever the extrapolated penalty says) last of all, by how far above."""
    far_above = "lr_far_above" in result.risk_reasons
    return (result.risky, far_above, result.lr_ratio if far_above else 0.0, result.penalty_pct or 0.0)


def _risk_reasons(cost, lr_ratio: float) -> list[str]:
    """Why the penalty model calls the plan risky (advisor/penalty.py PenaltyModel.predict)."""
    reasons = ["penalty_interval"] if cost.high >= RISKY_PCT else []
    return reasons + (["lr_far_above"] if math.log2(lr_ratio) > VALIDATED_LOG2 else [])


def _beyond_validated(lr_ratio: float, batch_ratio: float) -> list[str]:
    """The offsets beyond the VALIDATED_LOG2 (4×) the penalty model was checked within."""
    out = []
    for name, ratio in (("lr", lr_ratio), ("batch", batch_ratio)):
        if abs(math.log2(ratio)) > VALIDATED_LOG2:
            out.append(f"{name}_{'above' if ratio > 1 else 'below'}")
    return out


def _warnings(rec) -> list[CodedWarning]:
    """The recommendation's warnings, and a caution when its optimum is itself very uncertain: the penalty
    is measured against that point."""
    own = []
    if rec.lr_interval_ratio > UNSURE_OPTIMUM_RATIO:
        own.append(CodedWarning("optimum_uncertain", f"the optimum's 90% LR interval is {rec.lr_interval_ratio:.3g}× "
                                "wide here: the penalty is against a point that may itself be far off"))
    return [*rec.warnings, *own]


def _batch_tokens(batch, batch_seqs, seq_len: int, training_tokens: float) -> float:
    if (batch is None) == (batch_seqs is None):
        raise AdvisorError("give the batch once: batch= in tokens (e.g. 4M) or batch_seqs= in sequences")
    tokens = (parse_quantity(batch, "batch=") if batch is not None
              else parse_int_quantity(batch_seqs, "batch_seqs=") * seq_len)
    if tokens < seq_len:
        raise AdvisorError(f"the batch ({format_count(tokens)} tokens) is smaller than one sequence of {seq_len}")
    if tokens > training_tokens:
        raise AdvisorError(f"the batch ({format_count(tokens)} tokens) is larger than the whole training run "
                           f"({format_count(training_tokens)} tokens)")
    return tokens


def _model_with_penalty(model, moe: bool = False):
    fitted, _ = load_moe_source(model) if moe else load_source(model, None)
    if fitted.penalty_ is None:
        raise AdvisorError(f"the model {fitted.path} has no penalty model (fitted before version 2): refit it "
                           "with `advisor fit` to predict what a choice costs")
    return fitted


def _best_single_change(penalty, rec, lr: float, batch: float, now: float) -> dict:
    """One change, read from the fitted surface (advisor/constrained.py) as `recommend --batch/--lr` read it:
    the best LR at your batch, or the best practical batch at your LR, whichever saves more; an LR far above
    the optimum (a run that may spike or fail) is fixed first, whatever the batch saves."""
    n = rec.n_params_laws or rec.n_params
    u, v = math.log2(lr / rec.lr), math.log2(batch / rec.batch_tokens)
    best_lr = rec.lr * 2.0 ** constrained_optimum(penalty, n, rec.tokens, "batch", v)["offset"]
    best_batch = practical_batch_seqs(rec.batch_tokens * 2.0 ** constrained_optimum(penalty, n, rec.tokens, "lr", u)["offset"],
                                      rec.seq_len) * rec.seq_len
    to_lr = ("lr", best_lr, cost_of(penalty, n, rec.tokens, best_lr, batch, rec.lr, rec.batch_tokens))
    to_batch = ("batch_tokens", best_batch, cost_of(penalty, n, rec.tokens, lr, best_batch, rec.lr, rec.batch_tokens))
    if u > VALIDATED_LOG2:
        change, value, cost = to_lr
        return {"change": change, "to": value, "penalty_pct": cost.pct, "risky": cost.risky,
                "why": "the LR is far above the optimum: fix it first"}
    change, value, cost = min((to_lr, to_batch), key=lambda o: o[2].pct)
    if now - cost.pct < NOTHING_TO_GAIN_PCT:
        return {}
    return {"change": change, "to": value, "penalty_pct": cost.pct, "risky": cost.risky}


__all__ = ["check", "Checker", "CheckResult", "RISKY_PCT", "danger_rank", "moe_target"]
