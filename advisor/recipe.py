"""The full training recipe for a target model: `recommend(params="7B", tokens="2T", ...)`.

Peak LR and batch size come from the fitted model's laws (with 90% intervals) or from a published
law (`law="deepseek"`, no interval); the rest follows stated rules, each recorded in the output. `recommend`
composes the parts, each in its own module:

- the target (advisor/target.py): its shape (the standard shape, an MoE's, or a model config's exact counts,
  advisor/shape.py and advisor/model_config.py), sequence length and token budget, with where each came from;
- the LR and batch answer (advisor/answer.py): a fitted model's laws or a published law, with intervals;
- the recipe's rules (advisor/rules.py, one registry entry each: value, text, citation): batch rounding,
  warmup, schedule and final LR, weight decay, β2, β1, ε and clipping.

Each part returns its warnings; the recommendation lists them in that order. Errors name the Python
parameters (advisor/errors.py).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from advisor.answer import Answer, answer_from_law, answer_from_model
from advisor.answer_source import AnswerSource
from advisor.interval_bounds import ComponentBounds
from advisor.coded_warning import UNSPECIFIED, CodedWarning
from advisor.cost import tolerance
from advisor.errors import AdvisorError
from advisor.laws import HYPERPARAMETER_LAWS, RECOMMEND_LAWS
from advisor.model import FittedModel, ModelError
from advisor.practice import practice_warnings
from advisor.rules import (RECIPE_RULES, beta2_rule, calibrated, practical_batch_seqs, rule_texts, run_shape_warnings,
                           schedule_rule, steps_and_warmup, weight_decay_rule)
from advisor.target import RecipeTarget, read_target, with_token_budget
from advisor.units import parse_quantity
from advisor.unknown_optimum import points_used

if TYPE_CHECKING:
    from advisor.model_config import ModelConfig


@dataclass
class Recommendation:
    """A full recipe. Batch: `batch_tokens*` are the law's unrounded optimum and interval; `batch_seqs`
    and `batch_tokens_rounded` the practical choice actually used for steps and warmup."""

    n_params: float
    n_params_total: float
    d_model: float
    n_layer: float
    vocab_size: int
    seq_len: int
    tokens: float
    tokens_source: str
    tokens_per_param: float
    flops: float
    flops_formula: str
    lr: float
    lr_low: float
    lr_high: float
    batch_tokens: float
    batch_tokens_low: float
    batch_tokens_high: float
    batch_seqs: int
    batch_tokens_rounded: int
    steps: int
    warmup_steps: int
    warmup_tokens: int
    schedule: str
    final_lr: float
    final_lr_frac: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    tau_frac: float  # AdamW timescale 1/(η·λ) as a fraction of training, whichever rule set λ
    grad_clip: float
    extrapolation: dict
    batch_source: str  # "model", or "law:<key>" when a published law stood in for the batch size
    lr_interval_ratio: float
    batch_interval_ratio: float
    # each source of uncertainty on its own and the total, as [low, high]: sampling, law_form, setup, total
    lr_interval: ComponentBounds
    batch_interval: ComponentBounds
    source: AnswerSource
    rules: dict
    warnings: list[CodedWarning] = field(default_factory=list)
    warning_codes: list = field(default_factory=list)  # the stable code of each warning, in order
    # what straying costs at the target (advisor/cost.py): LR and batch ranges within 0.25% and 1% of the
    # optimum's loss, and the rounded batch's cost; None without a penalty model
    tolerance: dict | None = None
    # MoE: non-embedding parameters active per token (= n_params for a dense model or the standard shape)
    n_params_active: float = 0.0
    # where the shape came from: {"kind": "standard", ...} or {"kind": "config", "path", "family",
    # "fields_read", "notes", "summary", "context_length", ...}; both say where seq_len came from
    shape_source: dict = field(default_factory=dict)
    # the N the laws and the penalty model were evaluated at: n_params, or for an MoE what the model's
    # sparsity record makes of the total and active counts (advisor/sparsity.py)
    n_params_laws: float = 0.0
    # a cross-setup model (advisor/setup_answer.py): the known setups' LR optima at the target, their spread,
    # the --setup answered for (None: a setup none of them is) and what an anchor sweep costs and bought
    setups: dict | None = None
    # recommend --batch / --lr (advisor/constrained_recipe.py): what was held and what it costs; the joint
    # optimum then sits under `unconstrained` while lr and batch_tokens are what to train with
    constraint: dict | None = None
    unconstrained: dict | None = None
    # recommend --schedule (advisor/schedules.py): the schedule's shape, final LR and peak-LR factor, and the
    # evidence behind each (measured or a cited rule); None: the calibrated schedule
    schedule_detail: dict | None = None
    # the model's own verdict (advisor/unknown_optimum.py): False where its 90% interval is too wide to say
    # anything; `assumed` then names the LR/batch that steps, weight decay and the final LR rest on instead
    lr_informative: bool = True
    batch_informative: bool = True
    assumed: dict | None = None

    def to_dict(self) -> dict:
        # the intervals hold only the components present (asdict would write the absent ones as null)
        return {**asdict(self), "lr_interval": self.lr_interval.as_dict(),
                "batch_interval": self.batch_interval.as_dict()}


def load_source(model: str | Path | FittedModel | None = None, law: str | None = None):
    """(FittedModel, None) or (None, PublishedLaw); the shipped default model when neither is given."""
    if model is not None and law is not None:
        raise AdvisorError("give either a model file or a published law, not both")
    if law is not None:
        key = str(law).lower().replace(" ", "").replace("-", "").replace("_", "")
        if key not in RECOMMEND_LAWS:
            raise AdvisorError(f"unknown law {law!r}; choose one of {', '.join(RECOMMEND_LAWS)}")
        return None, HYPERPARAMETER_LAWS[key]
    if isinstance(model, FittedModel):
        return model, None
    if model is None:
        model = default_model_path()
        if not model.is_file():
            raise ModelError(f"no default model at {model} yet: pass --model NAME|FILE (from `advisor fit`) "
                             f"or --hp-law {'|'.join(RECOMMEND_LAWS)}")
    from advisor.catalog import resolve_model, shipped_entry

    path = resolve_model(model)  # a shipped name (`advisor sources`) or a path
    fitted = FittedModel.load(path)
    fitted.shipped_ = shipped_entry(path)
    return fitted, None


def load_moe_source(model=None, law=None):
    """The source for an MoE target: the given model, else the catalog's MoE model; never a published law
    (those were fitted on dense models)."""
    if law is not None:
        raise AdvisorError("law= cannot serve an MoE target: the published laws were fitted on dense models; "
                           "drop law= (the shipped MoE model serves active_params=)")
    if model is None:
        from advisor.catalog import default_moe_model_path

        model = default_moe_model_path()
    fitted, _ = load_source(model, None)
    if fitted.sparsity_ is None:
        fitted.n_for_laws(2.0, 1.0)  # raises the one-line "cannot serve an MoE" error, naming the model
    return fitted, None


def default_model_path() -> Path:
    """The catalog's default model (data/catalog.json, `default_model`)."""
    from advisor.catalog import default_model_path as shipped_default

    return shipped_default()


def recommend(
    params: str | float | None = None,
    tokens: str | float | None = None,
    *,
    tokens_per_param: str | float | None = None,
    seq_len: str | int | None = None,
    vocab_size: str | int | None = None,
    n_params_nonembedding: str | float | None = None,
    config: str | Path | ModelConfig | None = None,
    model: str | Path | FittedModel | None = None, law: str | None = None, setup: str | None = None,
    tau_frac: float | str | None = None,
    tokens_source: str | None = None,
    active_params: str | float | None = None, n_params_active_nonembedding: str | float | None = None,
) -> Recommendation:
    """Recommend LR, batch size and the rest of the recipe for a target model.

    The size: `params` (TOTAL, "7B", with the standard shape and `vocab_size`), `n_params_nonembedding`, or
    `config` (a model config: exact counts, `target_shape`). `tokens` defaults to the compute-optimal D under
    the model's loss law, else 20 per parameter; `tokens_source` labels a `tokens` the caller chose (`plan`).
    Weight decay: the fitted model's calibrated λ, unless `tau_frac` asks for the τ rule (advisor/rules.py). An
    MoE adds `active_params` (beside `params`) or `n_params_active_nonembedding` (the MoE model serves it).
    `setup`: a setup the cross-setup model was fitted on (its own law, no setup part in the interval)."""
    target, warnings = read_target(params, n_params_nonembedding, vocab_size, config, active_params,
                                   n_params_active_nonembedding, seq_len)
    tau = None if tau_frac is None else parse_quantity(tau_frac, "tau_frac=")
    fitted, published = _load_checked(target.shape, model, law, setup)
    target, budget_warnings = with_token_budget(target, tokens, tokens_per_param, fitted, tokens_source)
    shape, d, seq = target.shape, target.tokens, target.seq_len
    answer = (answer_from_model(fitted, shape, d, seq, setup) if fitted is not None
              else answer_from_law(published, shape, d, seq))
    plan = _run_plan(answer, target, tau)
    return _recommendation(target, answer, plan, warnings + budget_warnings + answer.warnings + plan.warnings,
                           fitted)


@dataclass(frozen=True)
class RunPlan:
    """What the rules set for the run (advisor/rules.py), from the LR and batch it is planned with: the model's
    point, or an assumed one where the model does not know the optimum (advisor/unknown_optimum.py)."""

    known: tuple[bool, bool]  # (LR, batch): does the model know the optimum here
    assumed: dict | None
    lr_used: float
    batch_seqs: int
    steps: int
    warmup_steps: int
    schedule: str
    final_lr_frac: float
    weight_decay: float
    weight_decay_rule: str  # the text of the rule that set λ
    warnings: list[CodedWarning]


def _run_plan(answer: Answer, target: RecipeTarget, tau: float | None) -> RunPlan:
    """The batch in whole sequences, the steps and warmup, the schedule and the weight decay; warns about the
    run's shape and settings far from published practice."""
    shape, d, seq = target.shape, target.tokens, target.seq_len
    known, assumed, lr_used, batch_used = points_used(answer.lr, answer.batch, answer.batch_source, shape, d, seq)
    batch_seqs = practical_batch_seqs(batch_used, seq)
    steps, warmup_steps = steps_and_warmup(d, batch_seqs, seq, shape.n_params_per_token)
    warnings = run_shape_warnings(batch_used, batch_seqs, seq, steps)
    schedule, final_frac = schedule_rule(answer.schedule, lr_used)
    weight_decay, decay_rule, decay_warnings = weight_decay_rule(answer.optimizer, tau, lr_used, steps)
    warnings += decay_warnings + practice_warnings(weight_decay, warmup_steps, steps)
    return RunPlan(known, assumed, lr_used, batch_seqs, steps, warmup_steps, schedule, final_frac, weight_decay,
                   decay_rule, warnings)


def _recommendation(target: RecipeTarget, answer: Answer, plan: RunPlan, warnings: list[CodedWarning],
                    fitted: FittedModel | None) -> Recommendation:
    shape, d, seq, opt = target.shape, target.tokens, target.seq_len, answer.optimizer
    lr, batch, batch_tokens = answer.lr, answer.batch, plan.batch_seqs * seq
    (flops, flops_formula), cfg = shape.flops(d), target.config
    return Recommendation(
        n_params=shape.n_params, n_params_total=shape.n_params_total, d_model=shape.d_model,
        n_layer=shape.n_layer, vocab_size=shape.vocab_size, seq_len=seq, tokens=d,
        tokens_source=target.tokens_source, tokens_per_param=d / shape.n_params_total, flops=flops,
        flops_formula=flops_formula, n_params_laws=answer.n_params_laws, lr=lr.value, lr_low=lr.low,
        lr_high=lr.high, batch_tokens=batch.value, batch_tokens_low=batch.low, batch_tokens_high=batch.high,
        batch_seqs=plan.batch_seqs, batch_tokens_rounded=batch_tokens, steps=plan.steps,
        warmup_steps=plan.warmup_steps, warmup_tokens=plan.warmup_steps * batch_tokens,
        schedule=plan.schedule, final_lr=plan.lr_used * plan.final_lr_frac, final_lr_frac=plan.final_lr_frac,
        beta1=calibrated("beta1", opt), beta2=beta2_rule(batch_tokens), eps=calibrated("eps", opt),
        weight_decay=plan.weight_decay, tau_frac=1.0 / (plan.lr_used * plan.weight_decay * plan.steps),
        grad_clip=calibrated("grad_clip", opt), extrapolation=answer.extrapolation,
        batch_source=answer.batch_source, lr_interval_ratio=lr.ratio, batch_interval_ratio=batch.ratio,
        lr_interval=ComponentBounds.from_dict(lr.component_bounds()),
        batch_interval=ComponentBounds.from_dict(batch.component_bounds()), source=answer.source,
        rules=rule_texts(shape, weight_decay=plan.weight_decay_rule, **({"shape": cfg.counting_rule()} if cfg else {})),
        warnings=warnings, warning_codes=[getattr(w, "code", UNSPECIFIED) for w in warnings],
        n_params_active=shape.n_params_per_token,
        shape_source=_shape_source(target, fitted, answer.moe_shift),
        tolerance=_tolerance(fitted, answer.n_params_laws, d, lr.value, batch.value, batch_tokens),
        setups=answer.setups, lr_informative=plan.known[0], batch_informative=plan.known[1], assumed=plan.assumed,
    )


def _load_checked(shape, model, law, setup: str | None):
    """(FittedModel, None) or (None, PublishedLaw) for the target (load_source, or load_moe_source for an MoE),
    --setup checked against it."""
    fitted, published = (load_moe_source if shape.is_moe else load_source)(model, law)
    _check_setup(fitted, setup)
    return fitted, published


def _check_setup(fitted: FittedModel | None, setup: str | None) -> None:
    """--setup needs a cross-setup model and one of its setups (one-line AdvisorError otherwise)."""
    if setup is None:
        return
    if fitted is None:
        raise AdvisorError("setup= needs a fitted cross-setup model, not a published law: drop law=")
    from advisor.setup_answer import SetupError, check_setup

    try:
        check_setup(fitted, setup)
    except SetupError as exc:
        raise AdvisorError(str(exc)) from None


def _shape_source(target: RecipeTarget, fitted: FittedModel | None = None, moe_shift: dict | None = None) -> dict:
    shape, cfg, seq_source = target.shape, target.config, target.seq_len_source
    moe = _moe_source(shape, fitted, moe_shift) if shape.is_moe else None
    if cfg is None:
        return {"kind": "standard", "rule": RECIPE_RULES["shape"].text, "seq_len_source": seq_source,
                **({"moe": moe} if moe is not None else {})}
    return {"kind": "config", "path": cfg.path, "family": cfg.family, "summary": cfg.summary(),
            "fields_read": list(cfg.fields_read), "notes": list(cfg.notes), "context_length": cfg.seq_len,
            "original_context_length": cfg.original_seq_len, "seq_len_source": seq_source,
            "n_params_embedding": cfg.n_params_embedding, "n_params_total_active": cfg.n_params_total_active,
            "tied_embeddings": cfg.tied_embeddings, "n_experts": cfg.n_experts,
            "n_experts_active": cfg.n_experts_active, "n_moe_layers": cfg.n_moe_layers,
            **({"moe": moe} if moe is not None else {})}


def _moe_source(shape, fitted: FittedModel, moe_shift: dict | None) -> dict:
    """How an MoE's counts reach the laws (the model's sparsity record), for the output."""
    w = fitted.sparsity_.w
    reading = "the active count" if w == 1 else "the total count" if w == 0 else f"N_eff with w = {w:.3g}"
    return {"n_params_active_total": shape.n_params_active + shape.n_params_total - shape.n_params,
            "rule": RECIPE_RULES["moe_shape"].text if getattr(shape, "config", None) is None else "counted from the config",
            "laws_rule": f"{reading} (the model's sparsity record: N_eff = N_total^(1-w)·N_active^w, w = {w:.3g})",
            "total_shift": moe_shift}


def _tolerance(fitted: FittedModel | None, n: float, d: float, lr: float, batch: float, rounded: float):
    """What straying costs (advisor/cost.py). A published point law has no penalty model of its own: the
    shipped default's (measured on Step Law's runs) is used around its point."""
    if fitted is None:
        try:
            fitted, _ = load_source(None, None)
        except ModelError:  # no shipped default (a stripped install): no tolerance, not a failure
            return None
    if fitted.penalty_ is None:
        return None
    return {**tolerance(fitted.penalty_, n, d, lr, batch, rounded), "penalty_model": fitted.summary()["name"] or fitted.path}
