"""`advisor compare`: this tool's answer beside the published laws' at one target."""
from __future__ import annotations

import click

from advisor.cli.options import TARGET_OPTIONS, add_options, config_option, config_target, need_size
from advisor.cli.style import Quantity, StyledCommand, count_or_dash, dump_json, three_digits, out_of_range
from advisor.comparison import comparison
from advisor.target import DEFAULT_SEQ_LEN
from advisor.recipe import recommend as make_recommendation
from advisor.units import format_count



@click.command(cls=StyledCommand)
@add_options(TARGET_OPTIONS[:1])
@click.option("--tokens", type=Quantity(), help="Training tokens, e.g. 2T (default as in `advisor recommend`).")
@add_options(TARGET_OPTIONS[1:])
@config_option
@click.option("--optimizer", metavar="NAME", help="Compare this optimizer's law (Marin's sweep, arXiv 2509.02046) "
              "with AdamW's and with Marin's own fit and 1.2B runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@out_of_range
def compare(params, tokens, n_params_nonembedding, seq_len, vocab_size, model_path, config, optimizer, as_json,
            active_params=None, n_params_active_nonembedding=None):
    """Compare the fitted model's LR and batch with published laws, side by side.

    Rows: this model (with its 90% interval), DeepSeek LLM (arXiv 2401.02954),
    Step Law (arXiv 2503.04715), Kaplan et al. (arXiv 2001.08361) and Porian
    et al. (arXiv 2406.19146). Batch sizes are in tokens and in sequences at
    --seq-len; N is non-embedding everywhere.

    \b
    Examples:
      advisor compare --params 7B --tokens 2T
      advisor compare --params 70B --tokens 15T --seq-len 8192 --json
      advisor compare --config path/to/config.json --tokens 2T
      advisor compare --params 7B --tokens 2T --optimizer muon
    """
    need_size(params, n_params_nonembedding, config)
    seq_len, vocab_size = config_target(config, seq_len, vocab_size)
    if optimizer is not None:
        from advisor.cli.optimizer import compare_command

        return compare_command(optimizer, as_json, dict(model=model_path, active_params=active_params,
                                                        active_nonembedding=n_params_active_nonembedding),
                               params=params, tokens=tokens, n_params_nonembedding=n_params_nonembedding,
                               seq_len=seq_len or DEFAULT_SEQ_LEN, vocab_size=vocab_size, config=config)
    rec = make_recommendation(params, tokens, seq_len=seq_len, vocab_size=vocab_size,
                              n_params_nonembedding=n_params_nonembedding, config=config, model=model_path,
                              active_params=active_params, n_params_active_nonembedding=n_params_active_nonembedding)
    table = comparison(rec)
    if as_json:
        dump_json(table)
    else:
        click.echo(render_comparison(table))


def render_comparison(table: dict) -> str:
    header = f"{'source':<16} {'peak LR':>15} {'batch tokens':>13} {'batch seqs':>11}  citation"
    active = table.get("n_params_active") or table["n_params"]
    moe = (f", {format_count(active)} active per token (the model's laws at N = {format_count(table['n_params_laws'])})"
           if active < table["n_params"] else "")
    lines = [f"LR and batch at N = {format_count(table['n_params'])} non-embedding{moe} "
             f"({format_count(table['n_params_total'])} total), D = {format_count(table['tokens'])} tokens "
             f"({table['tokens_source']}), seq_len {table['seq_len']}, C = {table['flops']:.3g}",
             "", header, "-" * len(header)]
    for r in table["rows"]:
        seqs = "—" if r["batch_seqs"] is None else f"{r['batch_seqs']:,.0f}"  # a count: 16,480, never 1.648e+04
        lr_cell, batch_cell = three_digits(r["lr"]), count_or_dash(r["batch_tokens"])
        if not r.get("lr_informative", True):
            lr_cell = "not known"
        if not r.get("batch_informative", True):
            batch_cell, seqs = "not known", "—"
        lines.append(f"{r['source']:<16} {lr_cell:>15} {batch_cell:>13} {seqs:>11}  {r['citation']}")
        if r.get("lr_low") is not None:
            lr_band = f"{r['lr_low']:.2g}–{r['lr_high']:.2g}"
            batch_band = seq_band = "—"
            if r.get("batch_tokens_low") is not None:
                batch_band = f"{count_or_dash(r['batch_tokens_low'])}–{count_or_dash(r['batch_tokens_high'])}"
                seq_band = (f"{r['batch_tokens_low'] / table['seq_len']:,.0f}–"
                            f"{r['batch_tokens_high'] / table['seq_len']:,.0f}")
            lines.append(f"{'  90% interval':<16} {lr_band:>15} {batch_band:>13} {seq_band:>11}")
    lines += ["", "Notes:"]
    for r in table["rows"]:
        lines.append(f"  {r['source']}: {r['formula']}")
        lines.extend(f"      {n}" for n in r["notes"])
    return "\n".join(lines)


