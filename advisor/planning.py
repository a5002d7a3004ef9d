"""Plan a run: budget -> compute-optimal (N, D) -> recipe, time, cost, memory per GPU, micro-batch.

`plan(flops="1e23")`, `plan(gpus=512, days=30, gpu="h100")`, `plan(gpu_hours="1e5")` choose (N, D) that
minimise the loss law at C = 6ND (the fitted model's, or `loss_law="chinchilla"|"epoch"`); `plan(params="7B",
tokens="2T", gpus=512)` instead costs a given run. Compute ↔ time: C = GPU-seconds × peak × MFU.

Memory per GPU (P = total parameters, G = GPUs), mixed precision with AdamW (Rajbhandari et al., ZeRO,
arXiv 1910.02054): bf16 weights 2P + bf16 gradients 2P + fp32 master weights 4P + two fp32 Adam moments 8P
= 16 bytes/parameter, divided by G under FSDP/ZeRO-3 (`sharding="fsdp"`), replicated under DDP.
Activations per sequence of s tokens per layer (Korthikanti et al., arXiv 2205.05198, no tensor/sequence
parallelism): 34·s·h bytes, without their 5·a·s²·b attention-score term because FlashAttention-style kernels
do not store the s×s matrix. With full activation checkpointing only each layer's bf16 input (2·s·h) is
kept, plus one layer's 34·s·h during recomputation. Logits: 4·s·V bytes (fp32 for the loss). A GPU is
counted usable up to 90% of its memory (allocator fragmentation, communication buffers, CUDA context).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from advisor import shape as shapes
from advisor.hardware import GPU, get_gpu
from advisor.coded_warning import CodedWarning
from advisor.cost import cost_of
from advisor.laws import HYPERPARAMETER_LAWS, LOSS_PRESETS, LossLaw
from advisor.model import FittedModel
from advisor.errors import AdvisorError
from advisor.recipe import Recommendation, load_moe_source, load_source, recommend
from advisor.target import DEFAULT_SEQ_LEN, DEFAULT_VOCAB, PLAUSIBLE_TOKENS_PER_PARAM, USABLE_TOKENS_PER_PARAM, moe_tokens_needed, target_shape
from advisor.units import format_days, parse_int_quantity, parse_quantity

if TYPE_CHECKING:  # model_config is imported only when a config is given (cold start)
    from advisor.model_config import ModelConfig

BYTES_PER_PARAM = {"weights": 2, "grads": 2, "optimizer": 12}  # optimizer = fp32 master + 2 moments
ACT_BYTES_PER_TOKEN_LAYER = 34  # × d_model, Korthikanti et al. (no TP/SP, flash attention)
USABLE_MEMORY = 0.9
FALLBACK_LOSS_LAW = "epoch"  # allocates when the fitted loss law's D*/N is absurd (Besiroglu et al.'s refit)
SHARDINGS = ("fsdp", "ddp")
GIB = 2**30
# Ranges of the numeric options beyond which a plan is no longer a plan (and numbers overflow)
MIN_MFU = 1e-3
MAX_GPUS = 10**7
MAX_PRICE = 1e6  # per GPU-hour, in any currency
LONG_RUN_DAYS = 365.0  # a run longer than a year is warned (run_too_long)


@dataclass
class Memory:
    """Bytes per GPU, in GiB."""

    weights_gib: float
    grads_gib: float
    optimizer_gib: float
    activations_gib: float
    logits_gib: float
    total_gib: float
    gpu_gib: float
    usable_gib: float
    micro_batch: int | None
    grad_accum: int | None
    per_gpu_seqs: int
    fits: bool


@dataclass
class Plan:
    mode: str  # "budget" (N, D chosen) or "size" (N, D given)
    flops: float  # C in the laws' convention: the budget, or 6ND of the given size
    flops_source: str
    train_flops: float  # the full count that sets the time: (6N + attention + output head)·D
    gpu: str
    gpu_peak_flops: float
    mfu: float
    gpus: int
    gpus_source: str
    gpu_hours: float
    wall_days: float
    price_per_gpu_hour: float | None
    cost: float | None
    loss_law: dict | None
    predicted_loss: float | None
    n_params: float
    n_params_total: float
    tokens: float
    sharding: str
    activation_checkpointing: bool
    memory: Memory
    recommendation: Recommendation
    warnings: list[CodedWarning] = field(default_factory=list)
    # what the batch the GPUs actually run (per-GPU sequences × GPUs) costs against the optimum
    # (advisor/cost.py): {"batch_tokens", "penalty_pct", ...}; None without a penalty model
    batch_cost: dict | None = None

    def to_dict(self) -> dict:
        return {**asdict(self), "recommendation": self.recommendation.to_dict()}


@dataclass(frozen=True)
class _Budget:
    """The validated hardware and price inputs of a plan."""

    device: GPU
    mfu: float
    gpus: int | None
    price: float | None
    seq_len: int
    vocab_size: int


def plan(
    *,
    flops=None, gpu_hours=None, gpus=None, days=None,
    params=None, tokens=None, n_params_nonembedding=None, config: str | Path | ModelConfig | None = None,
    gpu: str = "h100", mfu=0.4, price_per_gpu_hour=None,
    loss_law: str | None = None, model: str | Path | FittedModel | None = None, hp_law: str | None = None,
    seq_len=None, vocab_size=None,
    sharding: str = "fsdp", activation_checkpointing: bool = True,
    active_params=None, n_params_active_nonembedding=None,
) -> Plan:
    """Plan from a budget (flops | gpu_hours | gpus+days) or cost a given size (params[/tokens], or the
    model's own `config`, advisor/model_config.py). `seq_len` and `vocab_size` default to 4096 and 32000,
    or, with a config, to what the config says (advisor.recipe.recommend). A mixture of experts gives its
    active count beside the size (`active_params` or `n_params_active_nonembedding`): memory holds every
    expert, time counts the active ones."""
    budget = _budget_inputs(gpu, mfu, gpus, price_per_gpu_hour, DEFAULT_SEQ_LEN if seq_len is None else seq_len,
                            DEFAULT_VOCAB if vocab_size is None else vocab_size, sharding)
    source = {"model": model, "law": hp_law}
    if params is not None or n_params_nonembedding is not None or config is not None:
        given = [name for name, v in (("flops=", flops), ("gpu_hours=", gpu_hours), ("days=", days)) if v is not None]
        if given:
            raise AdvisorError(f"give a size (params=/config= with tokens=) or a budget ({', '.join(given)}), "
                               "not both")
        target = {"config": config, "seq_len": seq_len, "vocab_size": vocab_size, "active_params": active_params,
                  "n_params_active_nonembedding": n_params_active_nonembedding}
        sized = _size_mode(params, tokens, n_params_nonembedding, budget, loss_law, source, target)
    else:
        if tokens is not None:
            raise AdvisorError("tokens= needs params= (a size), not a budget")
        if active_params is not None or n_params_active_nonembedding is not None:
            raise AdvisorError("an MoE's active count needs its size (params= with active_params=), not a budget")
        sized = _budget_mode(flops, gpu_hours, days, budget, loss_law, source)
    rec, warnings = sized["rec"], sized["warnings"]
    model_shape = sized.get("shape") or shapes.from_nonembedding(rec.n_params, budget.vocab_size)
    n_gpus, gpus_source, memory, layout = _gpus_and_memory(model_shape, rec, budget, sharding, activation_checkpointing)
    train_flops = full_training_flops(model_shape, rec)
    hours = train_flops / (budget.device.peak_flops * budget.mfu) / 3600.0
    warnings = warnings + layout + _long_run(hours / n_gpus / 24.0, n_gpus)
    return Plan(
        mode=sized["mode"], flops=sized["flops"], flops_source=sized["flops_source"], train_flops=train_flops,
        gpu=budget.device.name, gpu_peak_flops=budget.device.peak_flops, mfu=budget.mfu, gpus=n_gpus,
        gpus_source=gpus_source, gpu_hours=hours, wall_days=hours / n_gpus / 24.0,
        price_per_gpu_hour=budget.price, cost=hours * budget.price if budget.price is not None else None,
        loss_law=sized["law_info"], predicted_loss=sized["loss"], n_params=rec.n_params,
        n_params_total=rec.n_params_total, tokens=rec.tokens, sharding=sharding,
        activation_checkpointing=activation_checkpointing, memory=memory, recommendation=rec,
        warnings=warnings + rec.warnings, batch_cost=_batch_cost(source, rec, memory.per_gpu_seqs * n_gpus),
    )


def _long_run(days: float, n_gpus: int) -> list[CodedWarning]:
    """A run longer than a year on these GPUs: no team trains that long, so say so beside the plan."""
    if days < LONG_RUN_DAYS:
        return []
    return [CodedWarning("run_too_long", f"the run takes {format_days(days)} on {n_gpus:,} GPUs: more GPUs "
                         "(--gpus), a faster GPU (--gpu) or a smaller target; published runs take weeks to months")]


def _batch_cost(source: dict, rec: Recommendation, global_seqs: int) -> dict | None:
    """The loss penalty of the global batch the layout runs, against the recommended optimum."""
    if source["law"] is not None or not (rec.lr_informative and rec.batch_informative):
        return None  # no optimum to cost against where the model does not know it (advisor/unknown_optimum.py)
    fitted, _ = load_source(source["model"] if source["model"] is not None else rec.source.path, None)
    if fitted.penalty_ is None:
        return None
    tokens = global_seqs * rec.seq_len
    cost = cost_of(fitted.penalty_, rec.n_params_laws or rec.n_params, rec.tokens, rec.lr, tokens, rec.lr, rec.batch_tokens)
    return {"batch_tokens": tokens, "batch_seqs": global_seqs, **cost.to_dict()}


def _budget_inputs(gpu, mfu, gpus, price_per_gpu_hour, seq_len, vocab_size, sharding) -> _Budget:
    try:
        device = get_gpu(gpu)
    except KeyError as exc:
        raise AdvisorError(str(exc.args[0])) from None
    mfu_value = parse_quantity(mfu, "mfu=")
    if not MIN_MFU <= mfu_value <= 1:
        raise AdvisorError(f"mfu= is a fraction of peak, at least {MIN_MFU:g} and at most 1, got {mfu}")
    if sharding not in SHARDINGS:
        raise AdvisorError(f"sharding= must be one of {', '.join(SHARDINGS)}, got {sharding!r}")
    n_gpus = parse_int_quantity(gpus, "gpus=") if gpus is not None else None
    price = parse_quantity(price_per_gpu_hour, "price_per_gpu_hour=") if price_per_gpu_hour is not None else None
    for name, value, limit in (("gpus", n_gpus, MAX_GPUS), ("price_per_gpu_hour", price, MAX_PRICE)):
        if value is not None and value > limit:
            raise AdvisorError(f"{name}={value:g} is beyond what this tool plans for (at most {limit:g})")
    return _Budget(device, mfu_value, n_gpus, price,
                   parse_int_quantity(seq_len, "seq_len="), parse_int_quantity(vocab_size, "vocab_size="))


def _size_mode(params, tokens, n_params_nonembedding, budget: _Budget, loss_law, source: dict,
               target: dict | None = None) -> dict:
    """Cost a given size; without --tokens, D*(N) of the chosen loss law (or the model's default).
    `target` holds the model's own config and the seq_len/vocab_size as given (None: the config's)."""
    target = target or {}
    config = target.get("config")
    active = {k: target.get(k) for k in ("active_params", "n_params_active_nonembedding")}
    if config is None and all(v is None for v in active.values()):
        sizing = {"seq_len": budget.seq_len, "vocab_size": budget.vocab_size}
        shape = None
    elif config is None:  # an MoE: its shape (every expert) sets the memory, its active count the time
        shape = target_shape(params, n_params_nonembedding, budget.vocab_size, None, **active)
        sizing = {"seq_len": budget.seq_len, "vocab_size": budget.vocab_size, **active}
    else:  # read once: the config's exact shape sets the memory and the full FLOPs too
        shape = target_shape(params, n_params_nonembedding, target["vocab_size"], config)
        sizing = {"seq_len": target["seq_len"], "vocab_size": target["vocab_size"], "config": shape.config}
    if shape is not None and shape.is_moe and tokens is None:  # no loss law can pick an MoE's D
        raise AdvisorError(moe_tokens_needed(load_moe_source(source["model"], source["law"])[0], "tokens="))
    tokens_source = None
    if tokens is None and loss_law is not None:  # D*(N) of the chosen preset instead of the model's law
        law = _loss_law(loss_law, source["model"], source["law"])
        tokens = law.optimal_tokens(law.n_of(shape or target_shape(params, n_params_nonembedding, budget.vocab_size)))
        tokens_source = f"compute-optimal for N under the {law.name} loss law ({law.citation})"
    rec = recommend(params, tokens, n_params_nonembedding=n_params_nonembedding, tokens_source=tokens_source,
                    **sizing, **source)
    moe = rec.n_params_active < rec.n_params
    return {"mode": "size", "rec": rec, "flops": rec.flops,
            "flops_source": "6·N_active·D of the given MoE" if moe else "6ND of the given size",
            "law_info": None, "loss": None, "warnings": [], "shape": shape}


def _budget_mode(flops, gpu_hours, days, budget: _Budget, loss_law, source: dict) -> dict:
    """Choose the compute-optimal (N, D) for the budget under a loss law, then the recipe for it."""
    warnings: list[CodedWarning] = []
    c, flops_source = _budget_flops(flops, gpu_hours, budget.gpus, days, budget.device, budget.mfu)
    law = _loss_law(loss_law, source["model"], source["law"])
    n, d, c6 = _allocate(law, c, budget)
    if loss_law is None and not USABLE_TOKENS_PER_PARAM[0] <= d / n <= USABLE_TOKENS_PER_PARAM[1]:
        # The fitted law's allocation is absurd (it did not transfer): use the published one, and say so.
        warnings.append(CodedWarning("loss_law_allocation_absurd", f"the fitted loss law's compute-optimal D/N = {d / n:.3g} is absurd (published ≈20): "
                        f"allocating with the {FALLBACK_LOSS_LAW} loss law instead; pass --loss-law to choose"))
        law = LOSS_PRESETS[FALLBACK_LOSS_LAW]
        n, d, c6 = _allocate(law, c, budget)
    size = {"params": n} if law.n_is_total else {"n_params_nonembedding": n}  # what the law's N counts
    rec = recommend(**size, tokens=d, seq_len=budget.seq_len, vocab_size=budget.vocab_size,
                    tokens_source=f"compute-optimal under the {law.name} loss law at 6ND = {c6:.3g} FLOPs (the "
                    f"budget {c:.3g} less attention and the output head)", **source)
    warnings += _check_ratio(d / n, law.name)
    law_info = {"name": law.name, "citation": law.citation, "flops_6nd": c6,
                "values": {"E": law.E, "A": law.A, "alpha": law.alpha, "B": law.B, "beta": law.beta}}
    return {"mode": "budget", "rec": rec, "flops": c, "flops_source": flops_source, "law_info": law_info,
            "loss": law.loss(n, d), "warnings": warnings}


def _gpus_and_memory(model_shape, rec: Recommendation, budget: _Budget, sharding: str,
                     checkpointing: bool) -> tuple[int, str, Memory, list[CodedWarning]]:
    """The GPU count (given, or the fewest that fit), the memory per GPU, and warnings on the layout."""
    warnings = []
    n_gpus, gpus_source = budget.gpus, "given (--gpus)"
    if n_gpus is None:
        n_gpus = _min_gpus(model_shape, rec, budget.device, sharding, checkpointing)
        gpus_source = f"fewest (power of two) that fit the model under {sharding}"
        if n_gpus is None:
            raise AdvisorError(f"the model does not fit on any number of {budget.device.name} under {sharding}; "
                               "it needs tensor/pipeline parallelism (not modelled)")
    memory = memory_per_gpu(model_shape, rec, budget.device, n_gpus, sharding, checkpointing)
    if not memory.fits:
        warnings.append(CodedWarning("does_not_fit_memory", f"does not fit: {memory.total_gib:.1f} GiB per GPU with micro-batch 1 > "
                        f"{memory.usable_gib:.1f} GiB usable; use more GPUs, FSDP, checkpointing, or "
                        "tensor/pipeline parallelism (not modelled)"))
    if rec.batch_seqs < n_gpus:
        warnings.append(CodedWarning("batch_smaller_than_gpus", f"the batch ({rec.batch_seqs:,} sequences) is smaller than the {n_gpus:,} GPUs: pure data "
                        "parallelism cannot use them all at this batch; use tensor/pipeline/context "
                        "parallelism (not modelled) or fewer GPUs"))
    elif rec.batch_seqs % n_gpus:
        warnings.append(CodedWarning("batch_not_divisible_by_gpus", f"the batch ({rec.batch_seqs:,} sequences) does not divide over {n_gpus:,} GPUs: the plan "
                        f"uses {memory.per_gpu_seqs:,} per GPU ({memory.per_gpu_seqs * n_gpus:,} in all)"))
    return n_gpus, gpus_source, memory, warnings


def full_training_flops(model_shape: shapes.Shape, rec: Recommendation) -> float:
    """Training FLOPs that set the wall time: (6N + 6·n_layer·seq·d_model + 6·d_model·V)·D, i.e. the
    matmuls of the non-embedding weights, of attention (Kaplan et al., arXiv 2001.08361, table 1) and of the
    output head, forward and backward; MFU as usually quoted counts all three. For a mixture of experts N
    is the parameters active per token: the experts a token does not visit cost it nothing."""
    return _full_flops_per_token(model_shape, rec.seq_len, rec.n_params_active or rec.n_params) * rec.tokens


def _check_ratio(tokens_per_param: float, law_name: str) -> list[CodedWarning]:
    if PLAUSIBLE_TOKENS_PER_PARAM[0] <= tokens_per_param <= PLAUSIBLE_TOKENS_PER_PARAM[1]:
        return []
    return [CodedWarning("loss_law_tokens_per_param_far", f"the {law_name} loss law's compute-optimal D/N = "
                         f"{tokens_per_param:.3g} is far from the published ≈20 (Hoffmann et al., arXiv 2203.15556): a "
                         "loss law fitted on small proxies may not transfer; compare with --loss-law chinchilla")]


def _budget_flops(flops, gpu_hours, n_gpus, days, device: GPU, mfu: float) -> tuple[float, str]:
    given = [x is not None for x in (flops, gpu_hours, days)]
    if sum(given) != 1:
        raise AdvisorError("give one budget: flops=, gpu_hours=, or gpus= with days= "
                           "(or params= [tokens=] to cost a given size)")
    if flops is not None:
        return parse_quantity(flops, "flops="), "given (--flops)"
    rate = device.peak_flops * mfu
    if gpu_hours is not None:
        h = parse_quantity(gpu_hours, "gpu_hours=")
        return h * 3600.0 * rate, f"{h:.4g} GPU-hours × {device.name} peak × MFU {mfu:g}"
    if n_gpus is None:
        raise AdvisorError("days= needs gpus=")
    d = parse_quantity(days, "days=")
    return n_gpus * d * 86400.0 * rate, f"{n_gpus:,} GPUs × {format_days(d)} × {device.name} peak × MFU {mfu:g}"


def _allocate(law: LossLaw, c: float, budget: _Budget) -> tuple[float, float, float]:
    """(N, D, 6ND): compute-optimal under the law such that the full training count (6N plus attention and
    the output head, `full_training_flops`, which sets the wall time) spends the budget c exactly: the
    allocation and the time use one FLOP count. The full count's share beyond 6ND moves slowly with N, so
    a few fixed-point steps converge."""
    c6 = c
    for _ in range(50):
        n, d = _compute_optimal(law, c6)
        shape = (shapes.from_total if law.n_is_total else shapes.from_nonembedding)(n, budget.vocab_size)
        full = _full_flops_per_token(shape, budget.seq_len, shape.n_params) * d
        if abs(full / c - 1.0) < 1e-9:
            break
        c6 *= c / full
    return n, d, c6


def _full_flops_per_token(shape: shapes.Shape, seq_len: int, n_active: float) -> float:
    """(6N + 6·n_layer·seq·d_model + 6·d_model·V): the matmuls of one token, forward and backward."""
    return 6.0 * n_active + 6.0 * shape.n_layer * seq_len * shape.d_model + 6.0 * shape.d_model * shape.vocab_size


def _compute_optimal(law: LossLaw, c: float) -> tuple[float, float]:
    try:
        n, d = law.compute_optimal(c)
    except (OverflowError, ZeroDivisionError):
        n = d = math.inf
    if not (math.isfinite(n) and math.isfinite(d) and n > 0 and d > 0):
        raise AdvisorError(f"the loss law gives no finite compute-optimal size at C = {c:.3g}")
    return n, d


def _loss_law(name: str | None, model, hp_law) -> LossLaw:
    if name is not None:
        key = str(name).lower()
        if key not in LOSS_PRESETS:
            hint = (f" ({name} is an LR/batch law: in `plan` pass it as hp_law={key})"
                    if key in HYPERPARAMETER_LAWS else "")
            raise AdvisorError(f"unknown loss law {name!r}; choose one of {', '.join(LOSS_PRESETS)}{hint}")
        return LOSS_PRESETS[key]
    if hp_law is not None:
        raise AdvisorError("with hp_law=, also choose a loss law for the allocation: loss_law=chinchilla|epoch")
    fitted, _ = load_source(model, None)
    if fitted.loss_ is None or not fitted.loss_.law.is_usable():
        raise AdvisorError("the model has no usable loss law: pass loss_law=chinchilla|epoch for the allocation")
    return fitted.loss_.law


def memory_per_gpu(model_shape: shapes.Shape, rec: Recommendation, device: GPU, n_gpus: int,
                   sharding: str, checkpointing: bool) -> Memory:
    """Memory per GPU and the largest micro-batch (a divisor of the per-GPU sequences) that fits."""
    shard = n_gpus if sharding == "fsdp" else 1
    p = model_shape.n_params_total
    weights, grads, optim = (BYTES_PER_PARAM[k] * p / shard for k in ("weights", "grads", "optimizer"))
    static = weights + grads + optim
    usable = USABLE_MEMORY * device.memory_bytes
    per_gpu = max(1, math.ceil(rec.batch_seqs / n_gpus))

    def activations(b: int) -> tuple[float, float]:
        s, h, layers = rec.seq_len, model_shape.d_model, model_shape.n_layer
        one_layer = ACT_BYTES_PER_TOKEN_LAYER * s * h * b
        acts = layers * 2 * s * h * b + one_layer if checkpointing else layers * one_layer
        return acts, 4.0 * s * model_shape.vocab_size * b

    micro = None
    for b in sorted(_divisors(per_gpu), reverse=True):
        acts, logits = activations(b)
        if static + acts + logits <= usable:
            micro = b
            break
    acts, logits = activations(micro or 1)
    return Memory(
        weights_gib=weights / GIB, grads_gib=grads / GIB, optimizer_gib=optim / GIB,
        activations_gib=acts / GIB, logits_gib=logits / GIB, total_gib=(static + acts + logits) / GIB,
        gpu_gib=device.memory_bytes / GIB, usable_gib=usable / GIB, micro_batch=micro,
        grad_accum=per_gpu // micro if micro else None, per_gpu_seqs=per_gpu, fits=micro is not None,
    )


def _min_gpus(model_shape, rec, device, sharding, checkpointing) -> int | None:
    for k in range(21):
        if memory_per_gpu(model_shape, rec, device, 2**k, sharding, checkpointing).fits:
            return 2**k
        if sharding == "ddp":
            return None  # replicated: more GPUs do not help
    return None


def _divisors(n: int) -> list[int]:
    """Divisors of n; for very large n (no real run) only its power-of-two divisors, to stay fast."""
    if n > 10**10:
        return [2**k for k in range((n & -n).bit_length())]
    small = [i for i in range(1, int(math.isqrt(n)) + 1) if n % i == 0]
    return sorted(set(small + [n // i for i in small]))


__all__ = ["Plan", "Memory", "plan", "memory_per_gpu"]
