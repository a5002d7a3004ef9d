"""The full training recipe for a target model: `recommend(params="7B", tokens="2T", ...)`.

Peak LR and batch size come from the fitted model's laws (with 90% intervals) or from a published
law (`law="deepseek"`, no interval). The rest follows stated rules, each recorded in the output:

- batch: when the fitted model has no usable batch law (none, or one that traces the grid's edge),
  DeepSeek LLM's B(C) law (arXiv 2401.02954) stands in, and the output says so.
- batch rounding: the law's optimum B* (tokens) is rounded to a practical number of sequences at `seq_len`,
  the nearest of 2^k and 3·2^k in log space (within ≈1.22× of B*; loss is flat near the optimum).
- warmup: N tokens (one token per non-embedding parameter; Porian et al., arXiv 2406.19146, who find
  Kaplan's long fixed warmup hurts small models), but at least the published floor, the shorter of 1% of
  the steps (DeepSeek LLM, Pythia) and 2,000 steps (Llama 2, DeepSeek LLM): N tokens alone gives a large
  run a few hundred steps, far below any published run; at least 1 step and at most 10% of training; for
  an MoE N_active tokens (the count each token computes with and the laws take).
- tokens: an MoE target must give them (no loss law here can trade its total against D).
- schedule and final LR: those the proxies were calibrated with (provenance), else cosine to 0.1×peak
  (Hoffmann et al., arXiv 2203.15556) — the LR law only holds for the schedule it was fitted under.
- weight decay: with a fitted model, the λ its proxies were trained with (provenance): the optimal LR
  depends on η·λ, so the LR law only holds at the decay it was calibrated under, as for the schedule.
  With a published law, or when `tau_frac` is given: keep the AdamW timescale τ = 1/(η·λ) a fixed
  fraction of training (Wang & Aitchison, arXiv 2405.13698): λ = 1/(τ_frac·η·steps), τ_frac = 0.1 by
  default (the Llama-2 7B recipe, η 3e-4, λ 0.1, 500k steps, has τ_frac ≈ 0.07; arXiv 2307.09288).
  Either way the output gives the resulting τ_frac.
- β2: hold the second-moment half-life fixed in tokens (Marek et al., arXiv 2507.07101), anchored at
  β2 = 0.95 for 4M-token batches (Llama 2: 1,024 × 4,096 = 2^22 tokens): β2 = 0.95^(B/2^22), clipped to [0.95, 0.999]. Smaller batches
  get a higher β2, as Porian et al. (arXiv 2406.19146) found necessary.
- β1, ε, gradient clipping: the calibration's values (provenance), else 0.9, 1e-8, 1.0.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING
from pathlib import Path

from advisor import shape as shapes
from advisor.coded_warning import UNSPECIFIED, CodedWarning
from advisor.cost import tolerance
from advisor.laws import (
    CHINCHILLA_TOKENS_PER_PARAM,
    HYPERPARAMETER_LAWS,
    SETUP_LAWS,
    LOSS_PRESETS,
    RECOMMEND_LAWS,
    PublishedLaw,
    Target,
)
from advisor.model import FittedModel, ModelError, Prediction
from advisor.practice import practice_warnings, warmup_floor
from advisor.units import UnitError, format_count, is_number, parse_int_quantity, parse_quantity
from advisor.unknown_optimum import points_used

if TYPE_CHECKING:
    from advisor.model_config import ModelConfig

DEFAULT_SEQ_LEN = 4096
DEFAULT_VOCAB = 32000
DEFAULT_TAU_FRAC = 0.1
FALLBACK_BATCH_LAW = "deepseek"  # stands in when a fitted model has no usable batch law
BETA2_ANCHOR = (0.95, 4 * 2**20)  # (β2, batch tokens) of the Llama-2 recipe
BETA2_RANGE = (0.95, 0.999)
WARMUP_MAX_FRAC = 0.1
MIN_STEPS = 10  # fewer optimizer steps leave no room to warm up and decay: refused, not recommended
FEW_STEPS = 1000  # fewer than this earns a warning: the laws were measured on runs of thousands of steps
BATCH_ROUNDED_WARN = 2.0  # the rounded batch this many times the law's optimum (one sequence is longer): warned
# A loss law's compute-optimal D*/N outside the first range earns a warning; outside the second it is
# not used as the default token budget at all.
PLAUSIBLE_TOKENS_PER_PARAM = (5.0, 500.0)
USABLE_TOKENS_PER_PARAM = (1.0, 1e4)
FAR_EXTRAPOLATION = 10.0  # factor beyond the fitted range that earns a warning
# The fit's warnings about its batch law, left out when a published law stands in for the batch size.
BATCH_LAW_WARNINGS = frozenset({"batch_on_grid_edge", "batch_edge_at_one_sequence", "batch_law_is_bound"})
# Independent published laws of the optimal LR AND batch on modern setups: the spread between them at the
# target is the setup component of a model of another setup (advisor/intervals.py). Kaplan et al.'s LR rule
# (one batch size and schedule, pre-2020 setups) and Porian et al. (coefficients unverified) are left out.
# Beyond these the arithmetic (and any law) stops meaning anything; refuse rather than overflow.
MAX_PARAMS, MAX_TOKENS = 1e15, 1e18


class AdvisorError(ValueError):
    """Bad input to the advisor (one-line message)."""


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
    lr_interval: dict
    batch_interval: dict
    source: dict
    rules: dict
    warnings: list = field(default_factory=list)
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
        return asdict(self)


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
        raise AdvisorError("--hp-law cannot serve an MoE target: the published laws were fitted on dense models; "
                           "drop --hp-law (the shipped MoE model serves --active-params)")
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


def target_shape(params=None, n_params_nonembedding=None, vocab_size=None, config=None, active_params=None,
                 n_params_active_nonembedding=None) -> shapes.Shape:
    """The target's shape. With `config` (a path or a `ModelConfig`): the exact counts read from the user's
    model config, as a `ConfigShape` (`.config` is the `ModelConfig`, `.n_params_active` the MoE's active N);
    it gives the size and vocabulary, so `params`/`n_params_nonembedding` are refused and a `vocab_size`
    that differs from the config's too. Else the standard shape (advisor/shape.py) from exactly one of
    `params` (total) or `n_params_nonembedding`, with `vocab_size` (default 32000). A mixture of experts adds
    its active count in the same convention: `active_params` beside `params`, `n_params_active_nonembedding`
    beside `n_params_nonembedding` (a `MoeShape`)."""
    active = _active_option(params, n_params_nonembedding, config, active_params, n_params_active_nonembedding)
    if config is not None:
        return _config_shape(config, params, n_params_nonembedding, vocab_size)
    vocab = parse_int_quantity(DEFAULT_VOCAB if vocab_size is None else vocab_size, "vocab size")
    if vocab > MAX_PARAMS:
        raise AdvisorError(f"vocab size {vocab:.3g} is beyond what this tool models")
    if (params is None) == (n_params_nonembedding is None):
        raise AdvisorError("give exactly one of --params (total) or --n-params-nonembedding")
    if n_params_nonembedding is not None:
        n = _capped(parse_quantity(n_params_nonembedding, "--n-params-nonembedding"), MAX_PARAMS, "parameters")
        shape = shapes.from_nonembedding(n, vocab) if active is None else shapes.moe_from_nonembedding(n, active, vocab)
    else:
        total = _capped(parse_quantity(params, "--params"), MAX_PARAMS, "parameters")
        shape = shapes.from_total(total, vocab) if active is None else shapes.moe_from_total(total, active, vocab)
    if shape.n_layer < 1 and active is not None:  # the active count is what is too small, not the total
        raise AdvisorError(
            f"the active count {format_count(active)} is less than one layer of the standard shape (n_layer "
            f"{shape.n_layer:.2g}): give the parameters each token uses, e.g. --active-params 2.8B for a 16B MoE")
    if shape.n_layer < 1 and shape.n_params < 1:  # no room even for one non-embedding parameter
        smallest = 12 * 128**2 + 2 * vocab * 128  # one layer of the standard shape: d_model 128
        raise AdvisorError(
            f"{format_count(shape.n_params_total)} parameters with vocab {vocab} leave no non-embedding parameters, "
            f"less than one layer of the standard shape (it takes {format_count(smallest)} in all): this tool "
            "advises on LLM-sized models")
    if shape.n_layer < 1:
        # Below one layer of the standard shape the arithmetic still runs but describes no real model.
        raise AdvisorError(
            f"{format_count(shape.n_params_total)} parameters with vocab {vocab} leave {format_count(shape.n_params)} "
            f"non-embedding parameters, less than one layer of the standard shape (n_layer {shape.n_layer:.2g}): "
            "this tool advises on LLM-sized models; pass --n-params-nonembedding or a smaller --vocab-size")
    return shape


def _active_option(params, n_params_nonembedding, config, active_params, n_params_active_nonembedding):
    """The MoE's active count (None for a dense target), checked against the size option beside it."""
    if active_params is None and n_params_active_nonembedding is None:
        return None
    if config is not None:
        raise AdvisorError("--config gives the active count of an MoE: drop --active-params")
    if active_params is not None and n_params_active_nonembedding is not None:
        raise AdvisorError("give the active count once: --active-params (total) or --n-params-active-nonembedding")
    flag, total_flag, total = (("--active-params", "--params", params) if active_params is not None else
                               ("--n-params-active-nonembedding", "--n-params-nonembedding", n_params_nonembedding))
    if total is None:
        raise AdvisorError(f"{flag} goes with {total_flag} (the same convention: "
                           f"{'with' if flag == '--active-params' else 'without'} embeddings)")
    active = parse_quantity(active_params if active_params is not None else n_params_active_nonembedding, flag)
    if active > parse_quantity(total, total_flag):
        raise AdvisorError(f"{flag} {format_count(active)} is larger than the total {total_flag} "
                           f"{format_count(parse_quantity(total, total_flag))}: the active count is a part of the total")
    return active


def _config_shape(config, params, n_params_nonembedding, vocab_size) -> shapes.Shape:
    given = [flag for flag, v in (("--params", params), ("--n-params-nonembedding", n_params_nonembedding))
             if v is not None]
    if given:
        raise AdvisorError(f"--config gives the model size: drop {' and '.join(given)}")
    from advisor.model_config import ModelConfig, read_model_config  # only when a config is given: cold start

    cfg = config if isinstance(config, ModelConfig) else read_model_config(config)
    if vocab_size is not None and parse_int_quantity(vocab_size, "--vocab-size") != cfg.vocab_size:
        raise AdvisorError(f"--vocab-size {vocab_size} contradicts vocab_size {cfg.vocab_size} in {cfg.path}: "
                           "drop --vocab-size")
    _capped(cfg.n_params_total, MAX_PARAMS, "parameters")
    return cfg.shape()


def _target_seq_len(seq_len, cfg: ModelConfig | None, warnings: list) -> tuple[int, str]:
    """(training sequence length, where it came from). A config's context length is the model's maximum,
    often reached by extending a model pretrained at a shorter length (Qwen2, Mistral, DeepSeek-V3 were
    pretrained at 4K): without --seq-len the default 4096 stays, or the config's context where shorter."""
    if seq_len is not None:
        seq = parse_int_quantity(seq_len, "--seq-len")
        if cfg is not None and seq > cfg.seq_len:
            if cfg.family in ("nanogpt", "gpt2"):
                raise AdvisorError(f"--seq-len {seq} is longer than the {cfg.seq_len} learned positions of "
                                   f"{cfg.path}: raise its block size or shorten --seq-len")
            warnings.append(CodedWarning("seq_len_beyond_config", f"--seq-len {seq} is longer than the context "
                                         f"length {cfg.seq_len} of {cfg.path}: change the config to train at it"))
        return seq, "given (--seq-len)"
    if cfg is None:
        return DEFAULT_SEQ_LEN, f"default {DEFAULT_SEQ_LEN} (--seq-len to change)"
    context = cfg.pretraining_seq_len
    extended = (f"pretrained context {context} (rope_scaling.original_max_position_embeddings), extended to "
                f"{cfg.seq_len}" if cfg.original_seq_len else f"context length {cfg.seq_len}")
    if context <= DEFAULT_SEQ_LEN:
        return context, f"the config's {extended} (--seq-len to change)"
    return DEFAULT_SEQ_LEN, (f"default {DEFAULT_SEQ_LEN}: the config's {extended} is the model's maximum, usually "
                             "reached by extending a shorter pretraining context (--seq-len to train at it)")


def _shape_source(shape, seq_source: str, fitted: FittedModel | None = None, moe_shift: dict | None = None) -> dict:
    cfg = getattr(shape, "config", None)
    moe = _moe_source(shape, fitted, moe_shift) if isinstance(shape, shapes.MoeShape) else None
    if cfg is None and moe is not None:
        return {"kind": "standard", "rule": RULES["shape"], "seq_len_source": seq_source, "moe": moe}
    if cfg is None:
        return {"kind": "standard", "rule": RULES["shape"], "seq_len_source": seq_source}
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
            "rule": RULES["moe_shape"] if getattr(shape, "config", None) is None else "counted from the config",
            "laws_rule": f"{reading} (the model's sparsity record: N_eff = N_total^(1-w)·N_active^w, w = {w:.3g})",
            "total_shift": moe_shift}


def _config_rule(cfg: ModelConfig) -> str:
    positions = ", the position embeddings" if cfg.family in ("nanogpt", "gpt2") else ""
    head = "its tied output head" if cfg.tied_embeddings else "the output head"
    return (f"read from {cfg.path} ({cfg.family}): every weight of the architecture counted exactly, N without "
            f"the input embedding{positions} and {head}; fields read: " + ", ".join(cfg.fields_read))


def _capped(x: float, limit: float, what: str) -> float:
    if x > limit:
        raise AdvisorError(f"{x:.3g} {what} is beyond what this tool models (at most {limit:.0e})")
    return x


def _run_plan(answer: dict, shape, d: float, seq: int, warnings: list):
    """The LR and batch the run is planned with (the model's point, or an assumed one where the model does not
    know the optimum), the batch in whole sequences, the steps and warmup; warns about the run's shape."""
    known, assumed, lr_used, batch_used = points_used(answer["lr"], answer["batch"], answer["batch_source"],
                                                      shape, d, seq)
    batch_seqs = practical_batch_seqs(batch_used, seq)
    steps, warmup_steps = _steps(d, batch_seqs, seq, _warmup_n(shape))
    warnings.extend(_run_shape_warnings(batch_used, batch_seqs, seq, steps))
    return known, assumed, lr_used, batch_seqs, steps, warmup_steps


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
    Weight decay: the fitted model's calibrated λ, unless `tau_frac` asks for the τ rule (module doc). An MoE
    adds `active_params` (beside `params`) or `n_params_active_nonembedding` (the MoE model serves it). `setup`:
    a setup the cross-setup model was fitted on (its own law, no setup part in the interval)."""
    shape = target_shape(params, n_params_nonembedding, vocab_size, config, active_params, n_params_active_nonembedding)
    cfg = getattr(shape, "config", None)
    warnings: list[str] = _shape_warnings(shape) if cfg is None else []
    seq, seq_source = _target_seq_len(seq_len, cfg, warnings)
    tau = None if tau_frac is None else parse_quantity(tau_frac, "tau fraction")
    fitted, published = _load_checked(shape, model, law, setup)
    d, chosen_by = _choose_tokens(shape, tokens, tokens_per_param, fitted, warnings, seq)
    tokens_source = tokens_source if tokens is not None and tokens_source else chosen_by
    answer = (_answer_from_model(fitted, shape, d, seq, warnings, setup) if fitted is not None
              else _answer_from_law(published, shape, d, seq, warnings))
    lr, batch = answer["lr"], answer["batch"]
    known, assumed, lr_used, batch_seqs, steps, warmup_steps = _run_plan(answer, shape, d, seq, warnings)
    opt = answer["optimizer"]
    schedule, final_frac = _schedule(answer["schedule"], lr_used)
    weight_decay, decay_rule = _weight_decay(opt, tau, lr_used, steps, warnings)
    warnings.extend(practice_warnings(weight_decay, warmup_steps, steps))
    n_laws, (flops, flops_formula) = answer["n_params_laws"], _flops(shape, d)
    return Recommendation(
        n_params=shape.n_params, n_params_total=shape.n_params_total, d_model=shape.d_model,
        n_layer=shape.n_layer, vocab_size=shape.vocab_size, seq_len=seq, tokens=d, tokens_source=tokens_source,
        tokens_per_param=d / shape.n_params_total, flops=flops, flops_formula=flops_formula,
        n_params_laws=n_laws, lr=lr.value, lr_low=lr.low, lr_high=lr.high,
        batch_tokens=batch.value, batch_tokens_low=batch.low, batch_tokens_high=batch.high,
        batch_seqs=batch_seqs, batch_tokens_rounded=batch_seqs * seq, steps=steps,
        warmup_steps=warmup_steps, warmup_tokens=warmup_steps * batch_seqs * seq,
        schedule=schedule, final_lr=lr_used * final_frac, final_lr_frac=final_frac,
        beta1=_number(opt.get("beta1"), 0.9), beta2=beta2_rule(batch_seqs * seq), eps=_number(opt.get("eps"), 1e-8),
        weight_decay=weight_decay, tau_frac=1.0 / (lr_used * weight_decay * steps),
        grad_clip=_number(opt.get("grad_clip"), 1.0), extrapolation=answer["extrapolation"],
        batch_source=answer["batch_source"], lr_interval_ratio=lr.ratio, batch_interval_ratio=batch.ratio,
        lr_interval=lr.component_bounds(), batch_interval=batch.component_bounds(), source=answer["source"],
        rules=_rules(shape, decay_rule),
        warnings=warnings, warning_codes=[getattr(w, "code", UNSPECIFIED) for w in warnings],
        n_params_active=getattr(shape, "n_params_active", shape.n_params) or shape.n_params,
        shape_source=_shape_source(shape, seq_source, fitted, answer.get("moe_shift")),
        tolerance=_tolerance(fitted, n_laws, d, lr.value, batch.value, batch_seqs * seq), setups=answer.get("setups"),
        lr_informative=known[0], batch_informative=known[1], assumed=assumed,
    )


def _load_checked(shape, model, law, setup: str | None):
    """(FittedModel, None) or (None, PublishedLaw) for the target (load_source, or load_moe_source for an MoE),
    --setup checked against it."""
    fitted, published = (load_moe_source if isinstance(shape, shapes.MoeShape) else load_source)(model, law)
    _check_setup(fitted, setup)
    return fitted, published


def _check_setup(fitted: FittedModel | None, setup: str | None) -> None:
    """--setup needs a cross-setup model and one of its setups (one-line AdvisorError otherwise)."""
    if setup is None:
        return
    if fitted is None:
        raise AdvisorError("--setup needs a fitted cross-setup model, not a published law: drop --hp-law")
    from advisor.setup_answer import SetupError, check_setup

    try:
        check_setup(fitted, setup)
    except SetupError as exc:
        raise AdvisorError(str(exc)) from None


def _warmup_n(shape) -> float:
    """The N of the warmup rule: an MoE's active count (each token's compute, the laws' N), else N."""
    return shape.n_params_active if isinstance(shape, shapes.MoeShape) else shape.n_params


def _rules(shape, decay_rule: str) -> dict:
    cfg = getattr(shape, "config", None)
    return {**RULES, "weight_decay": decay_rule, **({"shape": _config_rule(cfg)} if cfg else {}),
            **({"warmup": MOE_WARMUP_RULE} if isinstance(shape, shapes.MoeShape) else {})}


def _flops(shape, d: float) -> tuple[float, str]:
    """C = 6ND, N non-embedding; for an MoE the active count: experts a token skips cost it nothing."""
    if isinstance(shape, shapes.MoeShape):
        return 6.0 * shape.n_params_active * d, "6·N_active·D (N_active non-embedding, per token)"
    return 6.0 * shape.n_params * d, "6ND (N non-embedding)"


def _steps(d: float, batch_seqs: int, seq: int, n_params: float) -> tuple[int, int]:
    """(training steps, warmup steps: n_params tokens (an MoE's active count), at least the published floor
    (practice.warmup_floor) and 1, at most WARMUP_MAX_FRAC of training)."""
    steps = int(d // (batch_seqs * seq))
    if steps < 1:
        raise AdvisorError(f"the tokens ({format_count(d)}) are fewer than one batch "
                           f"({batch_seqs} × {seq} = {format_count(batch_seqs * seq)} tokens)")
    if steps < MIN_STEPS:
        raise AdvisorError(f"the run would be {steps} optimizer steps of {batch_seqs} × {seq} = "
                           f"{format_count(batch_seqs * seq)} tokens: too few to warm up and decay (at least "
                           f"{MIN_STEPS}); shorten the sequence length or train on more tokens")
    by_n = max(math.ceil(n_params / (batch_seqs * seq)), warmup_floor(steps))
    return steps, max(1, min(by_n, int(WARMUP_MAX_FRAC * steps)))


def _run_shape_warnings(batch: float, batch_seqs: int, seq: int, steps: int) -> list:
    """A batch rounded far above the optimum (one sequence is longer than it), or a short run."""
    out = []
    if batch_seqs * seq > BATCH_ROUNDED_WARN * batch:
        ratio = batch_seqs * seq / batch
        out.append(CodedWarning("batch_rounded_up", f"one sequence ({format_count(seq)} tokens) is longer than the "
                                f"optimal batch ({format_count(batch)} tokens): the batch is {ratio:.3g}× the "
                                "optimum; a shorter sequence length would let it sit there"))
    if steps < FEW_STEPS:
        out.append(CodedWarning("few_steps", f"the run is only {steps} optimizer steps: the laws were measured on "
                                "runs of thousands of steps, so treat the LR and batch as a rough start"))
    return out


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


def _shape_warnings(shape) -> list[str]:
    if shape.n_params_total > 0 and shape.n_params / shape.n_params_total < 0.5:
        return [CodedWarning("shape_mostly_embedding",
                             f"under the standard shape only {shape.n_params / shape.n_params_total:.0%} of the "
                             "parameters are non-embedding; pass --n-params-nonembedding if you know N")]
    return []


def _answer_from_model(fitted: FittedModel, shape, d: float, seq: int, warnings: list[str], setup=None) -> dict:
    lr, batch, extrapolation, batch_source, setups = _from_model(fitted, shape, d, seq, warnings, setup)
    moe_shift = None
    if isinstance(shape, shapes.MoeShape):
        extrapolation = {**extrapolation, "n_params_total": fitted.sparsity_.total_beyond(shape.n_params)}
        moe_shift = _moe_total_shift(fitted.sparsity_, shape, d, batch_source == "model")
        warnings.extend(_moe_warnings(fitted.sparsity_, shape, moe_shift))
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
        warnings.append(CodedWarning("no_optimizer_settings", "the model does not record the weight decay its LR law was measured under (nor the other "
                        "optimizer settings): λ comes from the τ rule; match the source's training setup where you can"))
    return {"lr": lr, "batch": batch, "extrapolation": extrapolation, "batch_source": batch_source,
            "source": {"kind": "model", **fitted.summary()}, "optimizer": fitted.optimizer,
            "schedule": fitted.schedule, "n_params_laws": _n_for_laws(fitted, shape), "moe_shift": moe_shift,
            "setups": setups}


def _no_penalty_text(fitted: FittedModel) -> str:
    """Why there are no tolerance ranges; `advisor fit` named only where a refit would give them (a file
    written before the penalty model existed), not for a fit that had too few runs near the optima."""
    if (fitted.doc.get("version") or 1) < 2:
        return ("the model has no penalty model (fitted before version 2): no tolerance ranges; refit it with "
                "`advisor fit` to get them")
    return ("the model has no penalty model (its sweep had too few runs near the optima to fit one): no "
            "tolerance ranges; a sweep with more points around each optimum would give them")


def _answer_from_law(published: PublishedLaw, shape, d: float, seq: int, warnings: list[str]) -> dict:
    lr, batch = _from_law(published, shape, d, seq)
    warnings.append(CodedWarning("published_point_law", f"{published.name} is a published point law: no interval, and it was fitted on "
                    "that paper's data and tokenizer"))
    return {"lr": lr, "batch": batch, "extrapolation": {}, "batch_source": f"law:{published.key}",
            "source": {"kind": "law", "law": published.key, "name": published.name,
                       "citation": published.citation, "formula": published.formula},
            "optimizer": {}, "schedule": {}, "n_params_laws": shape.n_params}


def _schedule(sched: dict, peak_lr: float) -> tuple[str, float]:
    """(schedule name, final LR as a fraction of the peak): the calibration's, else cosine to 0.1×peak.
    A source that decayed to an absolute final LR (Step Law's runs: 1e-5) keeps that absolute value."""
    known = sched.get("name") not in (None, "", "unknown")  # an external sweep may not record its schedule
    schedule = str(sched["name"]) if known else "cosine"
    if schedule == "constant":
        return schedule, 1.0
    final = sched.get("final_lr")
    if isinstance(final, (int, float)) and 0 < final < peak_lr:
        return schedule, final / peak_lr
    return schedule, _number(sched.get("final_lr_frac"), 0.1)


def _weight_decay(opt: dict, tau_frac: float | None, lr: float, steps: int, warnings: list) -> tuple[float, str]:
    """(λ, the rule that set it): the calibration's λ, else the τ rule (module docstring)."""
    calibrated = _number(opt.get("weight_decay"), 0.0)
    if tau_frac is None and calibrated > 0:
        tau = 1.0 / (lr * calibrated * steps)
        seen = opt.get("tau_frac_at_optima")
        on_proxies = (f" (at the proxies' optima it was {seen[0]:.2g}–{seen[1]:.2g})"
                      if isinstance(seen, list) and len(seen) == 2 else "")
        if tau > 1.0:
            warnings.append(CodedWarning("weight_decay_barely_acts", f"the calibrated weight decay {calibrated:g} barely acts at this LR: τ = 1/(ηλ) is "
                            f"{tau:.3g}× the training steps{on_proxies}; --tau-frac 0.1 applies the τ rule"))
        return calibrated, WEIGHT_DECAY_CALIBRATED
    tau = DEFAULT_TAU_FRAC if tau_frac is None else tau_frac
    weight_decay = 1.0 / (tau * lr * steps)
    if not 0.005 <= weight_decay <= 1.0:
        warnings.append(CodedWarning("weight_decay_unusual", f"weight decay {weight_decay:.3g} from the τ rule is unusual; check the LR and steps"))
    return weight_decay, RULES["weight_decay"]


RULES = {
    "shape": "Llama-style: n_layer = d_model/128, SwiGLU d_ff = 8/3·d_model, N = 12·n_layer·d_model², "
             "untied embeddings 2·V·d_model",
    "moe_shape": "the width of the standard shape at the ACTIVE count (experts add parameters, not width); "
                 "total and active lose the same 2·V·d of embeddings",
    "batch_rounding": "nearest of 2^k and 3·2^k sequences to the law's optimum (log scale)",
    "warmup": "N tokens (Porian et al., arXiv 2406.19146), at least the published floor of 1% of steps capped at "
              "2,000 steps (Llama 2, DeepSeek LLM), ≥1 step, ≤10% of steps",
    "warmup_moe": "N_active tokens for an MoE: the count each token computes with and the laws take (Porian et "
                  "al.'s ~N tokens, arXiv 2406.19146, was measured on dense models, where the two agree), at least "
                  "the published floor of 1% of steps capped at 2,000 steps (Llama 2, DeepSeek LLM), ≥1 step, "
                  "≤10% of steps",
    "schedule": "as calibrated (provenance; an absolute final LR is kept), else cosine to 0.1×peak "
                "(Hoffmann et al., arXiv 2203.15556)",
    "weight_decay": "λ = 1/(τ_frac·η·steps): AdamW timescale τ = 1/(ηλ) a fixed fraction of training "
                    "(Wang & Aitchison, arXiv 2405.13698)",
    "beta2": "0.95^(B / 4,194,304 tokens: Llama 2's 1,024 × 4,096) clipped to [0.95, 0.999]: fixed second-moment half-life in tokens "
             "(Marek et al., arXiv 2507.07101; higher β2 at small batch, Porian et al., arXiv 2406.19146)",
    "interval": ("90%: quadrature sum of sampling (bootstrap, widened by the residual scatter), law form (forms "
                 "nearly as good at held-out sizes, and exponents beyond the range they were measured over) and, "
                 "for a model of another setup, setup (the spread of independent published laws at the target)"),
}


MOE_WARMUP_RULE = RULES.pop("warmup_moe")  # replaces "warmup" in an MoE's rules
WEIGHT_DECAY_CALIBRATED = ("the λ the fitted model's proxies were trained with (the optimal LR depends on η·λ, "
                           "so the LR law holds at its calibrated decay); --tau-frac sets λ by the τ rule instead")


def practical_batch_seqs(batch_tokens: float, seq_len: int) -> int:
    """Nearest of 2^k and 3·2^k sequences (log scale) to batch_tokens/seq_len, at least 1."""
    target = batch_tokens / seq_len
    if target <= 1:
        return 1
    k = math.floor(math.log2(target))
    candidates = [2**k, 3 * 2 ** (k - 1) if k >= 1 else 1, 2 ** (k + 1), 3 * 2**k]
    return min(candidates, key=lambda c: abs(math.log(c / target)))


def beta2_rule(batch_tokens: float) -> float:
    beta, anchor = BETA2_ANCHOR
    lo, hi = BETA2_RANGE
    return min(hi, max(lo, beta ** (batch_tokens / anchor)))


def _number(v, default: float) -> float:
    return float(v) if is_number(v) else default


def _choose_tokens(shape, tokens, tokens_per_param, fitted: FittedModel | None, warnings: list[str],
                   seq: int) -> tuple[float, str]:
    """(D, where it came from), checked against the limits and the sequence length."""
    d, source = _token_budget(shape, tokens, tokens_per_param, fitted, warnings)
    _capped(d, MAX_TOKENS, "tokens")
    if seq > d:
        raise AdvisorError(f"--seq-len {seq} is larger than the training tokens ({format_count(d)})")
    return d, source


def _token_budget(shape, tokens, tokens_per_param, fitted: FittedModel | None,
                  warnings: list[str]) -> tuple[float, str]:
    if tokens is not None and tokens_per_param is not None:
        raise AdvisorError("give either --tokens or --tokens-per-param, not both")
    if tokens is not None:
        return parse_quantity(tokens, "--tokens"), "given (--tokens)"
    if tokens_per_param is not None:
        tpp = parse_quantity(tokens_per_param, "--tokens-per-param")
        return tpp * shape.n_params_total, f"{tpp:g} tokens per (total) parameter (--tokens-per-param)"
    if isinstance(shape, shapes.MoeShape):
        raise AdvisorError(moe_tokens_needed(fitted, "--tokens or --tokens-per-param"))
    why = "the model has no usable loss law" if fitted is not None else "a published LR/batch law has no loss law"
    if fitted is not None and fitted.loss_ is not None and fitted.loss_.law.is_usable():
        n = _n_for_laws(fitted, shape)  # an MoE: the N the model's laws (its loss law too) take
        try:
            d = fitted.loss_.law.optimal_tokens(n)
        except (OverflowError, ZeroDivisionError):
            d = math.inf
        ratio = d / n if math.isfinite(d) and d > 0 else math.inf
        if USABLE_TOKENS_PER_PARAM[0] <= ratio <= USABLE_TOKENS_PER_PARAM[1]:
            if not PLAUSIBLE_TOKENS_PER_PARAM[0] <= ratio <= PLAUSIBLE_TOKENS_PER_PARAM[1]:
                warnings.append(CodedWarning("loss_law_tokens_per_param_far", f"the fitted loss law's compute-optimal D/N = {ratio:.3g} is far from the published "
                                "≈20 (Hoffmann et al., arXiv 2203.15556): proxies' loss laws may not transfer; "
                                "consider --tokens or --tokens-per-param 20"))
            return d, (f"compute-optimal for N under the fitted loss law L = E + A/N^α + B/D^β "
                       f"(D*/N = {ratio:.3g})")
        # A default must not be absurd: a loss law whose D*/N is orders of magnitude from the published
        # ≈20 has not transferred to this size, so fall back to the published rule and say why.
        warnings.append(CodedWarning("loss_law_tokens_per_param_absurd", f"the fitted loss law's compute-optimal D/N = {ratio:.3g} is absurd (published ≈20, "
                        "Hoffmann et al., arXiv 2203.15556): the proxies' loss law does not transfer to this "
                        "size, so the default token budget is 20 per parameter; pass --tokens to choose"))
        why = f"the fitted loss law's D*/N = {ratio:.3g} does not transfer"
    d = CHINCHILLA_TOKENS_PER_PARAM * shape.n_params_total
    return d, f"20 tokens per (total) parameter (Hoffmann et al., arXiv 2203.15556): {why}"


def moe_tokens_needed(fitted: FittedModel | None, options: str) -> str:
    """Why an MoE target must give its token budget: the MoE model's loss law takes N = the active count at
    the sweep's total size(s), so it cannot trade the total against D (no compute-optimal budget)."""
    sparsity = getattr(fitted, "sparsity_", None)
    measured = "" if sparsity is None else f" ({_measured_totals(sparsity)})"
    return (f"an MoE target needs {options}: the MoE model's loss law was fitted at its sweep's total size(s)"
            f"{measured} with N = the active count, so it gives no compute-optimal token budget for an MoE")


def _measured_totals(sparsity) -> str:
    lo, hi = sparsity.n_total_range
    return (f"one total size, {format_count(lo)} non-embedding" if hi / lo < 1.05
            else f"total sizes {format_count(lo)}–{format_count(hi)} non-embedding")


def _published_evidence(fitted: FittedModel, shape, d: float, seq: int, setup: str | None = None) -> dict[str, dict]:
    """Per law ("lr", "batch"): what published laws add to the prediction (advisor/intervals.py). The
    source authors' own law is another candidate form for the same data (with its error on our cells).
    The setup component: for a model fitted across setups, measured from them (advisor/setups.py; none for
    `setup`, a known one, whose own law shifts the point: "shift"); else the spread of the independent
    published laws at the target, used only when the model is not of the user's own setup (a shipped model
    is never)."""
    cross = _cross_evidence(fitted, shape, d, seq, setup)
    if cross is not None:
        return cross
    other_setup = fitted.shipped_ is not None or not fitted.same_setup_as_target_
    at_target = {key: _from_law(HYPERPARAMETER_LAWS[key], shape, d, seq) for key in SETUP_LAWS}
    out = {}
    for law, index in (("lr", 0), ("batch", 1)):
        own = getattr(fitted.lr_ if law == "lr" else fitted.batch_, "published", None)
        forms = []
        if own and own.law in HYPERPARAMETER_LAWS and own.log2_error is not None:
            forms.append((own.log2_error, _law_as_form(HYPERPARAMETER_LAWS[own.law], shape.vocab_size,
                                                       seq, index)))
        logs = [math.log(at_target[key][index].value) for key in SETUP_LAWS]
        out[law] = {"extra_forms": forms, "setup_width": max(logs) - min(logs) if other_setup else 0.0}
    return out


def _law_as_form(published: PublishedLaw, vocab_size: int, seq: int, index: int):
    """A published law as a log-value function of a point (n_params, tokens), like a fitted form."""
    def log_value(point: dict[str, float]) -> float:
        s = shapes.from_nonembedding(point["n_params"], vocab_size)
        answer = published.evaluate(Target(point["n_params"], point["tokens"], seq, s.n_layer, s.d_model))
        value = (answer.lr, answer.batch_tokens)[index]
        return math.log(value) if value and value > 0 else float("nan")

    return log_value


def _cross_evidence(fitted: FittedModel, shape, d: float, seq: int, setup: str | None) -> dict | None:
    """_published_evidence for a model with a cross_setup record (advisor/setup_answer.py), else None."""
    from advisor.setup_answer import cross_record, evidence

    if cross_record(fitted) is None:
        return None
    n = _n_for_laws(fitted, shape)
    point = {"n_params": n, "tokens": d, "flops": 6.0 * n * d}
    out = {}
    for law, index in (("lr", 0), ("batch", 1)):
        published = {key: _law_as_form(HYPERPARAMETER_LAWS[key], shape.vocab_size, seq, index) for key in SETUP_LAWS}
        found = evidence(fitted, law, point, published, setup) or {"setup_width": 0.0, "shift": 0.0, "values": {}}
        out[law] = {"extra_forms": [], "setup_width": found["setup_width"], "shift": found["shift"],
                    "values": found["values"]}
    return out


law_as_form = _law_as_form  # public: the cross-setup fit's validation evaluates published setups' laws too


def _n_for_laws(fitted: FittedModel, shape) -> float:
    if isinstance(shape, shapes.MoeShape):
        return fitted.n_for_laws(shape.n_params, shape.n_params_active)
    return shape.n_params


def _moe_total_shift(sparsity, shape, d: float, with_batch: bool) -> dict | None:
    """Where the target's total lies against the measured totals and, outside them, by what factor each point
    moved towards the alternative (dense-law) reading (advisor/sparsity.py alternative_shift); None inside."""
    total, active = shape.n_params, shape.n_params_active
    factor = sparsity.total_beyond(total)
    if factor <= 1.0:
        return None
    out = {"direction": "below" if total < sparsity.n_total_range[0] else "above", "factor": factor,
           "measured": _measured_totals(sparsity)}
    if sparsity.alternative is not None:
        for law in ("lr", "batch") if with_batch else ("lr",):
            shift, at_target = sparsity.alternative_shift(law, total, active, d)
            out[law] = {"point_factor": math.exp(shift), "alternative": math.exp(at_target)}
    return out


def _moe_warnings(sparsity, shape, shift: dict | None) -> list:
    """What the MoE sweep behind the model cannot support at this target (advisor/sparsity.py)."""
    out = []
    total, active = shape.n_params, shape.n_params_active
    lo, hi = sparsity.n_total_range
    if shift is not None:
        moved = ("the point moves halfway to the dense-law reading and the interval's sparsity component reaches "
                 "both" if sparsity.alternative is not None else "the point is this model's own reading, unchecked")
        out.append(CodedWarning("moe_total_extrapolated", f"the MoE sweep behind this model measured "
                                f"{shift['measured']}; this target's {format_count(total)} is {shift['factor']:.3g}× "
                                f"{shift['direction']} it: how the optimum moves with the total at a fixed active "
                                f"count is not measured, so {moved}"))
    ratios = (sparsity.n_active_range[0] / hi, sparsity.n_active_range[1] / lo)
    if not ratios[0] <= active / total <= ratios[1]:
        out.append(CodedWarning("moe_sparsity_beyond", f"{active / total:.3g} of the parameters are active per token; "
                                f"the MoE sweep measured {ratios[0]:.2g}–{ratios[1]:.2g}"))
    return out


def _from_model(fitted: FittedModel, shape, d: float, seq: int, warnings: list[str], setup: str | None = None):
    n = _n_for_laws(fitted, shape)
    moe = (shape.n_params, shape.n_params_active) if isinstance(shape, shapes.MoeShape) else None
    evidence = _published_evidence(fitted, shape, d, seq, setup)
    shifts = {law: evidence[law].pop("shift", 0.0) for law in evidence}
    lr_values = {law: evidence[law].pop("values", None) for law in evidence}["lr"]
    if moe is not None:  # beyond the MoE sweep's range, its dense reading is a candidate form
        for law in ("lr", "batch"):
            form = fitted.sparsity_.alternative_form(law, *moe)
            evidence[law]["range_forms"] = [form] if form is not None else []
    lr = _shifted(fitted.predict_lr(n, d, **evidence["lr"], moe=moe), shifts["lr"])
    if fitted.batch_unusable_ is None:
        batch, batch_source = _shifted(fitted.predict_batch(n, d, **evidence["batch"], moe=moe), shifts["batch"]), "model"
    else:
        stand_in = HYPERPARAMETER_LAWS[FALLBACK_BATCH_LAW]
        batch = _from_law(stand_in, shape, d, seq)[1]
        batch_source = f"law:{stand_in.key}"
        warnings.append(CodedWarning("batch_from_published_law", f"batch size from {stand_in.name} ({stand_in.citation}), not from this model: "
                        f"{fitted.batch_unusable_}"))
        calibrated = fitted.fit_range_.get("batch_tokens")
        if calibrated:
            warnings.append(CodedWarning("lr_calibrated_at_other_batch", f"the peak LR was calibrated at batches of {format_count(calibrated[0])}–"
                            f"{format_count(calibrated[1])} tokens, not at this batch: the optimal LR grows with "
                            "the batch, so treat it as a lower anchor for a short LR sweep"))
    for name, p in (("LR", lr), ("batch size", batch)):
        if not (p.value > 0 and math.isfinite(p.value)):
            raise AdvisorError(f"the model's {name} law gives {p.value:.3g} here: the target is outside what it can say")
    extrapolation = fitted.extrapolation(n, d)
    far = {k: f for k, f in extrapolation.items() if f > FAR_EXTRAPOLATION}
    if far:
        what = ", ".join(f"{k} {f:.3g}×" for k, f in far.items())
        warnings.append(CodedWarning("far_extrapolation", f"far extrapolation beyond the fitted range ({what}): treat as a starting point "
                        "for a short LR sweep, not an answer"))
    held = fitted.validation_.held_out_largest
    if held is not None:
        for err, label in ((held.lr_log2_error, "LR"), (held.batch_log2_error, "batch")):
            if err is not None and err > 1.0:
                warnings.append(CodedWarning("held_out_error_large", f"held-out {label} error is {2**err:.2g}× (mean |log2| {err:.2g}): "
                                "the law extrapolated poorly even within the proxies"))
    model_warnings = fitted.warnings_
    if batch_source != "model":  # the stand-in warning above already says why the batch law is unused
        model_warnings = [w for w in model_warnings if getattr(w, "code", None) not in BATCH_LAW_WARNINGS]
    warnings.extend(model_warnings)
    if not fitted.lr_.samples or (batch_source == "model" and not fitted.batch_.samples):
        warnings.append(CodedWarning("no_bootstrap_samples", "the model has no bootstrap samples: the sampling component is the residual scatter "
                        "alone, and exponents get no extra width beyond the fitted range"))
    from advisor.setup_answer import disagreement_warning, summary

    setups = summary(fitted, {"values": lr_values} if lr_values is not None else None, setup)
    warnings.extend(disagreement_warning(setups))
    return lr, batch, extrapolation, batch_source, setups


def _shifted(pred: Prediction, shift: float) -> Prediction:
    """A prediction moved by a log offset (a known setup's own law against the pooled one)."""
    if not shift:
        return pred
    f = math.exp(shift)
    return Prediction(pred.value * f, pred.low * f, pred.high * f, pred.components)


def _from_law(published: PublishedLaw, shape, d: float, seq: int) -> tuple[Prediction, Prediction]:
    loss_law = LOSS_PRESETS["chinchilla"]
    target = Target(shape.n_params, d, seq, shape.n_layer, shape.d_model,
                    loss=loss_law.loss(loss_law.n_of(shape), d), loss_source=loss_law.citation)
    answer = published.evaluate(target)
    if (answer.lr is None or answer.batch_tokens is None or not answer.lr > 0 or not answer.batch_tokens > 0
            or not math.isfinite(answer.lr * answer.batch_tokens)):
        raise AdvisorError(f"{published.name} gives no answer here: {'; '.join(answer.notes)}")
    return (Prediction(answer.lr, answer.lr, answer.lr),
            Prediction(answer.batch_tokens, answer.batch_tokens, answer.batch_tokens))


__all__ = ["Recommendation", "recommend", "AdvisorError", "ModelError", "UnitError"]
