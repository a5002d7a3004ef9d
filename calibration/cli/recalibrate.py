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

from calibration.cli.calibrate import _checked_device, _load, _plan


@click.command("recalibrate")
@click.argument("spec")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Sweep folder: trials.sqlite (the store), then trials.csv, model.json and report/ from it.")
@click.option("--data", default=None,
              help='Token source instead of the spec\'s: "kjv" (shipped corpus), a text file or folder, a '
                   "nanoGPT-style uint16 .bin, or a folder with train.bin and val.bin.")
@click.option("--device", default=None, help="auto, cpu, mps, cuda or cuda:N (default: the spec's).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Parallel workers (default: one per core on the CPU, one per GPU).")
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap resamples of the fit (0: none, no intervals).")
@click.option("--note", "notes", multiple=True, metavar="TEXT",
              help="A note for the model's provenance (repeatable), e.g. what the calibration is for.")
@click.option("--force", is_flag=True, help="Use a sweep folder made by another spec (its trials are kept).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def recalibrate(spec, out_dir, data, device, workers, n_boot, notes, force, quiet) -> None:
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
    from calibration.cli.fit import summary_text
    from calibration.sweep.executors import BackendError
    from calibration.sweep.export import trial_table, write_table
    from calibration.fit import FitOptions, fit_file, write_artifact
    from calibration.fit.table import FitInputError
    from calibration.fit.report import build_report
    from calibration.sweep.spec import SpecError, check_data
    from calibration.sweep.store import StoreError, TrialStore
    from calibration.sweep.run import run_sweep

    the_spec = _load(spec)
    if data is not None:
        try:
            check_data(data)
        except SpecError as exc:
            raise click.BadParameter(str(exc).removeprefix("trial.data: "), param_hint="--data") from None
        the_spec = dataclasses.replace(the_spec, trial={**the_spec.trial, "data": data})
    _plan(the_spec)  # spec errors before anything is created
    device = _checked_device(device or the_spec.device)
    out = Path(out_dir)
    try:
        summary = run_sweep(the_spec, out, workers=workers, device=device, force=force, progress=not quiet)
    except (StoreError, BackendError) as exc:
        raise click.UsageError(str(exc)) from None
    c = summary.counts
    click.echo(f"sweep {out}: ran {summary.ran} trials in {summary.wall_s:.1f} s ({summary.skipped} already done); "
               f"{c['ok']} ok, {c['diverged']} diverged, {c['failed']} failed")

    table_path = out / "trials.csv"
    with TrialStore.open(out) as store:
        write_table(trial_table(store, current_spec=True), table_path)
    click.echo(f"wrote the trial table {table_path}")
    opts = FitOptions(n_boot=n_boot, progress=not quiet and sys.stderr.isatty())
    try:
        result = fit_file(table_path, opts=opts)
    except FitInputError as exc:
        click.echo(f"error: the sweep finished but cannot be fitted: {exc}. Widen the spec (more sizes, "
                   f"LR points) and rerun this command; finished trials are kept.", err=True)
        raise SystemExit(1) from None
    result.artifact["provenance"]["notes"].extend(
        [f"advisor recalibrate {the_spec.name} (spec hash {the_spec.spec_hash}) on data {the_spec.trial.get('data', 'kjv')!r}",
         *notes])
    model_path = write_artifact(result.artifact, out / "model.json", force=True)
    report_path = build_report(result, out / "report")
    click.echo(summary_text(result.artifact))
    click.echo(f"wrote the model {model_path} and the report {report_path}")
    click.echo(f"next: advisor recommend --params 7B --model {model_path}")
