"""`advisor calibrate design`: proxy sizes, budgets and search for a target and a budget, as a spec.

The rules are calibration/studies/design.py's; the expected interval replays the design on Step Law's
dense sweep (calibration/studies/replay_law.py). Heavy imports happen inside the command.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from advisor.cli.style import Choice, InputError, Quantity, StyledCommand, force_option, refuse_clobbering, writing
from advisor.hardware import GPUS

SOURCES = Path(__file__).resolve().parents[2] / "data" / "sources"


@click.command("design", cls=StyledCommand)
@click.option("--target", type=Quantity(), required=True, help="Parameters of the model you will train, e.g. 7B.")
@click.option("--tokens", type=Quantity(), default=None, help="Its training tokens, e.g. 2T (default: 20 per parameter).")
@click.option("--budget", type=Quantity(), default=None, help="GPU-hours the calibration may use.")
@click.option("--budget-flops", type=Quantity(), default=None, help="Or its budget in FLOPs.")
@click.option("--gpu", type=Choice(GPUS), metavar="NAME", default="h100", show_default=True,
              help=f"GPU kind: {', '.join(GPUS)} (advisor/hardware.py).")
@click.option("--mfu", type=float, default=0.4, show_default=True, help="Model FLOPs utilisation of the proxies.")
@click.option("--with", "borrow", default=None, help="A shipped source to borrow exponents from (e.g. steplaw-moe).")
@click.option("--data", default="kjv", show_default=True, help="Your token source (text, .bin, folder): sets the vocabulary.")
@click.option("--vocab-size", type=Quantity(integer=True), default=None, help="The proxies' vocabulary (default: the data's).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the spec (TOML) for calibrate plan/run.")
@force_option("--out file")
@click.option("--json", "as_json", is_flag=True, help="Print the design as JSON (with flops and gpu_hours).")
def design_cmd(target, tokens, budget, budget_flops, gpu, mfu, borrow, data, vocab_size, out, force, as_json) -> None:
    """Design a calibration for a target model within a budget, from replays of recorded sweeps.

    Proposes the proxy sizes, token budgets, search method and runs per cell that the replays show to be
    the best use of the budget, prints the expected 90% interval at the target and the cost, and writes
    the spec that `advisor calibrate plan` and `advisor calibrate run` take.

    \b
    Examples:
      advisor calibrate design --target 7B --tokens 2T --budget 2000 --gpu h100 --out design.toml
      advisor calibrate design --target 7B --budget-flops 1e21 --with steplaw-moe --json
    """
    from advisor.outputs import write_text
    from calibration.studies.design import DesignError, batch_note, best_design
    from calibration.sweep.spec import SpecError, check_data
    from calibration.sweep.spec_toml import to_toml

    flops = _budget_flops(budget, budget_flops, gpu, mfu)
    # the one clobbering check (advisor/outputs.py), before the replays: never over the corpus it reads, nor
    # the installed data, nor an existing file without --force
    refuse_clobbering({"--data": data if data != "kjv" else None}, {"--out": out}, force=force)
    tokens = tokens or 20 * target
    try:
        check_data(data)
        design, weighed = best_design(target, tokens, gpu, mfu, flops, SOURCES / "steplaw-dense" / "trials.csv",
                                      _borrowed(borrow), data, vocab_size)
    except (DesignError, SpecError, ValueError) as exc:
        raise InputError(str(exc)) from None
    text = to_toml(design.spec_dict())
    if out:
        with writing(out, "--out"):
            write_text(out, text)  # the one writer: a fresh temporary file renamed over --out, never through a link
    note = batch_note(design)
    if as_json:
        click.echo(json.dumps({**_as_dict(design, out), "weighed": weighed, "warnings": [note] if note else []},
                              indent=1))
    else:
        click.echo(_describe(design, out, weighed) + (f"\nwarning: {note}" if note else ""))


def _budget_flops(budget, budget_flops, gpu: str, mfu: float) -> float:
    from advisor.hardware import get_gpu

    if (budget is None) == (budget_flops is None):
        raise InputError("give one of --budget (GPU-hours) or --budget-flops")
    if not 0 < mfu <= 1:
        raise InputError(f"--mfu: must be in (0, 1], got {mfu:g}")
    device = get_gpu(gpu)  # a name --gpu's choices hold
    return budget_flops if budget_flops is not None else budget * 3600 * device.peak_flops * mfu


def _borrowed(name: str | None) -> tuple:
    if not name:
        return ()
    path = SOURCES / name / "trials.csv"
    if not path.is_file():
        known = sorted(p.name for p in SOURCES.iterdir() if (p / "trials.csv").is_file())
        raise InputError(f"--with: no shipped source {name!r} (sources: {', '.join(known)})")
    return ((name, str(path)),)


def _as_dict(d, out) -> dict:
    return {"target": {"n_params": d.target[0], "tokens": d.target[1]}, "gpu": d.gpu, "mfu": d.mfu,
            "budget_flops": d.budget_flops, "flops": d.flops, "gpu_hours": d.gpu_hours, "trials": d.trials,
            "sizes": d.sizes, "tokens": d.tokens, "batch_seqs": d.batch_seqs, "vocab_size": d.vocab_size,
            "search": {"method": "coord", "trials_per_cell": d.spec_dict()["search"]["trials_per_cell"]},
            "expected_interval": d.interval, "spec": d.spec_dict(), "out": out}


def _describe(d, out, weighed: dict) -> str:
    i = d.interval
    lines = [f"calibration design for {d.target[0]:.3g} params / {d.target[1]:.3g} tokens on {d.gpu} (MFU {d.mfu:g}):",
             f"  proxies: {', '.join(f'{n:.3g}' for n in d.sizes)} params; budgets {', '.join(f'{t:.3g}' for t in d.tokens)} "
             f"tokens each; batch (seqs of {d.spec_dict()['trial']['seq_len']}) {d.batch_seqs}",
             f"  search: coord, {d.spec_dict()['search']['trials_per_cell']} runs per cell "
             f"({len(d.sizes) * len(d.tokens)} cells, {d.trials} runs)",
             f"  cost: {d.flops:.3g} FLOPs = {d.gpu_hours:,.0f} GPU-hours of the {d.budget_flops / (d.flops / d.gpu_hours):,.0f} budgeted",
             f"  expected 90% interval at the target: LR x{i['lr_ratio']:.2f}, batch x{i['batch_ratio']:.2f} (high/low)",
             f"  rests on: {i['rests_on']}",
             "  weighed: " + "; ".join(f"coord {p} per cell -> LR x{r:.2f}" for p, r in weighed.items())
             + " (the narrower kept)"]
    if out:
        lines.append(f"wrote {out}: advisor calibrate plan {out}; advisor calibrate run {out} --out runs/design")
    return "\n".join(lines)
