"""The `advisor` command line: the group, which imports each command's module on first use.

Subcommands are imported lazily so that `advisor recommend` never pays for torch or pandas: the group
knows each command's import path (`COMMANDS`) and imports it only when run or when `advisor --help` lists
it (the command modules import their heavy stacks inside the commands, so listing them is cheap). One
module per command: advisor/cli/recommend.py, plan.py, compare.py, show.py, check.py, sources.py; the
calibration commands (calibrate, recalibrate, fit, bench) in calibration/cli/, which need an install
extra. The house style every command shares: advisor/cli/style.py; the target options: options.py.
"""
from __future__ import annotations

import importlib

import click

from advisor.cli.style import InputError, StyledGroup

# ---------------------------------------------------------------------------------------- the group

# name -> (module:attribute, the install extra it needs beyond the base install, or None)
COMMANDS: dict[str, tuple[str, str | None]] = {
    "recommend": ("advisor.cli.recommend:recommend", None),
    "plan": ("advisor.cli.plan:plan", None),
    "compare": ("advisor.cli.compare:compare", None),
    "check": ("advisor.cli.check:check", None),
    "show": ("advisor.cli.show:show", None),
    "sources": ("advisor.cli.sources:sources", None),
    "calibrate": ("calibration.cli.calibrate:calibrate", "calibrate"),
    "fit": ("calibration.cli.fit:fit", "fit"),
    "recalibrate": ("calibration.cli.recalibrate:recalibrate", "calibrate"),
    "bench": ("calibration.cli.bench:bench", "calibrate"),
}

HEAVY_PACKAGES = {"numpy", "torch", "pandas", "sklearn", "scipy", "matplotlib", "tqdm", "ray", "pyarrow",
                  "tomli"}
FIT_PACKAGES = {"numpy", "pandas", "matplotlib", "tqdm", "pyarrow"}  # the `fit` extra
EXTRA_NEEDS = {
    "fit": "numpy, pandas and matplotlib (the `fit` extra; no torch)",
    "calibrate": "the calibration stack (the `calibrate` extra)",
    "ray": "Ray (the `ray` extra)",
}


def install_hint(command: str | None, missing: str) -> str:
    """What to install when `missing` cannot be imported by `command`: the extra that command needs."""
    top = missing.split(".")[0]
    extra = "ray" if top == "ray" else "calibrate" if top == "torch" else COMMANDS.get(command, ("", None))[1]
    # an advice command's optional plot (--plot) needs only what `fit` needs
    extra = extra or ("fit" if top in FIT_PACKAGES else "calibrate")
    first = "install torch first (pip install torch), then " if extra != "fit" else ""
    return (f"this command needs {EXTRA_NEEDS[extra]}: {first}pip install 'scaling-advisor[{extra}]', or "
            f"pip install '.[{extra}]' from the project's checkout (missing: {missing})")


def _heavy_missing(exc: ModuleNotFoundError, command: str | None) -> InputError | None:
    if exc.name and exc.name.split(".")[0] in HEAVY_PACKAGES:
        return InputError(install_hint(command, exc.name))
    return None


class LazyGroup(StyledGroup):
    """The top-level group: subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[name][0].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise _heavy_missing(exc, name) or exc from None
        return getattr(module, attr)

    def invoke(self, ctx: click.Context):
        # The calibration commands import their heavy stack inside the command, so an install without
        # the extra meets the missing package here: answer with the install hint, not a traceback.
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:
            raise _heavy_missing(exc, ctx.invoked_subcommand) or exc from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="scaling-advisor", prog_name="advisor")
def cli() -> None:
    """Scaling-rule advisor: learning rate, batch size and recipe for LLM pretraining,
    from scale laws fitted on small proxy models.

    \b
    Quick start:
      advisor recommend --params 7B --tokens 2T
      advisor compare --params 7B --tokens 2T
      advisor plan --gpus 512 --days 30 --gpu h100
    """


def main() -> None:
    from advisor.streams import guarded_streams

    with guarded_streams():  # an unencodable, full or closed stdout: one line on stderr, never a traceback
        cli(prog_name="advisor")
