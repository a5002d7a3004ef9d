"""`advisor plan`: a compute budget turned into a size, a token budget and the recipe for it."""
from __future__ import annotations

import click

from advisor.cli.options import TARGET_OPTIONS, add_options, config_option, config_target
from advisor.cli.style import Choice, Quantity, StyledCommand, dump_json, hidden_alias, grouped, out_of_range
from advisor.hardware import GPUS
from advisor.laws import LOSS_PRESETS, RECOMMEND_LAWS
from advisor.planning import SHARDINGS
from advisor.short_answer import RECIPE_SECTIONS, render_short
from advisor.units import format_count, format_days
from advisor.unknown_optimum import unknown_text



@click.command(cls=StyledCommand)
@click.option("--flops", type=Quantity(), help="Compute budget in FLOPs, e.g. 1e23.")
@click.option("--gpu-hours", type=Quantity(), help="Budget in GPU-hours, e.g. 1e5.")
@click.option("--gpus", type=Quantity(integer=True),
              help="Number of GPUs (with --days as the budget, or for time and memory).")
@click.option("--days", type=Quantity(), help="Wall-clock days (with --gpus).")
@click.option("--gpu", type=Choice(GPUS), metavar="NAME", default="h100", show_default=True,
              help=f"Accelerator: {', '.join(GPUS)}.")
@click.option("--mfu", type=Quantity(), default="0.4", show_default=True,
              help="Model FLOPs utilisation (fraction of peak).")
@click.option("--tokens", type=Quantity(), help="With --params or --config: training tokens of the run to cost.")
@add_options(TARGET_OPTIONS)
@config_option
@click.option("--loss-law", metavar="NAME",
              help=f"Loss law for the compute-optimal (N, D): {' or '.join(LOSS_PRESETS)} "
                   "(default: the model's fitted loss law).")
@hidden_alias("--law", of="loss_law")  # the old name: `--law` meant this law here and the LR/batch law in `recommend`
@click.option("--hp-law", metavar="NAME",
              help=f"Published LR/batch law for the recipe instead of a model: {', '.join(RECOMMEND_LAWS)}.")
@click.option("--price-per-gpu-hour", type=Quantity(), help="Price per GPU-hour for a cost estimate, e.g. 2.5.")
@click.option("--sharding", type=Choice(SHARDINGS), default="fsdp", show_default=True,
              help="fsdp (weights, grads and AdamW state sharded over the GPUs, ZeRO-3) or ddp (replicated).")
@click.option("--activation-checkpointing/--no-activation-checkpointing", default=True, show_default=True,
              help="Keep only each layer's input and recompute the rest in the backward pass.")
@click.option("--optimizer", metavar="NAME", help="Also give this optimizer's LR, batch and knobs for the planned "
              "N and D (Marin's sweep, arXiv 2509.02046; `recommend --optimizer`).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@out_of_range
def plan(flops, gpu_hours, gpus, days, gpu, mfu, tokens, params, n_params_nonembedding, seq_len, vocab_size,
         model_path, config, loss_law, hp_law, price_per_gpu_hour, sharding, activation_checkpointing, optimizer,
         as_json, active_params=None, n_params_active_nonembedding=None):
    """Plan a run from a budget, or cost a given model size.

    From a budget (--flops, --gpu-hours, or --gpus with --days) it picks the
    compute-optimal N and D under a loss law (C = 6ND), then gives the full
    recipe; from --params [--tokens] it gives GPU-hours, wall time and cost.
    Both report memory per GPU (weights, gradients, AdamW state, activations)
    and the micro-batch and gradient accumulation that reach the batch size.

    \b
    Examples:
      advisor plan --gpus 512 --days 30 --gpu h100 --mfu 0.4
      advisor plan --flops 1e23 --loss-law chinchilla
      advisor plan --params 7B --tokens 2T --gpus 256 --price-per-gpu-hour 2.5
      advisor plan --gpu-hours 1e5 --loss-law epoch --hp-law deepseek --json
      advisor plan --config path/to/config.json --tokens 2T --gpus 256
    """
    from advisor.planning import plan as make_plan

    seq_len, vocab_size = config_target(config, seq_len, vocab_size)
    result = make_plan(
        flops=flops, gpu_hours=gpu_hours, gpus=gpus, days=days, params=params, tokens=tokens,
        n_params_nonembedding=n_params_nonembedding, config=config, gpu=gpu, mfu=mfu,
        price_per_gpu_hour=price_per_gpu_hour,
        loss_law=loss_law, model=model_path, hp_law=hp_law, seq_len=seq_len, vocab_size=vocab_size,
        sharding=sharding, activation_checkpointing=activation_checkpointing,
        active_params=active_params, n_params_active_nonembedding=n_params_active_nonembedding,
    )
    extra = None
    if optimizer is not None:
        from advisor.cli.optimizer import plan_addendum

        extra = plan_addendum(optimizer, result, hp_law=hp_law, active_params=active_params,
                              active_nonembedding=n_params_active_nonembedding)
    if as_json:
        from advisor.cli.optimizer import jsonable

        dump_json({**result.to_dict(), **({"optimizer": jsonable(extra[0])} if extra else {})})
        return
    click.echo(render_plan(result) + (f"\n\n{extra[1]}" if extra else ""))


def render_plan(p) -> str:
    m, rec = p.memory, p.recommendation
    lines = [f"Plan ({'compute-optimal from a budget' if p.mode == 'budget' else 'cost of a given size'})",
             f"  compute      C = {p.flops:.3g} FLOPs ({p.flops_source})"]
    if p.loss_law:
        lines.append(f"  allocation   N = {format_count(p.n_params)} non-embedding "
                     f"({format_count(p.n_params_total)} total), D = {format_count(p.tokens)} tokens: minimises "
                     f"{p.loss_law['name']} L(N, D) at 6ND = {p.loss_law.get('flops_6nd', p.flops):.3g} ({p.loss_law['citation']}); predicted loss "
                     f"{p.predicted_loss:.3f} nats/token (that law's data and tokenizer)")
    else:
        active = (f", {format_count(rec.n_params_active)} active per token"
                  if rec.n_params_active < rec.n_params else "")
        lines.append(f"  size         N = {format_count(p.n_params)} non-embedding{active} "
                     f"({format_count(p.n_params_total)} total), D = {format_count(p.tokens)} tokens")
    lines += [
        f"  hardware     {grouped(p.gpus)} × {p.gpu} ({p.gpus_source}), peak {p.gpu_peak_flops:.3g} FLOP/s, MFU {p.mfu:g}",
        f"  time         {p.gpu_hours:,.0f} GPU-hours = {format_days(p.wall_days)} on {grouped(p.gpus)} GPUs, for "
        f"{p.train_flops:.3g} training FLOPs ((6N + 6·n_layer·seq·d_model + 6·d_model·V)·D: attention and "
        "output head included)",
    ]
    if p.cost is not None:
        lines.append(f"  cost         ${p.cost:,.0f} at ${p.price_per_gpu_hour:g}/GPU-hour")
    ckpt = "with" if p.activation_checkpointing else "without"
    lines += [
        f"  memory/GPU   {p.sharding}, {ckpt} activation checkpointing, micro-batch {m.micro_batch or 1}:",
        f"               weights {m.weights_gib:.2f} GiB (bf16) + grads {m.grads_gib:.2f} + AdamW state "
        f"{m.optimizer_gib:.2f} (fp32 master + 2 moments) + activations {m.activations_gib:.2f} + logits "
        f"{m.logits_gib:.2f} = {m.total_gib:.1f} GiB of {m.usable_gib:.1f} usable ({m.gpu_gib:.0f} GiB GPU)",
    ]
    if m.fits:
        lines.append(f"  batching     {grouped(rec.batch_seqs)} sequences = {grouped(m.per_gpu_seqs)} per GPU = micro-batch "
                     f"{m.micro_batch} × {m.grad_accum} gradient-accumulation steps")
        if p.batch_cost:
            c = p.batch_cost
            lines.append(f"               this layout's batch ({grouped(c['batch_seqs'])} sequences, "
                         f"{format_count(c['batch_tokens'])} tokens) costs {c['penalty_pct']:.2f}% in loss "
                         f"[{c['penalty_pct_low']:.2f}–{c['penalty_pct_high']:.2f}] against the optimum"
                         + (" (risky)" if c["risky"] else ""))
        elif unknown_text(rec):
            lines.append(f"               this layout's batch is not costed: the optimum {unknown_text(rec)} is not "
                         "known at this target")
    else:
        lines.append("  batching     does NOT fit even at micro-batch 1 (see warnings)")
    lines += ["", "Recipe (advisor recommend --explain for its parts and rules):", render_short(rec, RECIPE_SECTIONS)]
    if p.warnings:
        lines.append("Warnings:")
        lines.extend(f"  - {w}" for w in dict.fromkeys(p.warnings))  # the plan's and the recipe's, each once
    return "\n".join(lines)


