"""The target options the advice commands share (--params, --seq-len, --model, --config, ...); their defaults
are the domain's (advisor.target.DEFAULT_SEQ_LEN, DEFAULT_VOCAB), written once."""
from __future__ import annotations

import click

from advisor.cli.style import Quantity
from advisor.errors import AdvisorError
from advisor.target import DEFAULT_SEQ_LEN, DEFAULT_VOCAB

# ---------------------------------------------------------------------------------------- recommend

TARGET_OPTIONS = [
    click.option("--params", type=Quantity(), help="TOTAL parameters of the target, e.g. 7B, 70b, 1.5e9, 300M "
                 "(converted to non-embedding N with the Llama-style shape and --vocab-size)."),
    click.option("--n-params-nonembedding", "n_params_nonembedding", type=Quantity(),
                 help="Non-embedding parameters N directly (instead of --params)."),
    click.option("--active-params", type=Quantity(), help="Mixture of experts: parameters active per token, "
                 "counted like --params (embeddings included), e.g. --params 16B --active-params 2.8B. Served by "
                 "the shipped MoE model unless --model is given."),
    click.option("--n-params-active-nonembedding", "n_params_active_nonembedding", type=Quantity(),
                 help="Mixture of experts: non-embedding parameters active per token (with --n-params-nonembedding)."),
    click.option("--seq-len", type=Quantity(integer=True), default=DEFAULT_SEQ_LEN, show_default=True,
                 help="Sequence length in tokens (with --config and no --seq-len: the config's context "
                 f"length where it is shorter than {DEFAULT_SEQ_LEN})."),
    click.option("--vocab-size", type=Quantity(integer=True), default=DEFAULT_VOCAB, show_default=True,
                 help="Vocabulary size used to split --params into embeddings and the rest (with --config: "
                 "the config's)."),
    click.option("--model", "model_path", metavar="NAME|FILE",
                 help="A shipped model's name (`advisor sources`) or a fitted-model JSON (from `advisor fit`); "
                 "default: the catalog's default model."),
]


# The model's own config instead of --params: a separate option, added to each command that takes it.
config_option = click.option(
    "--config", "config", metavar="FILE", type=click.Path(dir_okay=False),
    help="The model's config: a Hugging Face config.json (llama, mistral, qwen2, mixtral, qwen2_moe, "
    "deepseek_v3, ...) or a nanoGPT config. Exact N, total and active counts, vocabulary and context length "
    "replace the standard shape (instead of --params / --n-params-nonembedding).")


def config_target(config, seq_len, vocab_size) -> tuple:
    """(seq_len, vocab_size) for the API: the ones the user did not type become None, so that the config
    decides them (advisor.target.target_shape, target_seq_len), or the defaults apply and the output says
    "default", not "given"."""
    ctx = click.get_current_context()
    defaulted = (click.core.ParameterSource.DEFAULT, click.core.ParameterSource.DEFAULT_MAP)
    return tuple(None if ctx.get_parameter_source(name) in defaulted else value
                 for name, value in (("seq_len", seq_len), ("vocab_size", vocab_size)))


def add_options(options):
    def decorator(func):
        for option in reversed(options):
            func = option(func)
        return func

    return decorator




def need_size(params, n_params_nonembedding, config) -> None:
    if params is None and n_params_nonembedding is None and config is None:
        raise AdvisorError("give the target size: --params 7B (total), --n-params-nonembedding N or --config FILE")

