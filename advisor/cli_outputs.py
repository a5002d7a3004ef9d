"""The `--plot FILE` and `--force` options of the advice commands, checked before any work through the one
clobbering check (advisor/outputs.py): the picture never replaces an input (--config, --model), never an
existing file without --force, and its name ends in an extension matplotlib honours (the name printed is
the name written)."""
from __future__ import annotations

import click

from advisor.cli import refuse_clobbering


def plot_options(what: str):
    """--plot FILE (`what`: the help text) and --force, for a command that draws a figure."""
    def decorator(func):
        func = click.option("--force", "force", is_flag=True, help="Overwrite an existing --plot file.")(func)
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
