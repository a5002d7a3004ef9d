"""What the sweep commands (`advisor calibrate plan|run|status|export`, `advisor recalibrate`) share, read
and checked one way: the SPEC (a preset or a TOML file), the sweep folder DIR, the device, and the store's
failures as the house style words them (advisor/cli/style.py: bad input exits 2, a failed run 1).

The sweep folder is one declaration (`sweep_folder`): a folder (never a file), shown as DIR, holding
DIR/trials.sqlite; the commands that make it take it as `--out DIR`, those that read it as the argument DIR.
Heavy imports (the sweep's modules) happen inside the functions, so `--help` stays fast.
"""
from __future__ import annotations

import contextlib

import click

from advisor.cli.style import InputError, RunFailed, input_errors

SWEEP_FOLDER_HELP = "Sweep folder: holds trials.sqlite, the store of every trial."


def sweep_folder(option: bool = False, help: str = SWEEP_FOLDER_HELP):
    """The sweep folder DIR: `--out DIR` (option=True: the commands that create it) or the argument DIR."""
    folder = click.Path(file_okay=False)
    if option:
        return click.option("--out", "out_dir", metavar="DIR", required=True, type=folder, help=help)
    return click.argument("out_dir", metavar="DIR", type=folder)


class Device(click.ParamType):
    """A torch device name: auto, cpu, mps, cuda or cuda:N (whether it is present: `checked_device`)."""

    name = "device"

    def convert(self, value, param, ctx):
        from calibration.sweep.spec import DEVICES_HELP, SpecError, check_device

        try:
            return check_device(str(value).strip().lower())
        except SpecError:
            self.fail(f"must be {DEVICES_HELP}, got {value!r}", param, ctx)


def device_option(help: str, default: str | None = None):
    return click.option("--device", type=Device(), default=default, show_default=default is not None, help=help)


def load_spec_arg(spec: str, data: str | None = None, vocab_size: int | None = None):
    """The SPEC argument read (with --data and --vocab-size replacing the spec's; the vocabulary then
    follows the new data): bad input names SPEC, or --data when the data given there is the problem."""
    from calibration.sweep.spec import SpecError, check_data, load_spec

    if data is not None:
        try:
            check_data(data)
        except SpecError as exc:
            raise InputError(f"--data: {str(exc).removeprefix('trial.data: ')}") from None
    try:
        return load_spec(spec, data=data, vocab_size=vocab_size)
    except SpecError as exc:
        raise InputError(f"SPEC: {exc}") from None


def planned(spec):
    """The spec's plan (its errors before anything is created)."""
    from calibration.sweep.plan import plan
    from calibration.sweep.spec import SpecError

    try:
        return plan(spec)
    except SpecError as exc:
        raise InputError(f"SPEC: {exc}") from None


def checked_device(device: str, local: bool = True) -> str:
    """A valid device name (`Device`); on this machine (local), the device must be present."""
    device = Device().convert(device, None, None) if device else device
    if local and device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise InputError(f"--device: {device} asked for, but no CUDA device is visible")
        if ":" in device and int(device[5:]) >= torch.cuda.device_count():
            raise InputError(f"--device: {device} asked for, but only {torch.cuda.device_count()} CUDA device(s) "
                             "are visible")
    if local and device == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise InputError("--device: mps asked for, but no Apple GPU is available")
    return device


def open_store(out_dir: str):
    """The store of DIR, read-only (status, export: a store on read-only media reads as well)."""
    from calibration.sweep.store import StoreError, TrialStore

    with input_errors(StoreError):  # no store there: bad input
        return TrialStore.open(out_dir, readonly=True)


@contextlib.contextmanager
def reading_store(store, done: str = ""):
    """A damaged store met while reading it (a bad page, an undecodable row): one line, exit 2, the
    store left as it is; `done` says what was written before it failed."""
    import json
    import sqlite3

    from calibration.sweep.store import store_failure

    try:
        yield
    except (sqlite3.Error, json.JSONDecodeError) as exc:
        failure = store_failure(store.path, exc)
        raise InputError(f"{done}: {failure}" if done else str(failure)) from None


@contextlib.contextmanager
def run_failures():
    """A store that stopped taking results (a full disk): the run failed, the store is kept (exit 1)."""
    from calibration.sweep.store import StoreWriteError

    try:
        yield
    except StoreWriteError as exc:
        raise RunFailed(str(exc)) from None


def echo_news(summary) -> None:
    """What changed in the store before this run's trials: new data, failed trials put back."""
    if summary.data_changed and "@" not in summary.data_changed:  # a store from before trials were keyed on content
        click.echo("this store's trials were keyed on the data's path, not its content (an older version): "
                   "its trials run anew, keyed on the content; the old trials stay in the store")
    elif summary.data_changed:
        click.echo(f"the data changed since this sweep last ran (was {summary.data_changed}): its trials run "
                   "anew on the new data; the old trials stay in the store")
    if summary.retried:
        click.echo(f"running {summary.retried} failed trial(s) again (--retry-failed)")
