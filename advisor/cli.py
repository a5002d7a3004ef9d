"""The `advisor` command line.

Subcommands are imported lazily so that `advisor recommend` never pays for torch or pandas:
the group knows each command's import path and one-line help, and imports it only when run.
The calibration commands (calibrate, recalibrate, fit, bench) live in calibration/ and need the
`calibrate` extra; the advice commands live in advisor/ and need numpy alone.
"""
from __future__ import annotations

import importlib
import sys

import click

# name -> (module:attribute, one-line help shown by `advisor --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "recommend": ("advisor.cli_advice:recommend", "Recommend LR, batch size and the full recipe for a target model."),
    "plan": ("advisor.cli_advice:plan", "Plan a run from a compute budget: model size, tokens, time, cost, memory."),
    "compare": ("advisor.cli_advice:compare", "Compare the fitted model's recommendation with published laws."),
    "show": ("advisor.cli_advice:show", "Show what a fitted model is: provenance, fit ranges, laws, held-out errors."),
    "sources": ("advisor.cli_sources:sources", "List the shipped sources (public sweeps) and models, the default marked."),
    "calibrate": ("calibration.cli.calibrate:calibrate", "Plan, run, resume and inspect calibration sweeps of proxy models."),
    "fit": ("calibration.cli.fit:fit", "Fit LR, batch-size and loss scale laws to a trial table."),
    "recalibrate": ("calibration.cli.recalibrate:recalibrate",
                    "Calibrate on your own data or hardware in one command: sweep, fit, model and report."),
    "bench": ("calibration.cli.bench:bench", "Measure proxy training throughput on this device."),
}

HEAVY_PACKAGES = {"torch", "pandas", "sklearn", "scipy", "matplotlib", "tqdm", "ray", "pyarrow", "tomli_w"}
CALIBRATION_HINT = (
    "this command needs the calibration stack (the `calibrate` extra): install torch first (pip install "
    "torch), then pip install '.[calibrate]' from the project's checkout"
)


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        target, _ = COMMANDS[name]
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            _raise_if_heavy_missing(exc)
            raise
        return getattr(module, attr)

    def invoke(self, ctx: click.Context):
        # The calibration commands import their heavy stack inside the command, so a light install
        # meets the missing package here: answer with the install hint, not a traceback.
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:
            _raise_if_heavy_missing(exc)
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Use the static help so that `advisor --help` imports nothing heavy.
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _raise_if_heavy_missing(exc: ModuleNotFoundError) -> None:
    if exc.name and exc.name.split(".")[0] in HEAVY_PACKAGES:
        raise click.UsageError(f"{CALIBRATION_HINT} (missing: {exc.name})") from None


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
    cli(prog_name="advisor")


if __name__ == "__main__":
    sys.exit(main())
