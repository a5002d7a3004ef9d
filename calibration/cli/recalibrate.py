"""`advisor recalibrate`: the whole calibration in one command — sweep, export, fit, report.

It chains `advisor calibrate run`, `advisor calibrate export` and `advisor fit` on one sweep folder, so a
team can rebuild the advisor's model on its own corpus or hardware and point `--model` at the result.
The store makes it resumable: rerunning the same command skips finished trials and refits.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from advisor.cli.style import Quantity, RunFailed, StyledCommand, hidden_alias, input_errors
from calibration.cli.sweep_args import (checked_device, device_option, echo_news, load_spec_arg, planned,
                                        run_failures, sweep_folder)


@click.command("recalibrate", cls=StyledCommand)
@click.argument("spec")
@sweep_folder(option=True, help="Sweep folder: trials.sqlite (the store), then trials.csv, model.json and report/ "
              "from it.")
@click.option("--data", default=None,
              help='Token source instead of the spec\'s: "kjv" (shipped corpus), a text file or folder, a '
                   "nanoGPT-style uint16 .bin, or a folder with train.bin and val.bin.")
@click.option("--vocab-size", type=Quantity(integer=True, minimum=1), default=None,
              help="The proxies' vocabulary (default: the spec's trial.vocab_size, else the data's: 256 for text, "
                   "a .bin's meta.pkl or largest token id + 1, rounded up to a multiple of 64).")
@device_option("auto, cpu, mps, cuda or cuda:N (default: the spec's).")
@click.option("--workers", type=Quantity(integer=True), default=None,
              help="Parallel workers (default: one per core on the CPU, one per GPU).")
@click.option("--bootstrap", "n_boot", type=Quantity(integer=True, minimum=0), default=1000, show_default=True,
              help="Bootstrap resamples of the fit (0: none, no intervals).")
@click.option("--note", "notes", multiple=True, metavar="TEXT",
              help="A note for the model's provenance (repeatable), e.g. what the calibration is for.")
@click.option("--with", "with_sources", multiple=True, metavar="SOURCE",
              help="Fit the sweep jointly with a public sweep (a shipped source's name or a table; repeatable): "
                   "your prefactors, the sources' exponents where yours agree. Pairs with the anchor preset.")
@click.option("--allow-other-spec", is_flag=True, help="Use a sweep folder made by another spec (its trials are kept).")
@hidden_alias("--force", of="allow_other_spec", is_flag=True)  # its old name: --force now always means overwrite
@click.option("--retry-failed", is_flag=True, help="Run the sweep's failed trials again (their old error is dropped).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def recalibrate(spec, out_dir, data, vocab_size, device, workers, n_boot, notes, with_sources, allow_other_spec,
                retry_failed, quiet) -> None:
    """Calibrate on your own data or hardware: run a sweep, fit it, write the model and its report.

    SPEC is a preset (quick, quick-muon, anchor, cpu-default, gpu-default, cluster) or a TOML file. The sweep lands in
    OUT/trials.sqlite (resumable: rerun the same command after any interruption); the trial table,
    the fitted model and the report are then (re)written from it as OUT/trials.csv, OUT/model.json
    and OUT/report/. Use the model with `advisor recommend --model OUT/model.json`.

    \b
    Which presets give advice usable at LLM scale, and what each costs (planned trials, before the
    adaptive grid; `advisor calibrate plan SPEC --data YOURS` costs your data and vocabulary):
      quick        demonstration only: 12k-100k-param proxies; 180 trials, ~2 min on 2 CPU cores
      cpu-default  demonstration of a full fit: 12k-400k params, 4+ decades below a 7B target;
                   648 trials, a few CPU-hours
      anchor       usable with --with steplaw-dense: Step Law's exponents (measured at 215M-1.07B)
                   with your setup's prefactors from 2 sizes x 2 budgets; 96 trials, a sixth of cpu-default's FLOPs
      gpu-default  30k-3M params: still 3+ decades below 7B; 240 trials, ~10 min on one H200
      cluster      0.3M-31M params; coord search, 120 trials (4.2e18 FLOPs), hours on dozens of GPUs
    For LLM-scale proxies sized to a target and a budget (replayed on Step Law's sweeps):
      advisor calibrate design --target 7B --tokens 2T --budget 2000 --gpu h100 --out design.toml

    \b
    Examples:
      advisor recalibrate quick --out runs/mine                       # minutes on a laptop
      advisor recalibrate cpu-default --out runs/cpu --data my_corpus/  # your text, a few CPU-hours
      advisor recalibrate gpu-default --out runs/gpu --device cuda --data data/owt/
      advisor recalibrate anchor --out runs/anchor --with steplaw-dense  # 2 sizes; exponents from Step Law
    """
    the_spec = load_spec_arg(spec, data, vocab_size)
    planned(the_spec)  # spec errors before anything is created
    device = checked_device(device or the_spec.device)
    out = Path(out_dir)
    sources = _sources(with_sources, out)  # an unknown or unusable source before the sweep runs
    _sweep(the_spec, out, workers, device, allow_other_spec, retry_failed, quiet)
    _fit_and_write(the_spec, out, n_boot, notes, quiet, sources)


def _sources(with_sources, out: Path) -> list[tuple[str, str]]:
    """(name, table path) of each --with source, resolved as `advisor fit` does and its columns and units
    checked before the sweep runs (bad input: exit 2)."""
    from calibration.cli.fit import resolve_sources
    from calibration.fit import FitInputError
    from calibration.fit.joint import read_source

    sources = resolve_sources(with_sources, out / "trials.csv")
    with input_errors(FitInputError):
        for name, path in sources:
            read_source(name, path)
    return sources


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
               f"{c['ok']} ok, {c['diverged']} diverged, " + (f"{c['pruned']} pruned, " if c.get("pruned") else "")
               + f"{c['failed']} failed")
    from calibration.sweep.failures import all_failed_message  # nothing to fit: say why, not "widen the spec"
    if message := all_failed_message(out):
        raise RunFailed(message)
    table_path = out / "trials.csv"
    with TrialStore.open(out) as store:
        write_table(trial_table(store, current_spec=True), table_path)
    click.echo(f"wrote the trial table {table_path}")


def _fit_and_write(the_spec, out: Path, n_boot: int, notes: tuple[str, ...], quiet: bool, sources=()) -> None:
    """Fit OUT/trials.csv (jointly with the sources, if any) and write OUT/model.json and OUT/report/
    (always replaced: they follow the store)."""
    from calibration.cli.fit import summary_text
    from calibration.fit import FitInputError, ScaleLawFitter
    from calibration.fit.joint import WithSources

    progress = not quiet and sys.stderr.isatty()
    fitter = ScaleLawFitter(n_boot=n_boot, progress=progress, setups=WithSources(sources)) if sources else \
        ScaleLawFitter(n_boot=n_boot, progress=progress)
    about = f"advisor recalibrate {the_spec.name} (spec hash {the_spec.spec_hash}) on data " \
            f"{the_spec.trial.get('data', 'kjv')!r}, vocabulary {the_spec.trial.get('vocab_size', 256)}"
    try:
        fitter.fit(out / "trials.csv", notes=[about, *notes])
    except FitInputError as exc:  # the input was fine, the sweep did not give enough to fit: a failed run
        raise RunFailed(f"the sweep finished but cannot be fitted: {exc}. Widen the spec (more sizes, LR points) "
                        "and rerun this command; finished trials are kept.") from None
    try:
        model_path = fitter.write(out / "model.json", force=True)
        report_path = fitter.report(out / "report")
    except (FitInputError, OSError) as exc:  # a full or read-only disk, a model that would not read back
        raise RunFailed(f"the sweep finished and was fitted, but writing the model or report failed: {exc}. The "
                        "trials are kept in the store: free the space (or fix the folder) and rerun this command") from None
    click.echo(summary_text(fitter.artifact_))
    click.echo(f"wrote the model {model_path} and the report {report_path}")
    click.echo(f"next: advisor recommend --params 7B --model {model_path}")
