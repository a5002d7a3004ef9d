"""`advisor calibrate`: plan, run, resume, inspect and export calibration sweeps.

Heavy imports (torch, pandas, ray) happen inside the commands, so `--help` stays fast. The house style
(one-line errors, exit 2 for bad input and 1 for a failed run, `Quantity` options) is advisor/cli/style.py's.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import click

from advisor.cli.style import InputError, Quantity, RunFailed, StyledGroup, hidden_alias, input_errors


def _load(spec_arg: str, data: str | None = None, vocab_size: int | None = None):
    from calibration.sweep.spec import SpecError, load_spec

    try:
        return load_spec(spec_arg, data=data, vocab_size=vocab_size)
    except SpecError as exc:
        raise click.BadParameter(str(exc), param_hint="SPEC") from None


def checked_plan(spec):
    from calibration.sweep.spec import SpecError
    from calibration.sweep.plan import plan

    try:
        return plan(spec)
    except SpecError as exc:
        raise click.BadParameter(str(exc), param_hint="SPEC") from None


def _open_store(out_dir: str):
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


@click.group(cls=StyledGroup, context_settings={"help_option_names": ["-h", "--help"]})
def calibrate() -> None:
    """Plan, run, resume and inspect calibration sweeps of proxy models.

    \b
    A sweep trains small proxy LMs over sizes x token budgets x LR x batch (x seeds),
    extends the LR/batch grid where an optimum sits on its edge, and keeps every trial in
    DIR/trials.sqlite (crash-safe: rerun the same command to resume).
    SPEC is a preset name (`advisor calibrate presets`) or a TOML sweep file.

    \b
    Examples:
      advisor calibrate plan quick
      advisor calibrate run quick --out runs/quick
      advisor calibrate status runs/quick
      advisor calibrate export runs/quick -o runs/quick/trials.csv --curves runs/quick/curves.csv
      advisor calibrate run cluster --out runs/c1 --backend ray --address auto
    """


@calibrate.command("plan")
@click.argument("spec")
@click.option("--device", default=None, help="Device to estimate for: auto, cpu, mps, cuda, cuda:N (default: the spec's).")
@click.option("--workers", type=Quantity(integer=True), default=None,
              help="Parallel workers (default: one per core on the CPU, one per GPU).")
@click.option("--no-measure", is_flag=True, help="Skip the throughput measurement (no time estimate).")
@click.option("--data", default=None, help="Cost your own token source (text, .bin, folder) instead of the spec's.")
@click.option("--vocab-size", type=Quantity(integer=True), default=None,
              help="The proxies' vocabulary (default: the data's): it sets the small proxies' cost.")
def plan_cmd(spec: str, device: str | None, workers: int | None, no_measure: bool, data: str | None,
             vocab_size: int | None) -> None:
    """Print a sweep's trials, total FLOPs and estimated wall time on this device.

    SPEC is a preset name (quick, quick-muon, anchor, cpu-default, gpu-default, cluster; `advisor calibrate
    presets` lists them with their files) or a TOML sweep file.

    The estimate times a few training steps of each proxy size (single-threaded on the CPU, as the
    workers run). The adaptive grid may add trials on top of the planned ones.

    \b
    Examples:
      advisor calibrate plan quick
      advisor calibrate plan my-sweep.toml --device cuda
      advisor calibrate plan quick --data train.bin --vocab-size 50304
    """
    from calibration.sweep.estimate import estimate_wall
    from calibration.sweep.status import format_plan
    from calibration.sweep.vocab_cost import head_line

    the_spec = _load(spec, data, vocab_size)
    the_plan = checked_plan(the_spec)
    estimate = None
    if not no_measure:
        try:
            checked = checked_device(device or the_spec.device)
        except click.BadParameter as exc:
            raise click.BadParameter(f"{exc.message} (--no-measure prints the plan without a time estimate)",
                                     param_hint="--device") from None
        estimate = estimate_wall(the_plan, checked, workers)
    click.echo(format_plan(the_plan, estimate))
    click.echo(head_line(the_plan))
    click.echo(_beside_full(the_plan, estimate, workers))


FULL_CALIBRATION = {"cpu": "cpu-default"}  # the full calibration a plan is compared with, per device kind


def _beside_full(the_plan, estimate, workers) -> str:
    """One line: this plan's cost beside a full calibration's on the same device (gpu-default off the CPU)."""
    from calibration.sweep.estimate import estimate_wall, format_seconds

    device = estimate.device if estimate else the_plan.spec.device
    full_name = FULL_CALIBRATION.get(device, "gpu-default" if device != "auto" else "cpu-default")

    def cost(p, e) -> str:
        wall = f", ~{format_seconds(e.wall_s)} on {e.device}" if e else ""
        return f"{round(len(p.trials) * p.budget_scale)} trials, {p.total_flops * p.budget_scale:.3g} proxy-FLOPs{wall}"

    if the_plan.spec.name == full_name:
        return f"{full_name} is the full calibration: {cost(the_plan, estimate)}"
    full = checked_plan(_load(full_name))
    full_estimate = estimate_wall(full, estimate.device, workers) if estimate else None
    return (f"{the_plan.spec.name}: {cost(the_plan, estimate)}; full {full_name}: {cost(full, full_estimate)} "
            "(planned grids and searches; the adaptive grid adds to grids)")


def checked_device(device: str, local: bool = True) -> str:
    """A valid device name; on this machine (local), a CUDA device must be visible."""
    from calibration.sweep.spec import DEVICES_HELP, SpecError, check_device

    try:
        device = check_device(device)
    except SpecError:
        raise click.BadParameter(f"must be {DEVICES_HELP}, got {device!r}", param_hint="--device") from None
    if local and device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise click.BadParameter(f"{device} asked for, but no CUDA device is visible", param_hint="--device")
        if ":" in device and int(device[5:]) >= torch.cuda.device_count():
            raise click.BadParameter(f"{device} asked for, but only {torch.cuda.device_count()} CUDA device(s) are visible",
                                     param_hint="--device")
    if local and device == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise click.BadParameter("mps asked for, but no Apple GPU is available", param_hint="--device")
    return device


@calibrate.command("run")
@click.argument("spec")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Sweep directory (holds trials.sqlite).")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: worker processes on this machine; ray: one Ray task per trial group.")
@click.option("--address", default=None, help="Ray cluster address (with --backend ray; default: start a local instance).")
@click.option("--workers", type=Quantity(integer=True), default=None,
              help="Parallel workers/tasks (default: one per core on the CPU, one per GPU; Ray: cluster capacity).")
@click.option("--device", default=None, help="auto, cpu, mps, cuda or cuda:N (default: the spec's).")
@click.option("--allow-other-spec", is_flag=True,
              help="Use an out-dir made by another spec (its trials are kept, the new spec recorded).")
@hidden_alias("--force", of="allow_other_spec", is_flag=True)  # its old name: --force now always means overwrite
@click.option("--retry-failed", is_flag=True, help="Run failed trials again (their old error is dropped).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def run_cmd(spec, out_dir, backend, address, workers, device, allow_other_spec, retry_failed, quiet) -> None:
    """Run or resume a sweep; every result is recorded as it finishes.

    SPEC is a preset name (quick, quick-muon, anchor, cpu-default, gpu-default, cluster; `advisor calibrate
    presets` lists them with their files) or a TOML sweep file.

    Rerunning the same command resumes: finished trials are skipped and trials left running by a
    killed process run again. Two runs may share one DIR (e.g. on two machines with a shared disk):
    each claims trials in a transaction. A DIR made by another spec is refused unless
    --allow-other-spec.

    \b
    Examples:
      advisor calibrate run quick --out runs/quick
      advisor calibrate run cpu-default --out runs/cpu --workers 2
      advisor calibrate run gpu-default --out runs/gpu --device cuda
      advisor calibrate run cluster --out runs/c1 --backend ray --address auto
    """
    from calibration.sweep.executors import BackendError
    from calibration.sweep.store import StoreError
    from calibration.sweep.run import run_sweep

    if address and backend != "ray":
        raise click.BadParameter("--address needs --backend ray", param_hint="--address")
    the_spec = _load(spec)
    checked_plan(the_spec)  # spec errors before anything is created
    device = checked_device(device or the_spec.device, local=backend == "local")
    # another spec's out-dir, a damaged store, Ray not installed or not reachable: bad input; a full disk: failed
    with input_errors(StoreError, BackendError), run_failures():
        summary = run_sweep(the_spec, out_dir, backend=backend, address=address, workers=workers, device=device,
                            force=allow_other_spec, retry_failed=retry_failed, progress=not quiet)
    echo_news(summary)
    click.echo(run_line(out_dir, summary))
    if summary.ran and summary.ran_failed == summary.ran:
        from calibration.sweep.failures import reason_suffix  # the one reason, where they share one
        raise RunFailed(f"every trial of this run failed ({summary.ran}){reason_suffix(out_dir)}; see the "
                        f"first error with: advisor calibrate status {out_dir}")


def run_line(out_dir, summary) -> str:
    """What a run did, in one line; trials still marked running (another run's, or a killed run's) are said."""
    c = summary.counts
    unfinished = c.get("running", 0)
    return (f"{out_dir}: ran {summary.ran} trials in {summary.wall_s:.1f} s ({summary.skipped} already done); "
            f"{c['ok']} ok, {c['diverged']} diverged, " + (f"{c['pruned']} pruned, " if c.get("pruned") else "")
            + f"{c['failed']} failed"
            + (f", {unfinished} still marked running (held by another run, or by one that was killed: `advisor "
               f"calibrate status {out_dir}` says which; rerunning runs the interrupted ones)" if unfinished else "")
            + f"; planned {summary.planned}, adaptive grid added {summary.extension_trials}"
            + (f", {summary.bound_events} bound(s) hit (see status)" if summary.bound_events else ""))


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


@calibrate.command("status")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False))
def status_cmd(out_dir: str) -> None:
    """Summarise a sweep: done/running/diverged/pruned/failed, best LR per cell, unstable cells, time and FLOPs.

    \b
    Example:
      advisor calibrate status runs/quick
    """
    from calibration.sweep.status import format_status

    with _open_store(out_dir) as store, reading_store(store):
        click.echo(format_status(store))


@calibrate.command("export")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Trial table file: .csv or .parquet.")
@click.option("--curves", type=click.Path(dir_okay=False), default=None,
              help="Also write per-trial loss curves (long format: trial_id, step, tokens, train_loss, lr).")
@click.option("--current-spec", is_flag=True, help="Only trials planned by the store's current spec.")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
def export_cmd(out_dir: str, output: str, curves: str | None, current_spec: bool, force: bool) -> None:
    """Write the trial table (contract 1 in docs/architecture.md) as CSV or Parquet, by extension.

    Finished and running trials are written (pending ones are not); extra columns: d_ff,
    error, origin (grid, extend or reseed), cell.

    \b
    Examples:
      advisor calibrate export runs/quick -o runs/quick/trials.csv
      advisor calibrate export runs/quick -o trials.parquet --curves curves.parquet
    """
    from calibration.sweep.export import curve_table, trial_table

    _check_outputs(out_dir, output, curves, force)
    with _open_store(out_dir) as store:
        with reading_store(store):
            table = trial_table(store, current_spec=current_spec)
        _write(table, output, "--output")
        msg = f"wrote {len(table)} trials to {output}"
        if curves:
            with reading_store(store, done=f"{msg}; the loss curves were not written"):
                curve_df = curve_table(store, current_spec=current_spec)
            _write(curve_df, curves, "--curves")
            msg += f", {len(curve_df)} curve points to {curves}"
    click.echo(msg)


def _check_outputs(out_dir: str, output: str, curves: str | None, force: bool) -> None:
    """Each output a .csv/.parquet file that is neither the other output nor the store (through links), and
    new unless --force: the one clobbering check (advisor/outputs.py)."""
    from advisor.cli.style import refuse_clobbering
    from advisor.outputs import TABLE_SUFFIXES
    from calibration.sweep.store import STORE_NAME

    refuse_clobbering({"DIR's store": Path(out_dir) / STORE_NAME}, {"--output": output, "--curves": curves},
                      force=force, suffixes={"--output": TABLE_SUFFIXES, "--curves": TABLE_SUFFIXES})


def _write(table, path: str, hint: str) -> None:
    """Write a table, creating a missing parent folder (as `advisor fit -o` does); failures are one line."""
    from calibration.sweep.export import write_table

    parent = Path(path).parent
    blocking = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise click.BadParameter(f"cannot write {path}: {blocking} is a file, not a folder", param_hint=hint)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        write_table(table, path)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        raise click.BadParameter(f"cannot write {path}: {exc.strerror or exc}{where}", param_hint=hint) from None


@calibrate.command("presets")
def presets_cmd() -> None:
    """List the shipped sweep presets and where their TOML files are (copy one to start your own)."""
    from calibration.sweep.spec import PRESET_DIR, load_spec, preset_names

    for name in preset_names():
        spec = load_spec(name)
        click.echo(f"{name:12s} {spec.description}  [{PRESET_DIR / (name + '.toml')}]")


from calibration.cli.design import design_cmd  # noqa: E402  (its own module; registered here)

calibrate.add_command(design_cmd)
