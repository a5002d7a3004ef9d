"""`advisor check`: your planned LR and batch in, the predicted loss penalty out (advisor/checking.py)."""
from __future__ import annotations

import click

from advisor.candidates import check_candidates, rank_candidates, read_candidates
from advisor.checking import RISKY_PCT, CheckResult, moe_target, check as run_check
from advisor.cli.options import TARGET_OPTIONS, add_options, config_option, config_target
from advisor.cli.plotting import plot_options, refuse_plot_clobbering, write_penalty_map
from advisor.cli.style import InputError, Quantity, StyledCommand, dump_json
from advisor.errors import AdvisorError
from advisor.recipe import load_moe_source, load_source
from advisor.target import DEFAULT_SEQ_LEN
from advisor.units import format_count


@click.command(cls=StyledCommand)
@add_options(TARGET_OPTIONS[:2])
@click.option("--tokens", type=Quantity(), required=True, help="Training tokens, e.g. 2T.")
@click.option("--lr", type=Quantity(), help="Your planned peak learning rate, e.g. 3e-4.")
@click.option("--batch", type=Quantity(), help="Your planned batch in tokens, e.g. 4M.")
@click.option("--batch-seqs", type=Quantity(integer=True), help="... or in sequences of --seq-len.")
@add_options(TARGET_OPTIONS[2:])
@config_option
@click.option("--configs", "configs_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="A CSV of candidates, one per row, with a header: lr, and batch (tokens, e.g. 4M; also "
                   "batch_tokens) or batch_seqs; optional name. E.g. 'name,lr,batch' then 'llama2,3e-4,4M'. All "
                   "are checked and ranked safest first: risky ones last (an LR far above the optimum last of all).")
@plot_options("Also draw the predicted penalty map over LR × batch with your point(s) (.png, .pdf or .svg; "
              "needs matplotlib).")
@click.option("--optimizer", metavar="NAME", help="Check against this optimizer's profiles in Marin's sweep "
              "(arXiv 2509.02046), e.g. muon: LR cost and the divergence-cliff risk (advisor/optimizer_recipe.py).")
@click.option("--weight-decay", type=Quantity(minimum=0), help="With --optimizer: your weight decay, costed "
              "from Marin's weight-decay profiles.")
@click.option("--momentum", type=Quantity(), help="With --optimizer muon or scion: your momentum, costed from "
              "Marin's momentum profiles.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON (keys penalty_pct, penalty_pct_low, penalty_pct_high, lr_opt, batch_tokens_opt, risky, ...).")
def check(params, n_params_nonembedding, tokens, lr, batch, batch_seqs, seq_len, vocab_size, model_path, config,
          configs_file, plot_path, force, optimizer, weight_decay, momentum, as_json, active_params=None,
          n_params_active_nonembedding=None):
    """Predict what your planned LR and batch cost in loss against the recommended optimum.

    Prints the predicted penalty in % with its 90% interval, the optimum it is compared against, whether
    the run is risky (the interval reaches 3%: a loss spike or a failed run cannot be ruled out) and the
    single change that would help most. The penalty model is fitted on the model's sweep (the default:
    Step Law's 1,911 runs); far outside it the answer is flagged as extrapolated.

    \b
    Examples:
      advisor check --params 7B --tokens 2T --lr 3e-4 --batch 4M
      advisor check --params 70B --tokens 2T --lr 1.5e-4 --batch-seqs 1024 --seq-len 4096 --json
      advisor check --params 7B --tokens 2T --configs candidates.csv
      advisor check --params 16B --active-params 2.8B --tokens 2T --lr 4.2e-4 --batch 4M   # an MoE
      advisor check --params 7B --tokens 2T --optimizer muon --lr 1e-3 --batch 4M --weight-decay 0.1
    """
    refuse_plot_clobbering(plot_path, force, {"--config": config, "--configs": configs_file}, model=model_path)
    seq_len, vocab_size = config_target(config, seq_len, vocab_size)
    if optimizer is not None or weight_decay is not None or momentum is not None:
        from advisor.cli.optimizer import check_command

        if optimizer is None:
            raise InputError("--weight-decay and --momentum are costed from an optimizer's profiles: add --optimizer NAME")
        if lr is None:
            raise InputError("give your planned --lr with --optimizer")
        if batch is not None and batch_seqs is not None:
            raise InputError("give --batch or --batch-seqs, not both")
        if batch_seqs is not None:
            batch = batch_seqs * (seq_len or DEFAULT_SEQ_LEN)
        return check_command(optimizer, as_json, dict(model=model_path, plot=plot_path, configs=configs_file,
                                                       active_params=active_params,
                                                       active_nonembedding=n_params_active_nonembedding),
                             lr=lr, batch=batch, weight_decay=weight_decay, momentum=momentum, params=params,
                             tokens=tokens, n_params_nonembedding=n_params_nonembedding, seq_len=seq_len or DEFAULT_SEQ_LEN,
                             vocab_size=vocab_size, config=config)
    # the model is loaded once for every candidate and the plot
    active = dict(active_params=active_params, n_params_active_nonembedding=n_params_active_nonembedding)
    config, moe = moe_target(config, **active)
    model = (load_moe_source(model_path) if moe else load_source(model_path, None))[0]
    target = dict(params=params, tokens=tokens, n_params_nonembedding=n_params_nonembedding, seq_len=seq_len,
                  vocab_size=vocab_size, model=model, config=config, **active)
    if configs_file is not None:
        if lr is not None or batch is not None or batch_seqs is not None:
            raise InputError("give --configs FILE or one --lr with --batch/--batch-seqs, not both")
        rows = read_candidates(configs_file, "--configs")
        results = rank_candidates(check_candidates(target, rows, "--configs", progress=_progress))
    else:
        if lr is None:
            raise InputError("give your planned --lr (and --batch or --batch-seqs), or --configs FILE")
        results = [("your plan", run_check(**target, lr=lr, batch=batch, batch_seqs=batch_seqs))]
    if plot_path:
        _plot(results, target, plot_path)
    if as_json:
        out = [dict(name=name, **r.to_dict()) for name, r in results]
        dump_json(out if configs_file else out[0])
    else:
        click.echo(render_check(results))


PROGRESS_ROWS = 5000  # longer --configs files report their progress on stderr


def _progress(done: int, total: int) -> None:
    if total > PROGRESS_ROWS and (done % PROGRESS_ROWS == 0 or done == total):
        click.echo(f"checked {done:,} of {total:,} candidates", err=True)


def render_check(results: list[tuple[str, CheckResult]]) -> str:
    first = results[0][1]
    moe = (f" ({format_count(first.n_params_active)} active per token; laws at N = {format_count(first.n_params_laws)})"
           if first.n_params_active and first.n_params_active < first.n_params else "")
    target = f"Target: N = {format_count(first.n_params)} non-embedding{moe}, D = {format_count(first.tokens)} tokens, " \
             f"seq_len {first.seq_len}; "
    by = first.source.label
    if not (first.lr_informative and first.batch_informative):
        return _render_unknown(results, target, by)
    lines = [f"{target}optimum peak LR {first.lr_opt:.3g}, batch {format_count(first.batch_tokens_opt)} tokens ({by})", ""]
    for name, r in results:
        flags = (f"; RISKY: {_risk_text(r)}" if r.risky else "") + \
                (" (extrapolated beyond the fitted range)" if r.extrapolated else "")
        lines.append(f"  {name}: LR {r.lr:.3g} ({r.lr_ratio:.2f}× the optimum), batch {format_count(r.batch_tokens)} "
                     f"({r.batch_ratio:.2f}×) → {_penalty_text(r)}{flags}")
        lines.append("      " + _suggestion_text(r))
        if r.beyond_validated:
            lines.append("      " + _beyond_text(r))
    if first.warnings:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in first.warnings]
    return "\n".join(lines)


def _render_unknown(results: list[tuple[str, CheckResult]], target: str, by: str) -> str:
    """Where the model does not know the optimum: no penalty, no suggested change, only the LR against the
    published laws' range at the target (docs/reading-the-output.md, "uninformative")."""
    first = results[0][1]
    what = " and ".join(n for n, k in (("LR", first.lr_informative), ("batch", first.batch_informative)) if not k)
    laws = ", ".join(f"{name} {value:.3g}" for name, value in first.published_lr)
    lines = [f"{target}the optimum {what} {'are' if ' and ' in what else 'is'} not known at this target ({by}: its 90% interval is too wide)",
             f"  no penalty or suggested change: there is no optimum to measure against"
             + (f"; published laws' LR here: {laws}" if laws else ""), ""]
    for name, r in results:
        risk = (" RISKY: more than 4× above every published law's LR here, where runs often spike or fail"
                if r.risky else (" (not more than 4× above the published laws' LR here)" if laws else ""))
        lines.append(f"  {name}: LR {r.lr:.3g}, batch {format_count(r.batch_tokens)}{risk}")
    lines.append("      next: a short LR sweep near this size, or advisor recalibrate anchor (docs/reading-the-output.md)")
    if first.warnings:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in first.warnings]
    return "\n".join(lines)


def _penalty_text(r: CheckResult) -> str:
    """The penalty and its interval; beyond the validated 4× a lower bound (the value at that edge), and far
    above the optimal LR a divergence risk rather than a small penalty."""
    if "lr_far_above" in r.risk_reasons:
        return (f"DIVERGENCE RISK: the run may spike or diverge; if it trains, a penalty of at least "
                f"{r.penalty_pct:.2f}% (the value at 4× above the optimum)")
    if r.penalty_is_lower_bound:
        return (f"penalty at least {r.penalty_pct:.2f}% (the value at 4× from the optimum; 90%: "
                f"{r.penalty_pct_low:.2f}–{r.penalty_pct_high:.2f})")
    return f"penalty {r.penalty_pct:.2f}% (90%: {r.penalty_pct_low:.2f}–{r.penalty_pct_high:.2f})"


def _risk_text(r: CheckResult) -> str:
    """Why the run is risky, from its reasons (CheckResult.risk_reasons)."""
    if "lr_far_above" in r.risk_reasons:
        return "the LR is more than 4× above the optimum, where runs often spike or fail"
    return f"the penalty's 90% interval reaches {RISKY_PCT:g}%: a costly or failed run cannot be ruled out"


def _beyond_text(r: CheckResult) -> str:
    """Which offsets lie beyond the 4× the penalty model was validated within, and what that means."""
    ratios = {"lr": r.lr_ratio, "batch": r.batch_ratio}
    far = ", ".join(f"{name.split('_')[0].replace('lr', 'LR')} {ratios[name.split('_')[0]]:.3g}× the optimum"
                    for name in r.beyond_validated)
    return (f"{far}: more than 4× from the optimum, beyond the range the penalty model was validated on, so the "
            "penalty shown is its value at 4×, a lower bound" + ("; runs this far above the optimal LR often spike or fail"
                                                if "lr_above" in r.beyond_validated else ""))


def _suggestion_text(r: CheckResult) -> str:
    s = r.suggestion
    if not s:
        return "nothing to change: no single change saves more than 0.05%"
    what = f"LR → {s['to']:.3g}" if s["change"] == "lr" else f"batch → {format_count(s['to'])} tokens"
    if s.get("why"):
        return f"first: {what} ({s['why']}; penalty then {s['penalty_pct']:.2f}%)"
    return f"the single change that helps most: {what} (penalty {s['penalty_pct']:.2f}%)"


def _plot(results, target: dict, path: str) -> None:
    first = results[0][1]
    if not (first.lr_informative and first.batch_informative):
        raise InputError("no penalty map here: the model does not know the optimum at this target (its 90% "
                         "interval is too wide); drop --plot")
    write_penalty_map(target["model"].penalty_, first.n_params_laws or first.n_params, first.tokens, first.lr_opt, first.batch_tokens_opt,
                      {name: (r.lr, r.batch_tokens) for name, r in results}, path)


__all__ = ["check", "AdvisorError"]
