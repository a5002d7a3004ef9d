"""`advisor calibrate`: plan, run, resume, inspect and export calibration sweeps.

Heavy imports (torch, pandas, ray) happen inside the commands, so `--help` stays fast. The house style
(one-line errors, exit 2 for bad input and 1 for a failed run, `Quantity` options, the one output check and
writer) is advisor/cli/style.py's; the SPEC, the sweep folder and the device are read as
calibration/cli/sweep_args.py reads them for every sweep command.
"""
from __future__ import annotations

from pathlib import Path

import click

from advisor.cli.style import (Choice, InputError, Quantity, RunFailed, StyledGroup, force_option, hidden_alias,
                               input_errors, refuse_clobbering, writing)
from calibration.cli.sweep_args import (checked_device, device_option, echo_news, load_spec_arg, open_store,
                                        planned, reading_store, run_failures, sweep_folder)


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
@device_option("Device to estimate for: auto, cpu, mps, cuda, cuda:N (default: the spec's).")
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

    the_spec = load_spec_arg(spec, data, vocab_size)
    the_plan = planned(the_spec)
    estimate = None
    if not no_measure:
        try:
            checked = checked_device(device or the_spec.device)
        except InputError as exc:
            raise InputError(f"{exc.message} (--no-measure prints the plan without a time estimate)") from None
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
    full = planned(load_spec_arg(full_name))
    full_estimate = estimate_wall(full, estimate.device, workers) if estimate else None
    return (f"{the_plan.spec.name}: {cost(the_plan, estimate)}; full {full_name}: {cost(full, full_estimate)} "
            "(planned grids and searches; the adaptive grid adds to grids)")


@calibrate.command("run")
@click.argument("spec")
@sweep_folder(option=True)
@click.option("--backend", type=Choice(["local", "ray"]), default="local", show_default=True,
              help="local: worker processes on this machine; ray: one Ray task per trial group.")
@click.option("--address", default=None, help="Ray cluster address (with --backend ray; default: start a local instance).")
@click.option("--workers", type=Quantity(integer=True), default=None,
              help="Parallel workers/tasks (default: one per core on the CPU, one per GPU; Ray: cluster capacity).")
@device_option("auto, cpu, mps, cuda or cuda:N (default: the spec's).")
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
        raise InputError("--address needs --backend ray")
    the_spec = load_spec_arg(spec)
    planned(the_spec)  # spec errors before anything is created
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


@calibrate.command("status")
@sweep_folder()
def status_cmd(out_dir: str) -> None:
    """Summarise a sweep: done/running/diverged/pruned/failed, best LR per cell, unstable cells, time and FLOPs.

    DIR is the sweep folder that `advisor calibrate run` or `advisor recalibrate` was given as --out.

    \b
    Example:
      advisor calibrate status runs/quick
    """
    from calibration.sweep.status import format_status

    with open_store(out_dir) as store, reading_store(store):
        click.echo(format_status(store))


@calibrate.command("export")
@sweep_folder()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Trial table file: .csv or .parquet.")
@click.option("--curves", type=click.Path(dir_okay=False), default=None,
              help="Also write per-trial loss curves (long format: trial_id, step, tokens, train_loss, lr).")
@click.option("--current-spec", is_flag=True, help="Only trials planned by the store's current spec.")
@force_option("--output or --curves file")
def export_cmd(out_dir: str, output: str, curves: str | None, current_spec: bool, force: bool) -> None:
    """Write the trial table (contract 1 in docs/architecture.md) as CSV or Parquet, by extension.

    DIR is the sweep folder that `advisor calibrate run` or `advisor recalibrate` was given as --out.
    Finished and running trials are written (pending ones are not); extra columns: d_ff,
    error, origin (grid, extend or reseed), cell.

    \b
    Examples:
      advisor calibrate export runs/quick -o runs/quick/trials.csv
      advisor calibrate export runs/quick -o trials.parquet --curves curves.parquet
    """
    from calibration.sweep.export import curve_table, trial_table

    _check_outputs(out_dir, output, curves, force)
    with open_store(out_dir) as store:
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
    from advisor.outputs import TABLE_SUFFIXES
    from calibration.sweep.store import STORE_NAME

    refuse_clobbering({"DIR's store": Path(out_dir) / STORE_NAME}, {"--output": output, "--curves": curves},
                      force=force, suffixes={"--output": TABLE_SUFFIXES, "--curves": TABLE_SUFFIXES})


def _write(table, path: str, label: str) -> None:
    """Write a table (a missing parent folder is made, as for `advisor fit -o`); failures are one line."""
    from calibration.sweep.export import write_table

    with writing(path, label):
        write_table(table, path)


@calibrate.command("presets")
def presets_cmd() -> None:
    """List the shipped sweep presets and where their TOML files are (copy one to start your own)."""
    from calibration.sweep.spec import PRESET_DIR, load_spec, preset_names

    for name in preset_names():
        spec = load_spec(name)
        click.echo(f"{name:12s} {spec.description}  [{PRESET_DIR / (name + '.toml')}]")


from calibration.cli.design import design_cmd  # noqa: E402  (its own module; registered here)

calibrate.add_command(design_cmd)
