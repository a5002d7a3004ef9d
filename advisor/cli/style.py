"""The house style every command of `advisor` (advisor/cli/) and `calibrate` (calibration/cli/) shares.

Subcommands are imported lazily so that `advisor recommend` never pays for torch or pandas: the group
knows each command's import path and imports it only when run or when `advisor --help` lists it (the
command modules import their heavy stacks inside the commands, so listing them is cheap). The calibration
commands (calibrate, recalibrate, fit, bench) live in calibration/cli/ and need an install extra; the
advice commands live in advisor/ and need click alone.

The house style, shared by every command through `StyledCommand` and `StyledGroup`:

- quantities (sizes, counts, tokens, lengths) are typed with `Quantity`: "7B", "4K", "1.5e9", "1,000,000";
  an option that takes one of a few names with `Choice` ("--gpu H100", "--sharding ddp");
- bad input (a value click refuses, or a project input error: `UnitError`, `ModelError`/`CatalogError`,
  `AdvisorError`, or what a command lists in `input_errors(...)`) prints `Error: <one line>` on stderr
  and exits 2, never a traceback and never click's usage block; a run that failed exits 1 (`RunFailed`);
- every output file is checked before any work (`refuse_clobbering`) and written by one writer
  (advisor/outputs.py) under `writing(...)`; `--force` (`force_option`) means "overwrite" wherever it
  exists; old flag names live on as hidden aliases (`hidden_alias`);
- the one-line help of `advisor --help` is the first line of each command's docstring.
"""
from __future__ import annotations

import contextlib
import functools

import click

from advisor.units import format_count

from advisor.cli.flags import flag_message
from advisor.model import ModelError  # CatalogError is a ModelError
from advisor.errors import AdvisorError
from advisor.units import UnitError, parse_int_quantity, parse_quantity

INPUT_ERRORS = (UnitError, ModelError, AdvisorError)


# ---------------------------------------------------------------------------------------- quantities


class Quantity(click.ParamType):
    """A positive quantity as people type it: "7B", "300M", "2T", "4K", "1.5e9", "1,000,000".

    `integer=True` for whole counts (returns int); `minimum` for a lower bound (0 admits zero, e.g. no
    bootstrap). Refusals name the option: "--seq-len: cannot read '4X' (...)".
    """

    def __init__(self, integer: bool = False, minimum: float | None = None) -> None:
        self.integer, self.minimum = integer, minimum
        self.name = "count" if integer else "quantity"

    def convert(self, value, param, ctx):
        what = _param_name(param)
        try:
            if self.integer:
                return parse_int_quantity(value, what, minimum=1 if self.minimum is None else int(self.minimum))
            number = parse_quantity(value, what, allow_zero=self.minimum is not None and self.minimum <= 0)
        except UnitError as exc:
            self.fail(str(exc).removeprefix(f"{what}: "), param, ctx)
        if self.minimum is not None and number < self.minimum:
            self.fail(f"must be at least {self.minimum:g}, got {value!r}", param, ctx)
        return number

    def __repr__(self) -> str:
        return f"Quantity(integer={self.integer}, minimum={self.minimum})"


class Choice(click.Choice):
    """One of a few names, as people type them: case and "_" for "-" do not matter ("H100", "h100_pcie").

    Returns the name as listed; a refusal names the option and the names: "--sharding: must be one of
    fsdp, ddp, got 'zero'"."""

    def __init__(self, choices) -> None:
        super().__init__(list(choices), case_sensitive=False)

    def convert(self, value, param, ctx):
        key = _choice_key(value)
        for choice in self.choices:
            if _choice_key(choice) == key:
                return choice
        self.fail(f"must be one of {', '.join(map(str, self.choices))}, got {value!r}", param, ctx)


def _choice_key(value) -> str:
    return str(value).strip().lower().replace("_", "-")


def _param_name(param: click.Parameter | None) -> str:
    if param is None:
        return "value"
    if isinstance(param, click.Option):
        return max(param.opts, key=len)  # the long name: --seq-len, not -s
    return param.human_readable_name


# ---------------------------------------------------------------------------------------- errors


class InputError(click.ClickException):
    """Bad input: shown as `Error: <one line>` on stderr, exit code 2."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # one line, whatever the source wrote


def dump_json(obj) -> None:
    """Print strict JSON (no NaN or Infinity, which JSON readers refuse): a non-finite number is bad input."""
    import json

    try:
        text = json.dumps(obj, indent=2, default=str, allow_nan=False)
    except ValueError:
        raise InputError("a result is not a finite number (inputs out of the range this tool can compute): "
                         "no JSON written") from None
    click.echo(text)


class RunFailed(click.ClickException):
    """The input was fine but the run failed (e.g. every trial failed): `Error: <one line>`, exit code 1."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


@contextlib.contextmanager
def input_errors(*types: type[BaseException], about: str | None = None):
    """Within the block (or the decorated function), these exceptions are bad input: one line, exit 2.

    For the calibration stack's own errors (SpecError, StoreError, FitInputError, ...), which advisor/
    cannot import at module level. `about` prefixes the message ("numbers out of range (...)")."""
    try:
        yield
    except types as exc:
        raise InputError(f"{about} ({exc})" if about else str(exc)) from None


def refuse_clobbering(inputs: dict, outputs: dict, folders: dict | None = None, force: bool = True,
                      suffixes: dict | None = None) -> None:
    """Refuse (InputError, before any work) an output that would destroy something: one of the inputs or
    another output (through links), an existing file without force, a name whose extension the writer would
    not honour, the installed data. The rules and the arguments: `advisor.outputs.check_outputs`."""
    from advisor.outputs import OutputError, check_outputs

    try:
        check_outputs(inputs, outputs, folders, force=force, suffixes=suffixes)
    except OutputError as exc:
        raise InputError(str(exc)) from None


@contextlib.contextmanager
def writing(path, label: str | None = None):
    """Within the block, an OSError writing `path` is one line naming it (exit 2): "--output: cannot write
    t.csv: No space left on device". The writer (advisor/outputs.py) leaves nothing half-written."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        raise InputError(f"{label + ': ' if label else ''}cannot write {path}: {exc.strerror or exc}{where}") from None


def force_option(what: str):
    """`--force`, the one way to allow overwriting: `force_option("--plot file")` -> "Overwrite an existing
    --plot file (never an input, nor the installed data)."."""
    return click.option("--force", is_flag=True,
                        help=f"Overwrite an existing {what} (never an input, nor the installed data).")


def same_path(a, b) -> bool:
    from advisor.outputs import same_path as same

    return same(a, b)


def _usage_message(exc: click.UsageError) -> str:
    """click's usage errors as one line: "--seq-len: cannot read ..." (no usage block)."""
    if isinstance(exc, click.BadParameter) and not isinstance(exc, click.MissingParameter):
        hint = exc.param_hint if exc.param_hint is not None else _param_name(exc.param) if exc.param else None
        if hint is not None and not isinstance(hint, str):
            hint = " / ".join(hint)
        return f"{hint}: {exc.message}" if hint else exc.message
    path = exc.ctx.command_path if exc.ctx is not None else None
    # A mistyped option or a missing argument: point at the help, which the usage block used to show.
    message = exc.format_message().removesuffix(".")
    return f"{message} (see '{path} --help')" if path else message


# `advisor calibrate` alone prints its help (click >= 8.2 raises this for it): not an error to flatten.
_HELP_FOR_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())


@contextlib.contextmanager
def _one_line_errors(command: click.Command | None = None):
    try:
        yield
    except _HELP_FOR_NO_ARGS:
        raise
    except click.UsageError as exc:
        raise InputError(_usage_message(exc)) from None
    except INPUT_ERRORS as exc:  # the API names its parameters (tokens=): the command's flags replace them
        raise InputError(flag_message(str(exc), command)) from None


class StyledCommand(click.Command):
    """A command in the house style: parse errors and input errors become one line and exit 2."""

    def make_context(self, info_name, args, parent=None, **extra):
        with _one_line_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context):
        with _one_line_errors(self):
            return super().invoke(ctx)


class StyledGroup(click.Group):
    """A group in the house style; its subcommands are `StyledCommand`s."""

    command_class = StyledCommand

    def make_context(self, info_name, args, parent=None, **extra):
        with _one_line_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context):
        with _one_line_errors():  # an unknown subcommand is bad input too
            return super().invoke(ctx)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Each command's docstring says what it does: its whole first line is the listing's (click would
        # cut it short), so the one-line help is written once.
        rows = []
        for name in self.list_commands(ctx):
            try:
                cmd = self.get_command(ctx, name)
            except click.ClickException as exc:  # a command module that imports a missing package at its top
                rows.append((name, f"(unavailable: {exc.message})"))
                continue
            if cmd is not None and not cmd.hidden:
                rows.append((name, (cmd.help or "").strip().split("\n")[0]))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


StyledGroup.group_class = StyledGroup


def hidden_alias(flag: str, of: str, is_flag: bool = False):
    """Keep an old option name working without listing it: `hidden_alias("--law", of="hp_law")`.

    The alias fills `of` when that is not given; both given with different values is bad input.
    """
    dest = f"alias_{of}"
    new_flag = "--" + of.replace("_", "-")

    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            value = kwargs.pop(dest)
            if value not in (None, False):
                if kwargs.get(of) not in (None, False, value):
                    raise InputError(f"{flag} is the old name of {new_flag}: give one of them")
                kwargs[of] = value
            return func(*args, **kwargs)

        return click.option(flag, dest, is_flag=is_flag, default=None, hidden=True)(wrapper)

    return decorator


# ---------------------------------------------------------------------------------------- numbers as text

out_of_range = input_errors(OverflowError, ZeroDivisionError, about="numbers out of the range this tool can compute")


def three_digits(x: float | None) -> str:
    return "—" if x is None else f"{x:.3g}"


def count_or_dash(x: float | None) -> str:
    return "—" if x is None else format_count(x)


def grouped(x: int) -> str:
    return f"{x:,}"


def grouped_or_four_digits(x: float) -> str:
    """A count that may be fractional (the law's 1,723.6 sequences): whole and grouped from 1,000 on, as
    `grouped` beside it; below, 4 significant digits (735.2)."""
    return f"{x:,.0f}" if abs(x) >= 999.5 else f"{x:.4g}"


def whole_layers(n_layer: float) -> str:
    """Whole layers: the standard shape's n_layer = d_model/128 is an estimate, and no model has 32.5 layers."""
    return f"{max(1, round(n_layer))}"
