"""`advisor bench`: the command line over calibration/proxy/bench.py (what it measures is documented there).
"""
from __future__ import annotations

import json

import click

from advisor.cli.style import InputError, Quantity, StyledCommand, input_errors
from advisor.units import UnitError, format_count, parse_int_quantity
from calibration.cli.sweep_args import device_option


def _parse_ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(parse_int_quantity(k, "--k", minimum=0) for k in text.split(","))
    except UnitError:
        raise InputError(f"--k: {text!r} is not a comma-separated list of integers") from None
    if not ks or min(ks) < 1:
        raise InputError(f"--k: K must be at least 1, got {text!r}")
    return ks


def _print_table(res: dict) -> None:
    click.echo(f"device {res['device']} ({res['precision']}), {res['threads']} torch threads, {res['cores']} cores, "
               f"batch {res['batch_seqs']} x {res['seq_len']} tokens, {res['steps']} timed steps")
    click.echo(f"\n{'size':>6} {'N':>7} {'shape':>9} {'tokens/s':>10} {'FLOP/s':>9} {'MFU':>6}")
    for r in res["sizes"]:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        click.echo(f"{r['size']:>6} {format_count(r['n_params']):>7} {r['n_layer']:>3}x{r['d_model']:<5} "
                   f"{r['tokens_per_s']:>10,.0f} {format_count(r['flops_per_s']):>9} {mfu:>6}")
    if res["vectorized"]:
        click.echo(f"\nvectorized: K members in one step vs K sequential runs\n"
                   f"{'size':>6} {'K':>3} {'sequential s':>13} {'vectorized s':>13} {'speedup':>8}")
        for v in res["vectorized"]:
            click.echo(f"{v['size']:>6} {v['k']:>3} {v['sequential_s']:>13.2f} {v['vectorized_s']:>13.2f} "
                       f"{v['speedup']:>7.2f}x")
    if res["worker_layout"]:
        click.echo(f"\nworker layout: {res['cores']} single-threaded processes vs one {res['cores']}-thread process "
                   f"(same work)\n{'size':>6} {'one process s':>14} {'per-core s':>11} {'speedup':>8}")
        for w in res["worker_layout"]:
            click.echo(f"{w['size']:>6} {w['one_process_s']:>14.2f} {w['per_core_s']:>11.2f} {w['speedup']:>7.2f}x")
    click.echo(f"\nFLOPs: {res['flops_formula']}; MFU only where the chip's peak is known.")


@click.command(cls=StyledCommand)
@click.option("--sizes", default=None, metavar="LIST",
              help="Comma-separated rungs (xxs xs s m l xl 2xl 3xl 4xl) or non-embedding parameter counts "
                   "(25K, 1M). Default: xxs,s,l on CPU; s,l,2xl,3xl on CUDA.")
@click.option("--steps", default=10, show_default=True, type=Quantity(integer=True),
              help="Timed steps per measurement.")
@click.option("--k", "k_text", default="4,8", show_default=True, metavar="LIST",
              help="Vectorized group sizes to compare with sequential runs.")
@device_option("auto, cpu, cuda, cuda:N or mps.", default="auto")
@click.option("--batch-seqs", type=Quantity(integer=True), default=None,
              help="Sequences per step (default 32 on CPU, 128 on CUDA).")
@click.option("--seq-len", type=Quantity(integer=True, minimum=2), default=128, show_default=True,
              help="Tokens per sequence.")
@click.option("--layout/--no-layout", default=True, show_default=True,
              help="On the CPU, also time one single-threaded process per core against one multi-threaded process.")
@click.option("--threads", type=Quantity(integer=True), default=None,
              help="torch threads for the single-process figures (default: torch's, usually one per core).")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the sequential models.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench(sizes, steps, k_text, device, batch_seqs, seq_len, layout, threads, compile_, as_json):
    """Measure proxy training throughput on this device.

    Prints tokens/s, achieved FLOP/s and MFU (where the chip's peak is known: H100, H200, A100) for a few
    proxy sizes, the speedup of training K proxies as one vectorized group over training them one by one,
    and on the CPU the speedup of one single-threaded worker process per core over one process using all
    cores. Sweeps use these figures to plan time and to lay out workers. Other load on the machine skews
    the figures: say so when you quote them.

    \b
    Examples:
      advisor bench                          # default sizes for this device
      advisor bench --sizes xs,s,m --steps 20 --k 4,8 --threads 1
      advisor bench --device cuda --sizes 3xl --batch-seqs 256 --json
    """
    from calibration.proxy.bench import bench_results

    ks = _parse_ks(k_text)
    with input_errors(ValueError):  # an unknown or unavailable device
        res = bench_results(sizes, steps, ks, device, batch_seqs, seq_len, layout, compile_,
                            progress=not as_json, threads=threads)
    if as_json:
        click.echo(json.dumps(res, indent=2))
    else:
        _print_table(res)
