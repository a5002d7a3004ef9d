"""The target of a recipe, parsed: `read_target(params="7B", ...)` gives a `RecipeTarget`, its shape (the
standard shape, a mixture of experts, or a model config's exact counts), the sequence length and, with
`with_token_budget`, the training tokens, each with where it came from.

The shapes carry their own behaviour (advisor/shape.py; an MoE's counts, C, the N its laws take); this module
reads what the user gave, refuses what cannot be a target (one-line `AdvisorError`), and chooses the token
budget a user did not give: the compute-optimal D under the model's loss law, else 20 per parameter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from advisor import shape as shapes
from advisor.coded_warning import CodedWarning
from advisor.errors import AdvisorError
from advisor.laws import CHINCHILLA_TOKENS_PER_PARAM
from advisor.units import format_count, parse_int_quantity, parse_quantity

if TYPE_CHECKING:
    from advisor.model import FittedModel
    from advisor.model_config import ModelConfig

DEFAULT_SEQ_LEN = 4096
DEFAULT_VOCAB = 32000
# A loss law's compute-optimal D*/N outside the first range earns a warning; outside the second it is
# not used as the default token budget at all.
PLAUSIBLE_TOKENS_PER_PARAM = (5.0, 500.0)
USABLE_TOKENS_PER_PARAM = (1.0, 1e4)
# Beyond these the arithmetic (and any law) stops meaning anything; refuse rather than overflow.
MAX_PARAMS, MAX_TOKENS = 1e15, 1e18


@dataclass(frozen=True)
class RecipeTarget:
    """What a recipe is for: the shape, the sequence length and the tokens, each with where it came from
    (`tokens` is NaN until `with_token_budget` chooses it)."""

    shape: shapes.Shape
    seq_len: int
    seq_len_source: str
    tokens: float = math.nan
    tokens_source: str = ""

    @property
    def config(self) -> ModelConfig | None:
        """The model config the shape was read from, if any."""
        return getattr(self.shape, "config", None)


def read_target(params=None, n_params_nonembedding=None, vocab_size=None, config=None, active_params=None,
                n_params_active_nonembedding=None, seq_len=None) -> tuple[RecipeTarget, list[CodedWarning]]:
    """(the target without its token budget, what reading it found to warn about): `target_shape` and the
    sequence length (`target_seq_len`)."""
    shape = target_shape(params, n_params_nonembedding, vocab_size, config, active_params, n_params_active_nonembedding)
    cfg = getattr(shape, "config", None)
    warnings = shape_warnings(shape) if cfg is None else []
    seq, seq_source, seq_warnings = target_seq_len(seq_len, cfg)
    return RecipeTarget(shape, seq, seq_source), warnings + seq_warnings


def with_token_budget(target: RecipeTarget, tokens, tokens_per_param, fitted: FittedModel | None,
                      label: str | None = None) -> tuple[RecipeTarget, list[CodedWarning]]:
    """The target with its tokens (`token_budget`), checked against the limits and the sequence length;
    `label` names a `tokens` the caller chose (`plan`)."""
    d, source, warnings = token_budget(target.shape, tokens, tokens_per_param, fitted)
    capped(d, MAX_TOKENS, "tokens")
    if target.seq_len > d:
        raise AdvisorError(f"seq_len={target.seq_len} is larger than the training tokens ({format_count(d)})")
    return replace(target, tokens=d, tokens_source=label if tokens is not None and label else source), warnings


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
    vocab = parse_int_quantity(DEFAULT_VOCAB if vocab_size is None else vocab_size, "vocab_size=")
    if vocab > MAX_PARAMS:
        raise AdvisorError(f"vocab size {vocab:.3g} is beyond what this tool models")
    if (params is None) == (n_params_nonembedding is None):
        raise AdvisorError("give exactly one of params= (total) or n_params_nonembedding=")
    if n_params_nonembedding is not None:
        n = capped(parse_quantity(n_params_nonembedding, "n_params_nonembedding="), MAX_PARAMS, "parameters")
        shape = shapes.from_nonembedding(n, vocab) if active is None else shapes.moe_from_nonembedding(n, active, vocab)
    else:
        total = capped(parse_quantity(params, "params="), MAX_PARAMS, "parameters")
        shape = shapes.from_total(total, vocab) if active is None else shapes.moe_from_total(total, active, vocab)
    _check_layers(shape, active, vocab)
    return shape


def _check_layers(shape: shapes.Shape, active: float | None, vocab: int) -> None:
    """Below one layer of the standard shape the arithmetic still runs but describes no real model."""
    if shape.n_layer < 1 and active is not None:  # the active count is what is too small, not the total
        raise AdvisorError(
            f"the active count {format_count(active)} is less than one layer of the standard shape (n_layer "
            f"{shape.n_layer:.2g}): give the parameters each token uses, e.g. active_params=2.8B for a 16B MoE")
    if shape.n_layer < 1 and shape.n_params < 1:  # no room even for one non-embedding parameter
        smallest = 12 * 128**2 + 2 * vocab * 128  # one layer of the standard shape: d_model 128
        raise AdvisorError(
            f"{format_count(shape.n_params_total)} parameters with vocab {vocab} leave no non-embedding parameters, "
            f"less than one layer of the standard shape (it takes {format_count(smallest)} in all): this tool "
            "advises on LLM-sized models")
    if shape.n_layer < 1:
        raise AdvisorError(
            f"{format_count(shape.n_params_total)} parameters with vocab {vocab} leave {format_count(shape.n_params)} "
            f"non-embedding parameters, less than one layer of the standard shape (n_layer {shape.n_layer:.2g}): "
            "this tool advises on LLM-sized models; pass n_params_nonembedding= or a smaller vocab_size=")


def _active_option(params, n_params_nonembedding, config, active_params, n_params_active_nonembedding):
    """The MoE's active count (None for a dense target), checked against the size option beside it."""
    if active_params is None and n_params_active_nonembedding is None:
        return None
    if config is not None:
        raise AdvisorError("config= gives the active count of an MoE: drop active_params=")
    if active_params is not None and n_params_active_nonembedding is not None:
        raise AdvisorError("give the active count once: active_params= (total) or n_params_active_nonembedding=")
    name, total_name, total = (("active_params", "params", params) if active_params is not None else
                               ("n_params_active_nonembedding", "n_params_nonembedding", n_params_nonembedding))
    if total is None:
        raise AdvisorError(f"{name}= goes with {total_name}= (the same convention: "
                           f"{'with' if name == 'active_params' else 'without'} embeddings)")
    active = parse_quantity(active_params if active_params is not None else n_params_active_nonembedding, f"{name}=")
    if active > parse_quantity(total, f"{total_name}="):
        raise AdvisorError(f"{name}={format_count(active)} is larger than the total {total_name}="
                           f"{format_count(parse_quantity(total, f'{total_name}='))}: the active count is a part of "
                           "the total")
    return active


def _config_shape(config, params, n_params_nonembedding, vocab_size) -> shapes.Shape:
    given = [name for name, v in (("params=", params), ("n_params_nonembedding=", n_params_nonembedding))
             if v is not None]
    if given:
        raise AdvisorError(f"config= gives the model size: drop {' and '.join(given)}")
    from advisor.model_config import ModelConfig, read_model_config  # only when a config is given: cold start

    cfg = config if isinstance(config, ModelConfig) else read_model_config(config)
    if vocab_size is not None and parse_int_quantity(vocab_size, "vocab_size=") != cfg.vocab_size:
        raise AdvisorError(f"vocab_size={vocab_size} contradicts vocab_size {cfg.vocab_size} in {cfg.path}: "
                           "drop vocab_size=")
    capped(cfg.n_params_total, MAX_PARAMS, "parameters")
    return cfg.shape()


def capped(x: float, limit: float, what: str) -> float:
    """`x`, refused beyond what this tool models."""
    if x > limit:
        raise AdvisorError(f"{x:.3g} {what} is beyond what this tool models (at most {limit:.0e})")
    return x


def shape_warnings(shape: shapes.Shape) -> list[CodedWarning]:
    if shape.n_params_total > 0 and shape.n_params / shape.n_params_total < 0.5:
        return [CodedWarning("shape_mostly_embedding",
                             f"under the standard shape only {shape.n_params / shape.n_params_total:.0%} of the "
                             "parameters are non-embedding; pass --n-params-nonembedding if you know N")]
    return []


def target_seq_len(seq_len, cfg: ModelConfig | None) -> tuple[int, str, list[CodedWarning]]:
    """(training sequence length, where it came from, warnings). A config's context length is the model's
    maximum, often reached by extending a model pretrained at a shorter length (Qwen2, Mistral, DeepSeek-V3
    were pretrained at 4K): without --seq-len the default 4096 stays, or the config's context where shorter."""
    if seq_len is not None:
        seq = parse_int_quantity(seq_len, "seq_len=")
        warnings = []
        if cfg is not None and seq > cfg.seq_len:
            if cfg.family in ("nanogpt", "gpt2"):
                raise AdvisorError(f"seq_len={seq} is longer than the {cfg.seq_len} learned positions of "
                                   f"{cfg.path}: raise its block size or shorten seq_len=")
            warnings.append(CodedWarning("seq_len_beyond_config", f"--seq-len {seq} is longer than the context "
                                         f"length {cfg.seq_len} of {cfg.path}: change the config to train at it"))
        return seq, "given (--seq-len)", warnings
    if cfg is None:
        return DEFAULT_SEQ_LEN, f"default {DEFAULT_SEQ_LEN} (--seq-len to change)", []
    context = cfg.pretraining_seq_len
    extended = (f"pretrained context {context} (rope_scaling.original_max_position_embeddings), extended to "
                f"{cfg.seq_len}" if cfg.original_seq_len else f"context length {cfg.seq_len}")
    if context <= DEFAULT_SEQ_LEN:
        return context, f"the config's {extended} (--seq-len to change)", []
    return DEFAULT_SEQ_LEN, (f"default {DEFAULT_SEQ_LEN}: the config's {extended} is the model's maximum, usually "
                             "reached by extending a shorter pretraining context (--seq-len to train at it)"), []


def token_budget(shape: shapes.Shape, tokens, tokens_per_param,
                 fitted: FittedModel | None) -> tuple[float, str, list[CodedWarning]]:
    """(D, where it came from, warnings): the given tokens or tokens per parameter, else (a dense target only:
    an MoE must give them) the default (`default_tokens`)."""
    if tokens is not None and tokens_per_param is not None:
        raise AdvisorError("give either tokens= or tokens_per_param=, not both")
    if tokens is not None:
        return parse_quantity(tokens, "tokens="), "given (--tokens)", []
    if tokens_per_param is not None:
        tpp = parse_quantity(tokens_per_param, "tokens_per_param=")
        return tpp * shape.n_params_total, f"{tpp:g} tokens per (total) parameter (--tokens-per-param)", []
    if shape.is_moe:
        raise AdvisorError(moe_tokens_needed(fitted, "tokens= or tokens_per_param="))
    return default_tokens(shape, fitted)


def default_tokens(shape: shapes.Shape, fitted: FittedModel | None) -> tuple[float, str, list[CodedWarning]]:
    """The compute-optimal D for N under the model's loss law where its D*/N is usable, else 20 per (total)
    parameter (Hoffmann et al.), saying why."""
    why = "the model has no usable loss law" if fitted is not None else "a published LR/batch law has no loss law"
    warnings = []
    if fitted is not None and fitted.loss_ is not None and fitted.loss_.law.is_usable():
        n = shape.n_for_laws(fitted)  # the N the model's laws (its loss law too) take
        try:
            d = fitted.loss_.law.optimal_tokens(n)
        except (OverflowError, ZeroDivisionError):
            d = math.inf
        ratio = d / n if math.isfinite(d) and d > 0 else math.inf
        if USABLE_TOKENS_PER_PARAM[0] <= ratio <= USABLE_TOKENS_PER_PARAM[1]:
            if not PLAUSIBLE_TOKENS_PER_PARAM[0] <= ratio <= PLAUSIBLE_TOKENS_PER_PARAM[1]:
                warnings.append(CodedWarning(
                    "loss_law_tokens_per_param_far", f"the fitted loss law's compute-optimal D/N = {ratio:.3g} is far "
                    "from the published ≈20 (Hoffmann et al., arXiv 2203.15556): proxies' loss laws may not transfer; "
                    "consider --tokens or --tokens-per-param 20"))
            return d, (f"compute-optimal for N under the fitted loss law L = E + A/N^α + B/D^β "
                       f"(D*/N = {ratio:.3g})"), warnings
        # A default must not be absurd: a loss law whose D*/N is orders of magnitude from the published
        # ≈20 has not transferred to this size, so fall back to the published rule and say why.
        warnings.append(CodedWarning(
            "loss_law_tokens_per_param_absurd", f"the fitted loss law's compute-optimal D/N = {ratio:.3g} is absurd "
            "(published ≈20, Hoffmann et al., arXiv 2203.15556): the proxies' loss law does not transfer to this "
            "size, so the default token budget is 20 per parameter; pass --tokens to choose"))
        why = f"the fitted loss law's D*/N = {ratio:.3g} does not transfer"
    d = CHINCHILLA_TOKENS_PER_PARAM * shape.n_params_total
    return d, f"20 tokens per (total) parameter (Hoffmann et al., arXiv 2203.15556): {why}", warnings


def moe_tokens_needed(fitted: FittedModel | None, options: str) -> str:
    """Why an MoE target must give its token budget: the MoE model's loss law takes N = the active count at
    the sweep's total size(s), so it cannot trade the total against D (no compute-optimal budget)."""
    sparsity = getattr(fitted, "sparsity_", None)
    measured = "" if sparsity is None else f" ({sparsity.measured_totals()})"
    return (f"an MoE target needs {options}: the MoE model's loss law was fitted at its sweep's total size(s)"
            f"{measured} with N = the active count, so it gives no compute-optimal token budget for an MoE")
