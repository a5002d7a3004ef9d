"""`advisor fit`: fit LR, batch-size and loss scale laws to a trial table and write the fitted model.

Needs numpy, pandas and matplotlib (the `fit` extra), not torch; they are imported inside the command."""
from __future__ import annotations

import sys

import click

from advisor.cli.style import Choice, InputError, Quantity, StyledCommand, force_option, input_errors, refuse_clobbering

# What `--report DIR` writes into DIR (calibration/fit/report.py)
REPORT_FILES = ("report.md", "*.png")


@click.command("fit", cls=StyledCommand)
@click.argument("table", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the fitted-model JSON.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False),
              help="Also write plots (PNG) and report.md into this folder (--force to replace a report).")
@click.option("--col-params", default="n_params", show_default=True, help="Column: non-embedding parameters N.")
@click.option("--col-tokens", default="tokens", show_default=True, help="Column: training tokens D.")
@click.option("--col-lr", default="lr", show_default=True, help="Column: peak learning rate.")
@click.option("--col-batch", default=None,
              help="Column: batch size [default: batch_tokens, or batch_seqs with --batch-unit sequences].")
@click.option("--col-loss", default="loss", show_default=True, help="Column: final validation loss.")
@click.option("--batch-unit", type=Choice(["tokens", "sequences"]), default="tokens", show_default=True,
              help="Unit of the batch column; sequences are multiplied by the sequence length.")
@click.option("--seq-len", type=Quantity(integer=True), default=None,
              help="Sequence length for --batch-unit sequences when the table has no seq_len column.")
@click.option("--bootstrap", "n_boot", type=Quantity(integer=True, minimum=0), default=1000, show_default=True,
              help="Bootstrap resamples of the whole chain (0: none, no intervals).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--near-optimal", type=click.FloatRange(min=0, min_open=True, max=1), default=0.0025,
              show_default=True, help="Near-optimal band: runs within this fraction of a cell's best loss.")
@click.option("--note", "notes", multiple=True, metavar="TEXT",
              help="A note for the model's provenance (repeatable), e.g. what the calibration was for.")
@click.option("--same-setup/--other-setup", "same_setup", default=None,
              help="Whether TABLE comes from the setup (data, tokenizer, architecture) you will train. With "
                   "--other-setup the advisor's intervals add the setup spread of published laws. "
                   "[default: same for a calibration's trial table, other for an external table]")
@click.option("--with", "with_sources", multiple=True, metavar="SOURCE",
              help="Fit jointly with a public sweep (a shipped source's name or a table in contract 1; "
                   "repeatable): your prefactors, exponents shared where your data agree (docs/fitting.md).")
@click.option("--across", "across", multiple=True, metavar="SOURCE",
              help="Fit TABLE and these setups across setups (shipped names or tables in contract 1; repeatable): "
                   "a prefactor per setup, exponents tested between them, the model of a setup none of them is, "
                   "with their spread as the setup part (docs/fitting.md, \"Across setups\").")
@force_option("-o file and --report")
def fit(table, output, report_dir, col_params, col_tokens, col_lr, col_batch, col_loss, batch_unit, seq_len,
        n_boot, seed, near_optimal, notes, same_setup, with_sources, across, force):
    """Fit scale laws for the optimal LR and batch size (and the loss L(N, D)) to a trial table.

    TABLE is a CSV or Parquet file: the trial table of a calibration (`advisor calibrate ... export`) or
    an external sweep with one row per run, its columns named with the --col-* options; or the name of
    a shipped source (`advisor sources`), e.g. steplaw-dense. Rows whose
    `status` is not `ok`, and rows with NaN or non-positive values, are excluded and counted.

    Each (N, D) cell's optimum comes from a local quadratic fit (plus a cubic LR term for
    the asymmetry) of loss in (log LR, log batch); the laws
    are robust power-law fits in log space, the form chosen by leave-one-size-out error; intervals come
    from bootstrapping the whole chain; the laws are validated by refitting without the largest size.

    \b
    Examples:
      advisor fit runs/quick/trials.csv -o model.json --report runs/quick/report
      advisor fit sweep.parquet -o model.json --col-params N --col-tokens D --col-lr peak_lr \\
          --col-batch bs --batch-unit sequences --seq-len 2048 --col-loss val_loss
      advisor fit trials.csv -o model.json --bootstrap 0      # fast, no intervals
      advisor fit steplaw-dense -o model.json --report report  # a shipped public sweep
      advisor fit mine.csv --with steplaw-dense -o model.json  # your sizes, Step Law's exponents
      advisor fit steplaw-dense --across marin-adamw -o model.json  # the shipped cross-setup default
    """
    from pathlib import Path

    from calibration.fit import ColumnMap, FitInputError, ScaleLawFitter

    table, table_name = _resolve_table(table)
    if with_sources and across:
        raise InputError("--with (your setup, anchored) and --across (a model for any setup) are different fits: "
                         "give one of them")
    sources = resolve_sources(with_sources or across, table, "--across" if across else "--with")
    inputs = {"TABLE": table, **{f"--with {name}:": path for name, path in sources}}
    refuse_clobbering(inputs, {"-o": output}, {"--report": (report_dir, REPORT_FILES)}, force=force)
    if report_dir and (Path(report_dir) / "report.md").exists() and not force:
        raise InputError(f"{report_dir} already holds a report; pass --force to replace it")
    cols = ColumnMap(n_params=col_params, tokens=col_tokens, lr=col_lr, batch=col_batch, loss=col_loss,
                     batch_unit=batch_unit, seq_len=seq_len)
    fitter = ScaleLawFitter(n_boot=n_boot, seed=seed, near_optimal=near_optimal, same_setup=same_setup,
                            progress=sys.stderr.isatty())
    if sources and across:
        fitter = _cross_fitter(table, table_name, sources, same_setup, n_boot=n_boot, seed=seed,
                               near_optimal=near_optimal)
    elif sources:
        fitter = _joint_fitter(sources, same_setup, n_boot=n_boot, seed=seed, near_optimal=near_optimal)
    if report_dir:
        _make_folder(report_dir)  # a read-only or impossible place fails now, not after the fit
    with input_errors(FitInputError):  # a missing file or column, too few sizes, an unwritable -o: bad input
        fitter.fit(table, cols, table_name=table_name, notes=notes)
        fitter.write(output, force=force)
    click.echo(summary_text(fitter.artifact_))
    click.echo(f"wrote {output}")
    if report_dir:
        try:
            click.echo(f"wrote report {fitter.report(report_dir)}")
        except OSError as exc:
            raise InputError(f"wrote {output}, but cannot write the report into {report_dir}: "
                             f"{exc.strerror or exc}") from None


def _make_folder(folder: str) -> None:
    from pathlib import Path

    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the report folder {folder}: {exc.strerror or exc}") from None


def _resolve_table(table: str) -> tuple[str, str]:
    """(file, name for provenance): a shipped source's name -> its table (a name wins, as for --model),
    recorded as `source NAME`; anything else is a path, recorded as given."""
    from advisor.catalog import names, resolve_source

    if table not in names("source"):
        return table, table
    return str(resolve_source(table)), f"source {table}"  # a CatalogError is bad input (advisor/cli/style.py)


def resolve_sources(with_sources, table, option: str = "--with") -> list[tuple[str, str]]:
    """(name, table path) of each distinct --with source (shipped names or table paths; CatalogError: bad
    input); TABLE itself is refused: a table fitted jointly with itself would count every trial twice."""
    from pathlib import Path

    from advisor.catalog import resolve_source
    from advisor.cli.style import same_path

    sources = [(name, str(resolve_source(name))) for name in dict.fromkeys(with_sources)]
    for name, path in sources:
        if same_path(Path(path), Path(table)):
            raise InputError(f"{option} {name} is the table being fitted: a joint fit needs another setup's sweep")
    return sources


def _cross_fitter(table, table_name, sources, same_setup, **settings):
    """A ScaleLawFitter across setups (AcrossSetups) over TABLE (the reference setup) and the --across sources."""
    from calibration.fit import ScaleLawFitter
    from calibration.fit.cross_setup import AcrossSetups

    if same_setup is True:
        raise InputError("--across fits a model for a setup none of the tables is: --same-setup does not apply")
    name = table_name[len("source "):] if table_name.startswith("source ") else table_name
    return ScaleLawFitter(progress=sys.stderr.isatty(), **settings, setups=AcrossSetups([(name, table), *sources]))


def _joint_fitter(sources, same_setup, **settings):
    """A ScaleLawFitter anchored on the resolved --with sources (WithSources)."""
    from calibration.fit import ScaleLawFitter
    from calibration.fit.joint import WithSources

    if same_setup is False:
        raise InputError("--with fits your own setup jointly with the sources: --other-setup does not apply")
    return ScaleLawFitter(progress=sys.stderr.isatty(), **settings, setups=WithSources(sources))


def summary_text(artifact) -> str:
    """A short human summary of a fitted-model artifact (FittedModelArtifact, or its JSON): laws with 90%
    intervals, held-out figures, warnings (the text of the artifact's records: advisor/artifact_text.py)."""
    from advisor.artifact import FittedModelArtifact
    from advisor.artifact_text import coverage_lines, held_out_lines, trials_line
    from advisor.penalty import validation_lines

    art = artifact if isinstance(artifact, FittedModelArtifact) else FittedModelArtifact.from_json(artifact)
    prov = art.provenance
    lines = [trials_line(prov)]
    lines += _law_lines("LR", "lr", art.laws.lr) + _law_lines("batch", "batch", art.laws.batch)
    loss = art.laws.loss
    if loss:
        e, a, alpha, b, beta = loss.values
        lines.append(f"loss: L = {e:.3f} + {a:.4g}/N^{alpha:.3f} + {b:.4g}/D^{beta:.3f}")
    if prov.cross_setup is not None:
        from calibration.fit.cross_record import summary_lines as cross_lines

        lines += cross_lines(prov.cross_setup)
    if prov.joint is not None:
        from calibration.fit.joint_record import summary_lines

        lines += summary_lines(prov.joint)
    lines += held_out_lines(art.validation)
    lines += coverage_lines(art.validation.coverage)
    lines += validation_lines(art.penalty)
    lines += [f"warning: {w}" for w in art.warnings]
    return "\n".join(lines)


def _law_lines(title: str, key: str, law) -> list[str]:
    """A law's equation, its held-out error and each coefficient with its 90% interval."""
    from calibration.fit.report import coef_table_rows, law_equation

    if law is None:
        return [f"{title}: no law"]
    lines = [f"{title}: {law_equation(law, key)}   (LOSO CV |log2 err| {_fmt(law.cv_log2_error)}, "
             f"residual sd {law.residual_sd:.3f})"]
    bound = law.bound_reason(title)
    if bound:
        lines.append(f"    {bound}")
    for name, point, lo, hi in coef_table_rows(law):
        lines.append(f"    {name:>10} = {point:.4g}" + (f"   90% [{lo:.4g}, {hi:.4g}]" if lo is not None else ""))
    return lines


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"
