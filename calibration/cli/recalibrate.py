"""`advisor recalibrate`: the whole calibration in one command — sweep, export, fit, report.

It chains `advisor calibrate run`, `advisor calibrate export` and `advisor fit` on one sweep folder, so a
team can rebuild the advisor's model on its own corpus or hardware and point `--model` at the result.
The store makes it resumable: rerunning the same command skips finished trials and refits.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from advisor.cli import Quantity, RunFailed, StyledCommand, hidden_alias, input_errors
from calibration.cli.calibrate import _checked_device, _load, _plan, echo_news, run_failures


@click.command("recalibrate", cls=StyledCommand)
@click.argument("spec")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Sweep folder: trials.sqlite (the store), then trials.csv, model.json and report/ from it.")
@click.option("--data", default=None,
              help='Token source instead of the spec\'s: "kjv" (shipped corpus), a text file or folder, a '
                   "nanoGPT-style uint16 .bin, or a folder with train.bin and val.bin.")
@click.option("--device", default=None, help="auto, cpu, mps, cuda or cuda:N (default: the spec's).")
@click.option("--workers", type=Quantity(integer=True), default=None,
              help="Parallel workers (default: one per core on the CPU, one per GPU).")
@click.option("--bootstrap", "n_boot", type=Quantity(integer=True, minimum=0), default=1000, show_default=True,
              help="Bootstrap resamples of the fit (0: none, no intervals).")
@click.option("--note", "notes", multiple=True, metavar="TEXT",
              help="A note for the model's provenance (repeatable), e.g. what the calibration is for.")
@click.option("--allow-other-spec", is_flag=True, help="Use a sweep folder made by another spec (its trials are kept).")
@hidden_alias("--force", of="allow_other_spec", is_flag=True)  # its old name: --force now always means overwrite
@click.option("--retry-failed", is_flag=True, help="Run the sweep's failed trials again (their old error is dropped).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def recalibrate(spec, out_dir, data, device, workers, n_boot, notes, allow_other_spec, retry_failed, quiet) -> None:
    """Calibrate on your own data or hardware: run a sweep, fit it, write the model and its report.

    SPEC is a preset (quick, cpu-default, gpu-default, cluster) or a TOML file. The sweep lands in
    OUT/trials.sqlite (resumable: rerun the same command after any interruption); the trial table,
    the fitted model and the report are then (re)written from it as OUT/trials.csv, OUT/model.json
    and OUT/report/. Use the model with `advisor recommend --model OUT/model.json`.

    \b
    Examples:
      advisor recalibrate quick --out runs/mine                       # minutes on a laptop
      advisor recalibrate cpu-default --out runs/cpu --data my_corpus/  # your text, a few CPU-hours
      advisor recalibrate gpu-default --out runs/gpu --device cuda --data data/owt/
    """
    the_spec = _spec_with_data(spec, data)
    _plan(the_spec)  # spec errors before anything is created
    device = _checked_device(device or the_spec.device)
    out = Path(out_dir)
    _sweep(the_spec, out, workers, device, allow_other_spec, retry_failed, quiet)
    _fit_and_write(the_spec, out, n_boot, notes, quiet)


def _spec_with_data(spec: str, data: str | None):
    """The spec, its token source replaced by --data when given."""
    from calibration.sweep.spec import SpecError, check_data

    the_spec = _load(spec)
    if data is None:
        return the_spec
    try:
        check_data(data)
    except SpecError as exc:
        raise click.BadParameter(str(exc).removeprefix("trial.data: "), param_hint="--data") from None
    return dataclasses.replace(the_spec, trial={**the_spec.trial, "data": data})


def _sweep(the_spec, out: Path, workers, device: str, allow_other_spec: bool, retry_failed: bool, quiet: bool) -> None:
    """Run (or resume) the sweep into OUT/trials.sqlite and write OUT/trials.csv from it."""
    from calibration.sweep.executors import BackendError
    from calibration.sweep.export import trial_table, write_table
    from calibration.sweep.run import run_sweep
    from calibration.sweep.store import StoreError, TrialStore

    with input_errors(StoreError, BackendError), run_failures():  # another spec's folder: bad input; a full disk: failed
        summary = run_sweep(the_spec, out, workers=workers, device=device, force=allow_other_spec,
                            retry_failed=retry_failed, progress=not quiet)
    echo_news(summary)
    c = summary.counts
    click.echo(f"sweep {out}: ran {summary.ran} trials in {summary.wall_s:.1f} s ({summary.skipped} already done); "
               f"{c['ok']} ok, {c['diverged']} diverged, {c['failed']} failed")
    table_path = out / "trials.csv"
    with TrialStore.open(out) as store:
        write_table(trial_table(store, current_spec=True), table_path)
    click.echo(f"wrote the trial table {table_path}")


def _fit_and_write(the_spec, out: Path, n_boot: int, notes: tuple[str, ...], quiet: bool) -> None:
    """Fit OUT/trials.csv and write OUT/model.json and OUT/report/ (always replaced: they follow the store)."""
    from calibration.cli.fit import summary_text
    from calibration.fit import FitInputError, ScaleLawFitter

    fitter = ScaleLawFitter(n_boot=n_boot, progress=not quiet and sys.stderr.isatty())
    about = f"advisor recalibrate {the_spec.name} (spec hash {the_spec.spec_hash}) on data " \
            f"{the_spec.trial.get('data', 'kjv')!r}"
    try:
        fitter.fit(out / "trials.csv", notes=[about, *notes])
    except FitInputError as exc:  # the input was fine, the sweep did not give enough to fit: a failed run
        raise RunFailed(f"the sweep finished but cannot be fitted: {exc}. Widen the spec (more sizes, LR points) "
                        "and rerun this command; finished trials are kept.") from None
    model_path = fitter.write(out / "model.json", force=True)
    report_path = fitter.report(out / "report")
    click.echo(summary_text(fitter.artifact_))
    click.echo(f"wrote the model {model_path} and the report {report_path}")
    click.echo(f"next: advisor recommend --params 7B --model {model_path}")
