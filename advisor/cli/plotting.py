"""The `--plot FILE` and `--force` options of the advice commands, checked before any work through the one
clobbering check (advisor/outputs.py): the picture never replaces an input (--config, --model), never an
existing file without --force, and its name ends in an extension matplotlib honours (the name printed is
the name written)."""
from __future__ import annotations

import click

from advisor.cli.style import InputError, force_option, refuse_clobbering
from advisor.units import format_count


def plot_options(what: str):
    """--plot FILE (`what`: the help text) and --force, for a command that draws a figure."""
    def decorator(func):
        func = force_option("--plot file")(func)
        return click.option("--plot", "plot_path", metavar="FILE.png", type=click.Path(dir_okay=False),
                            help=what)(func)
    return decorator


def refuse_plot_clobbering(plot_path, force: bool, inputs: dict, model=None) -> None:
    """InputError (one line, before any work) for a --plot file the command must not write; inputs: the
    command's input files by option ({"--config": path}), model: --model (a name or a file)."""
    from pathlib import Path

    from advisor.outputs import PLOT_SUFFIXES

    if plot_path is None:
        return
    inputs = dict(inputs)
    if model is not None and Path(str(model)).suffix:  # a file, not a shipped model's name
        inputs["--model"] = model
    refuse_clobbering(inputs, {"--plot": plot_path}, force=force, suffixes={"--plot": PLOT_SUFFIXES})


def write_penalty_map(penalty, n_params: float, tokens: float, lr_opt: float, batch_opt: float,
                      points: dict, path: str) -> None:
    """The penalty map (advisor/cost_plot.py) as a command writes it: one-line error, path on stderr."""
    from advisor.cost_plot import plot_penalty_map

    try:
        plot_penalty_map(penalty, n_params, tokens, lr_opt, batch_opt, points, path,
                         f"predicted penalty at N = {format_count(n_params)}, D = {format_count(tokens)}")
    except OSError as exc:
        raise InputError(f"cannot write the plot {path}: {exc}") from None
    click.echo(f"wrote {path}", err=True)
