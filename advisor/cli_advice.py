"""The advice commands: `advisor recommend | plan | compare | show` (a thin layer over recipe/planning).

They follow the house style of advisor/cli.py: quantities typed with `Quantity`, errors in what the user
typed or in a model file as one line on stderr with exit code 2.
Imports stay light (click, math): `advisor recommend` must start in a small multiple of bare Python.
"""
from __future__ import annotations

from functools import partial

import click

from advisor.cli import InputError, Quantity, StyledCommand, hidden_alias, input_errors
from advisor.cli import dump_json as _dump
from advisor.cli_outputs import plot_options, refuse_plot_clobbering
from advisor.hardware import GPUS
from advisor.intervals import coverage_lines, percentile
from advisor.laws import HYPERPARAMETER_LAWS, LOSS_PRESETS, RECOMMEND_LAWS, Target
from advisor.model import FittedModel
from advisor.recipe import AdvisorError, Recommendation, load_source
from advisor.recipe import recommend as make_recommendation
from advisor.unknown_optimum import assumed_note, unknown_text
from advisor.short_answer import RECIPE_SECTIONS, UNINFORMATIVE_RATIO, render_short, uninformative_lines
from advisor.units import format_count, format_days, is_number

# Extreme inputs that slipped past the checks: still bad input, not a traceback.
out_of_range = input_errors(OverflowError, ZeroDivisionError, about="numbers out of the range this tool can compute")


def _lr(x: float | None) -> str:
    return "—" if x is None else f"{x:.3g}"


def _count(x: float | None) -> str:
    return "—" if x is None else format_count(x)


def _int(x: int) -> str:
    return f"{x:,}"


# ---------------------------------------------------------------------------------------- recommend

_target_options = [
    click.option("--params", type=Quantity(), help="TOTAL parameters of the target, e.g. 7B, 70b, 1.5e9, 300M "
                 "(converted to non-embedding N with the Llama-style shape and --vocab-size)."),
    click.option("--n-params-nonembedding", "n_params_nonembedding", type=Quantity(),
                 help="Non-embedding parameters N directly (instead of --params)."),
    click.option("--active-params", type=Quantity(), help="Mixture of experts: parameters active per token, "
                 "counted like --params (embeddings included), e.g. --params 16B --active-params 2.8B. Served by "
                 "the shipped MoE model unless --model is given."),
    click.option("--n-params-active-nonembedding", "n_params_active_nonembedding", type=Quantity(),
                 help="Mixture of experts: non-embedding parameters active per token (with --n-params-nonembedding)."),
    click.option("--seq-len", type=Quantity(integer=True), default="4096", show_default=True,
                 help="Sequence length in tokens (with --config and no --seq-len: the config's context "
                 "length where it is shorter than 4096)."),
    click.option("--vocab-size", type=Quantity(integer=True), default="32000", show_default=True,
                 help="Vocabulary size used to split --params into embeddings and the rest (with --config: "
                 "the config's)."),
    click.option("--model", "model_path", metavar="NAME|FILE",
                 help="A shipped model's name (`advisor sources`) or a fitted-model JSON (from `advisor fit`); "
                 "default: the catalog's default model."),
]


# The model's own config instead of --params: a separate option, added to each command that takes it.
config_option = click.option(
    "--config", "config", metavar="FILE", type=click.Path(dir_okay=False),
    help="The model's config: a Hugging Face config.json (llama, mistral, qwen2, mixtral, qwen2_moe, "
    "deepseek_v3, ...) or a nanoGPT config. Exact N, total and active counts, vocabulary and context length "
    "replace the standard shape (instead of --params / --n-params-nonembedding).")


def config_target(config, seq_len, vocab_size) -> tuple:
    """(seq_len, vocab_size) for the API: the ones the user did not type become None, so that the config
    decides them (advisor.recipe.target_shape, _target_seq_len), or the defaults apply and the output says
    "default", not "given"."""
    ctx = click.get_current_context()
    defaulted = (click.core.ParameterSource.DEFAULT, click.core.ParameterSource.DEFAULT_MAP)
    return tuple(None if ctx.get_parameter_source(name) in defaulted else value
                 for name, value in (("seq_len", seq_len), ("vocab_size", vocab_size)))


def _add(options):
    def decorator(func):
        for option in reversed(options):
            func = option(func)
        return func

    return decorator


def _held_and_scheduled(fixed_batch, fixed_lr, schedule, *target, **options) -> Recommendation:
    """The recommendation, under a held batch or LR (--batch/--lr) and for the chosen schedule."""
    make = make_recommendation
    if fixed_batch is not None or fixed_lr is not None:
        from advisor.constrained_recipe import recommend_constrained

        make = partial(recommend_constrained, batch=fixed_batch, lr=fixed_lr)
    rec = make(*target, **options)
    if schedule[0] is not None:
        from advisor.schedules import apply_schedule

        rec = apply_schedule(rec, *schedule)[0]
    return rec


@click.command(cls=StyledCommand)
@_add(_target_options[:1])
@click.option("--tokens", type=Quantity(), help="Training tokens, e.g. 2T, 300B. Default: compute-optimal for N "
              "under the model's loss law (else 20 per parameter).")
@click.option("--tokens-per-param", type=Quantity(), help="Training tokens per (total) parameter, e.g. 20.")
@_add(_target_options[1:])
@config_option
@click.option("--hp-law", metavar="NAME",
              help=f"Use a published LR/batch law instead of a model: {', '.join(RECOMMEND_LAWS)}.")
@hidden_alias("--law", of="hp_law")  # the old name: `--law` meant this law here and the loss law in `plan`
@click.option("--tau-frac", type=Quantity(), default=None,
              help="Set the weight decay by the τ rule: AdamW timescale 1/(η·λ) as this fraction of training "
                   "(e.g. 0.1). Default: the fitted model's calibrated λ; with --hp-law, the τ rule at 0.1.")
@click.option("--optimizer", metavar="NAME", help="Answer for this optimizer from Marin's sweep of 11 optimizers "
              "(arXiv 2509.02046): adamw, muon, lion, soape, ... (`advisor sources`); without it: AdamW from --model.")
@click.option("--setup", "setup", metavar="NAME", default=None,
              help="Answer for a setup the cross-setup default was fitted on (steplaw-dense, marin-adamw): its own "
                   "law, no setup part in the interval. For a team whose recipe matches that setup's.")
@click.option("--batch", "fixed_batch", type=Quantity(), help="Hold the batch (tokens, e.g. 4M): the best LR at it, "
              "from the fitted loss surface, what holding it costs and the unconstrained optimum beside it.")
@click.option("--lr", "fixed_lr", type=Quantity(), help="Hold the peak LR (e.g. 3e-4): the best batch at it, likewise.")
@click.option("--batch-ramp", "batch_ramp", is_flag=True, help="Propose a staged batch schedule (the batch doubling "
              "up to the recommended batch, or the one you train at: --batch or --max-batch, its end; it starts at a "
              "quarter of that, or at the recommended batch if smaller), each stage with its LR and β2, and a "
              "Megatron-LM --step-batch-size-schedule string.")
@click.option("--max-batch", "max_batch", type=Quantity(), help="With --batch-ramp: the batch the ramp ends at (tokens; "
              "the same as --batch there).")
@click.option("--schedule", "schedule", metavar="cosine|wsd|linear", help="The LR schedule to train with (default: "
              "the calibrated one): its final LR and peak LR, each line saying whether measured or a cited rule.")
@click.option("--decay-frac", "decay_frac", type=float, help="With --schedule wsd: the fraction of the steps in the "
              "final cooldown, in (0, 1] (default 0.2).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (keys lr, lr_low, lr_high, batch_tokens, ...; "
              "with --batch/--lr those are what to train with, the joint optimum under `unconstrained`).")
@click.option("--explain", "-v", "explain", is_flag=True,
              help="The long answer: each interval's parts, what straying costs (tolerance), the rules and their "
                   "citations, the model's provenance. Terms: docs/reading-the-output.md.")
@out_of_range
@plot_options("Also draw the predicted loss-penalty map over LR × batch around the answer (.png, .pdf or "
              ".svg; needs matplotlib).")
def recommend(params, tokens, tokens_per_param, n_params_nonembedding, seq_len, vocab_size, model_path, config,
              hp_law, tau_frac, optimizer, setup, as_json, plot_path, force=False, explain=False, active_params=None,
              n_params_active_nonembedding=None, fixed_batch=None, fixed_lr=None, batch_ramp=False, max_batch=None,
              schedule=None, decay_frac=None):
    """Recommend the peak LR, batch size and full recipe for a target model.

    \b
    Examples:
      advisor recommend --params 7B --tokens 2T
      advisor recommend --params 70B --tokens-per-param 20 --seq-len 8192 --json
      advisor recommend --n-params-nonembedding 6.5e9 --tokens 2T --model runs/quick/model.json
      advisor recommend --params 7B --tokens 2T --hp-law steplaw
      advisor recommend --params 7B --tokens 2T --setup marin-adamw   # your recipe is Marin's
      advisor recommend --config path/to/config.json --tokens 2T
      advisor recommend --params 16B --active-params 2.8B --tokens 2T   # a mixture of experts
      advisor recommend --params 7B --tokens 2T --optimizer muon        # Muon, from Marin's sweep
      advisor recommend --params 7B --tokens 2T --batch 4M    # the best LR at a batch you must use

    \b
    Quantities take K, M, B (or G), T suffixes ("7B", "300M", "2T"), plain or
    scientific numbers ("1.5e9"), and 1,000,000-style grouping. Without
    --tokens the token budget is compute-optimal under the model's loss law
    (or 20 tokens per parameter), and the output says which.
    """
    _need_size(params, n_params_nonembedding, config)
    refuse_plot_clobbering(plot_path, force, {"--config": config}, model=model_path)
    seq_len, vocab_size = config_target(config, seq_len, vocab_size)
    if optimizer is not None:  # Marin's laws for that optimizer: options that pick other laws do not apply
        conflicts = dict(model=model_path, hp_law=hp_law, tau_frac=tau_frac, plot=plot_path,
                         active_params=active_params, active_nonembedding=n_params_active_nonembedding,
                         batch=fixed_batch, lr=fixed_lr, batch_ramp=batch_ramp, max_batch=max_batch,
                         schedule=schedule, decay_frac=decay_frac, setup=setup)
        from advisor.cli_optimizer import recommend_command

        return recommend_command(optimizer, as_json, explain=explain, conflicts=conflicts, params=params,
                                 tokens=tokens, tokens_per_param=tokens_per_param, config=config,
                                 n_params_nonembedding=n_params_nonembedding, seq_len=seq_len or 4096,
                                 vocab_size=vocab_size)
    from advisor.schedules import parse_schedule

    schedule = parse_schedule(schedule, decay_frac)
    if batch_ramp or max_batch is not None:
        return _recommend_ramp(params, tokens, fixed_batch, fixed_lr, max_batch, batch_ramp, as_json, explain, schedule, dict(
            tokens_per_param=tokens_per_param, seq_len=seq_len, vocab_size=vocab_size, config=config,
            n_params_nonembedding=n_params_nonembedding, model=model_path, law=hp_law, tau_frac=tau_frac,
            active_params=active_params, n_params_active_nonembedding=n_params_active_nonembedding, setup=setup))
    rec = _held_and_scheduled(fixed_batch, fixed_lr, schedule, params, tokens, tokens_per_param=tokens_per_param,
                              seq_len=seq_len, vocab_size=vocab_size, n_params_nonembedding=n_params_nonembedding,
                              config=config, model=model_path, law=hp_law, tau_frac=tau_frac,
                              active_params=active_params,
                              n_params_active_nonembedding=n_params_active_nonembedding, setup=setup)
    if as_json:
        _dump(rec.to_dict())
    else:
        click.echo(_answer_text(rec, explain))
    if plot_path:  # after the answer: a plot that cannot be drawn costs the plot, not the answer
        _plot_recommendation(rec, model_path, plot_path)


def _answer_text(rec: Recommendation, explain: bool) -> str:
    """The long answer (--explain), or the short one with the constraint's and the schedule's lines."""
    if explain:
        return render_recommendation(rec)
    if rec.constraint is None and rec.schedule_detail is None:
        return render_short(rec)
    from advisor.constrained_text import short_sections

    return render_short(rec, short_sections(rec))


def _recommend_ramp(params, tokens, start, lr, max_batch, batch_ramp: bool, as_json: bool, explain: bool,
                    schedule: tuple, target: dict) -> None:
    from advisor.ramp import ramp_lines, recommend_with_ramp
    from advisor.schedules import apply_schedule

    if not batch_ramp:
        raise AdvisorError("--max-batch goes with --batch-ramp")
    if start is not None:  # --batch is the batch you train at, as elsewhere: with a ramp, the batch it ends at
        if max_batch is not None:
            raise AdvisorError("with --batch-ramp, --batch is the batch the ramp ends at, as --max-batch: give one of them")
        start, max_batch = None, start
    rec, ramp = recommend_with_ramp(params, tokens, start_batch=start, max_batch=max_batch, lr=lr, **target)
    if schedule[0] is not None:
        rec, factor = apply_schedule(rec, *schedule)
        ramp["stages"] = [{**s, "lr": s["lr"] * factor} for s in ramp["stages"]]
    if as_json:
        _dump({**rec.to_dict(), "batch_ramp": ramp})
    else:
        click.echo("\n".join([_answer_text(rec, explain), *ramp_lines(ramp, rec.seq_len)]))


def _plot_recommendation(rec: Recommendation, model_path, path: str) -> None:
    if rec.source.get("kind") != "model":
        raise AdvisorError("--plot needs a fitted model with a penalty model (refit older models with `advisor fit`)")
    fitted, _ = load_source(rec.source["path"] if model_path is None else model_path, None)
    if fitted.penalty_ is None:
        raise AdvisorError("--plot needs a fitted model with a penalty model (refit older models with `advisor fit`)")
    write_penalty_map(fitted.penalty_, rec.n_params_laws or rec.n_params, rec.tokens, rec.lr, rec.batch_tokens,
                      {"recommended (rounded batch)": (rec.lr, rec.batch_tokens_rounded)}, path)


def write_penalty_map(penalty, n_params: float, tokens: float, lr_opt: float, batch_opt: float,
                      points: dict, path: str) -> None:
    """The penalty map (advisor/cost_plot.py) as a command writes it: one-line error, path on stderr."""
    from advisor.cost_plot import plot_penalty_map

    try:
        plot_penalty_map(penalty, n_params, tokens, lr_opt, batch_opt, points, path,
                         f"predicted penalty at N = {format_count(n_params)}, D = {format_count(tokens)}")
    except OSError as exc:
        raise InputError(f"cannot write the plot {path}: {exc}") from None
    click.echo(f"wrote {path}", err=True)


def _need_size(params, n_params_nonembedding, config) -> None:
    if params is None and n_params_nonembedding is None and config is None:
        raise AdvisorError("give the target size: --params 7B (total), --n-params-nonembedding N or --config FILE")


def render_recommendation(rec: Recommendation) -> str:
    seq = rec.seq_len
    lines = _caution(rec)
    lines += [
        *_target_lines(rec),
        f"  tokens       {format_count(rec.tokens)} — {rec.tokens_source}; "
        f"{rec.tokens_per_param:.3g} tokens per parameter",
        f"  compute      C = {rec.flops:.3g} FLOPs: {rec.flops_formula}",
        "",
        *(_optimum_lines(rec) if rec.constraint is None else _constrained_lines(rec)),
        f"  steps        {_int(rec.steps)}",
        *([f"  assumed      {assumed_note(rec)}"] if rec.assumed else []),
        f"  warmup       {_int(rec.warmup_steps)} steps ({format_count(rec.warmup_tokens)} tokens): {rec.rules['warmup']}",
        f"  schedule     {rec.schedule}, final LR " + (f"{rec.final_lr:.3g} ({rec.final_lr_frac:.3g}× peak)"
                                                     if rec.final_lr > 0 else "0"),
        *_schedule_lines(rec),
        f"  AdamW        β1 {rec.beta1:g}, β2 {rec.beta2:.4g}, ε {rec.eps:g}, weight decay {rec.weight_decay:.3g}",
        f"               β2 rule: {rec.rules['beta2']}",
        f"               weight decay rule: {rec.rules['weight_decay']}; τ = 1/(ηλ) = {rec.tau_frac:.3g}× the training steps",
        f"  grad clip    {rec.grad_clip:g} (max global norm)",
        "",
        _extrapolation_line(rec),
        *_setups_line(rec),
        _source_line(rec.source),
    ]
    if rec.warnings:
        lines.append("Warnings:")
        lines.extend(f"  - {w}" for w in rec.warnings)
    return "\n".join(lines)


def _optimum_lines(rec: Recommendation) -> list[str]:
    seq = rec.seq_len
    return [*_headline(rec, "lr", [f"  peak LR      {rec.lr:.3g}   ({_lr_interval(rec)})"]),
            *_headline(rec, "batch", [
                f"  batch        {_int(rec.batch_seqs)} sequences × {seq} = {format_count(rec.batch_tokens_rounded)} "
                f"tokens   ({_batch_origin(rec)} {format_count(rec.batch_tokens)} tokens = {rec.batch_tokens / seq:.4g} "
                f"sequences{_batch_interval(rec)})"]),
            *_interval_lines(rec), *_tolerance_lines(rec)]


def _schedule_lines(rec: Recommendation) -> list[str]:
    if not rec.schedule_detail:
        return []
    from advisor.schedules import schedule_lines

    return schedule_lines(rec)


def _constrained_lines(rec: Recommendation) -> list[str]:
    from advisor.constrained_text import constrained_lines

    return constrained_lines(rec)


CAUTION_FACTOR = 100.0  # extrapolation beyond the fitted range that earns a banner above the answer


def _caution(rec: Recommendation) -> list[str]:
    """A banner when the answer is far outside what the model saw: users must not miss it."""
    worst = max(rec.extrapolation.values(), default=1.0)
    if worst < CAUTION_FACTOR:
        return []
    return [f"CAUTION: this extrapolates up to {worst:.2g}× beyond the fitted model's range (see the warnings); "
            "check it against published laws with `advisor compare` before you train.", ""]


def _interval_lines(rec: Recommendation) -> list[str]:
    """What each source of uncertainty contributes to the 90% intervals (advisor/intervals.py)."""
    out = []
    for label, parts, fmt, own in (("LR", rec.lr_interval, _lr, True),
                                   ("batch", rec.batch_interval, _count, rec.batch_source == "model")):
        if not own or parts["total"][0] == parts["total"][1]:
            continue
        lo, hi = parts["total"]
        widths = {name: b / a for name, (a, b) in parts.items() if name != "total" and a < b}
        if hi / lo > UNINFORMATIVE_RATIO:
            worst = max(widths, key=widths.get).replace("_", " ")
            out.append(f"  {'90% ' + label:<12} uninformative: the interval spans {hi / lo:.1e}× ({worst} "
                       "dominates): this model cannot say where the optimum is at this target")
            continue
        bits = ", ".join(f"{name.replace('_', ' ')} {fmt(parts[name][0])}–{fmt(parts[name][1])}"
                         for name in widths) or "no component"
        out.append(f"  {'90% ' + label:<12} {fmt(lo)} – {fmt(hi)} ({hi / lo:.3g}× wide) = {bits}")
    return out


def _moe_shift_text(rec: Recommendation, shift: dict | None) -> str:
    """What the points actually come from when the total lies outside the measured totals."""
    if not shift:
        return ""
    moved = [f"{label} ×{shift[law]['point_factor']:.3g} (that reading: {fmt(shift[law]['alternative'])})"
             for law, label, fmt in (("lr", "LR", _lr), ("batch", "batch", _count)) if law in shift]
    where = (f"; but the total {format_count(rec.n_params)} is {shift['factor']:.3g}× {shift['direction']} the MoE "
             f"sweep's ({shift['measured']})")
    if not moved:
        return f"{where}: this N's reading is used unchecked"
    return (f"{where}: each point is moved halfway from this N's reading towards the dense-law reading at N_eff of "
            f"both counts: {', '.join(moved)}")


def _target_lines(rec: Recommendation) -> list[str]:
    """The target's size: from the standard shape, or counted exactly from the user's config."""
    src = rec.shape_source or {}
    if src.get("moe") and src.get("kind") != "config":
        return [f"Target: a mixture of experts, N = {format_count(rec.n_params)} non-embedding parameters in all, "
                f"{format_count(rec.n_params_active)} active per token ({format_count(rec.n_params_total)} and "
                f"{format_count(src['moe']['n_params_active_total'])} with embeddings, vocab {rec.vocab_size}; "
                f"d_model ≈ {rec.d_model:.0f}, n_layer ≈ {_layers(rec.n_layer)}: {src['moe']['rule']})",
                f"  N for laws   {format_count(rec.n_params_laws)}: {src['moe'].get('laws_rule', '')}"
                f"{_moe_shift_text(rec, src['moe'].get('total_shift'))}"]
    if src.get("kind") != "config":
        return [f"Target: N = {format_count(rec.n_params)} non-embedding parameters ({format_count(rec.n_params_total)} "
                f"total with vocab {rec.vocab_size}; d_model ≈ {rec.d_model:.0f}, n_layer ≈ {_layers(rec.n_layer)} "
                f"under the standard shape (whole layers) — {rec.rules['shape']})"]
    moe = (f"; {format_count(rec.n_params_active)} active per token, {src['n_experts_active']} of {src['n_experts']} "
           "experts" if src.get("n_experts") else "")
    return [f"Target: N = {format_count(rec.n_params)} non-embedding parameters ({format_count(rec.n_params_total)} "
            f"total{moe}; vocab {rec.vocab_size}, d_model {rec.d_model:.0f}, n_layer {rec.n_layer:.0f}) — exact "
            f"count from {src.get('path')} ({src.get('family')})",
            f"  config       read {', '.join(src.get('fields_read') or [])}",
            *(f"               {note}" for note in src.get("notes") or []),
            f"  seq_len      {rec.seq_len}: {src.get('seq_len_source', '')}",
            *([f"  N for laws   {format_count(rec.n_params_laws)}: {src['moe'].get('laws_rule', '')}"
               f"{_moe_shift_text(rec, src['moe'].get('total_shift'))}"] if src.get("moe") else [])]


def _uninformative(rec: Recommendation, law: str) -> bool:
    """The tool's own verdict: an interval wider than UNINFORMATIVE_RATIO says "we do not know"."""
    if law == "lr":
        return rec.lr_low < rec.lr_high and rec.lr_interval_ratio > UNINFORMATIVE_RATIO
    return (rec.batch_source == "model" and rec.batch_tokens_low < rec.batch_tokens_high
            and rec.batch_interval_ratio > UNINFORMATIVE_RATIO)


def _headline(rec: Recommendation, law: str, lines: list[str]) -> list[str]:
    """The LR or batch line, or where the model cannot say, what can be said instead (never its number)."""
    if not _uninformative(rec, law):
        return lines
    ratio, index = (rec.lr_interval_ratio, 0) if law == "lr" else (rec.batch_interval_ratio, 1)
    label = "peak LR" if law == "lr" else "batch"
    return [f"  {label if i == 0 else '':<13}{line[11:]}"
            for i, line in enumerate(uninformative_lines(rec, label, ratio, index))]


def _tolerance_lines(rec: Recommendation) -> list[str]:
    """What straying from the optimum costs at the target (advisor/cost.py); none around an optimum the model
    cannot place (a tolerance around an unknown point would look like knowledge)."""
    tol = rec.tolerance
    if not tol:
        return []
    if _uninformative(rec, "lr") or _uninformative(rec, "batch"):
        return ["  tolerance    not given: the optimum itself is not known here (see above)"]
    lr, batch, rounded = tol["lr"], tol["batch_tokens"], tol["rounded_batch"]
    held = " (the penalty's shape is held at the edge of the range it was fitted on)" if tol["extrapolated"] else ""
    return [f"  tolerance    LR {_lr(lr['0.25'][0])} – {_lr(lr['0.25'][1])} costs at most 0.25% in loss "
            f"({_lr(lr['1'][0])} – {_lr(lr['1'][1])}: 1%); batch {_count(batch['0.25'][0])} – "
            f"{_count(batch['0.25'][1])} at most 0.25% ({_count(batch['1'][0])} – {_count(batch['1'][1])}: 1%)",
            f"               the rounded batch ({_count(rounded['batch_tokens'])} tokens) costs "
            f"{rounded['penalty_pct']:.2f}% [{rounded['penalty_pct_low']:.2f}–{rounded['penalty_pct_high']:.2f}]{held}"]


def _batch_origin(rec: Recommendation) -> str:
    return "law optimum" if rec.batch_source == "model" else f"{rec.batch_source[4:]} law's optimum"


def _batch_interval(rec: Recommendation) -> str:
    if rec.batch_tokens_low == rec.batch_tokens_high:
        return "; no interval"
    if rec.batch_interval_ratio > UNINFORMATIVE_RATIO:
        return "; no usable interval, see below"
    return f"; 90% {format_count(rec.batch_tokens_low)} – {format_count(rec.batch_tokens_high)}"


def _lr_interval(rec: Recommendation) -> str:
    if rec.lr_low == rec.lr_high:
        return "no interval: a published point law"
    if rec.lr_interval_ratio > UNINFORMATIVE_RATIO:
        return "no usable interval, see below"
    return f"90% interval {rec.lr_low:.3g} – {rec.lr_high:.3g}"


def _batch_width(rec: Recommendation) -> str:
    if rec.batch_source != "model":
        return f"batch none ({rec.batch_source[4:]}'s published point law)"
    return f"batch {rec.batch_interval_ratio:.3g}×"


def _extrapolation_line(rec: Recommendation) -> str:
    if rec.source.get("kind") == "law":
        return "Extrapolation: unknown (a published law's fit range is not tracked); no interval."
    ex = rec.extrapolation
    if not ex:
        return (f"Extrapolation: the model records no fit range. Interval width: LR {rec.lr_interval_ratio:.3g}×, "
                f"{_batch_width(rec)} (high/low).")
    labels = {"n_params": "N", "tokens": "D", "flops": "C", "n_params_total": "N total (MoE)"}
    parts = ", ".join(f"{labels.get(k, k)} "
                      f"{'inside' if f <= 1 else f'{f:.3g}×'}" for k, f in ex.items())
    return (f"Extrapolation beyond the fitted range: {parts}. Interval width (high/low): "
            f"LR {rec.lr_interval_ratio:.3g}×, {_batch_width(rec)}.")


def _setups_line(rec: Recommendation) -> list[str]:
    from advisor.setup_answer import line

    text = line(rec.setups)
    return [text] if text else []


def _source_line(src: dict) -> str:
    if src.get("kind") == "law":
        return f"Source: {src['name']} ({src['citation']}): {src['formula']}"
    counts = ("n_trials_used", "n_cells") if not src.get("setups") else ()  # a cross-setup fit: each setup's
    bits = [f"{k} {src[k]}" for k in ("source", "tokenizer", *counts, "code_version", "created_at")
            if src.get(k) is not None]
    if src.get("setups"):
        bits.insert(2, "fitted on " + ", ".join(f"{s['name']} ({s['n_trials']:,} runs, {s['n_cells']} cells)"
                                                for s in src["setups"]))
    batch = f"{src['batch_form']} (not used: a bound)" if src.get("batch_unusable") else src["batch_form"]
    line = f"Model: {src['path']} ({', '.join(bits)}); laws: lr {src['lr_form']}, batch {batch}"
    if src.get("name"):  # a shipped model: say what it rests on first
        line = f"Source: {src['name']}, {src['description']}\n{line}"
    return line


# ---------------------------------------------------------------------------------------- plan


@click.command(cls=StyledCommand)
@click.option("--flops", type=Quantity(), help="Compute budget in FLOPs, e.g. 1e23.")
@click.option("--gpu-hours", type=Quantity(), help="Budget in GPU-hours, e.g. 1e5.")
@click.option("--gpus", type=Quantity(integer=True),
              help="Number of GPUs (with --days as the budget, or for time and memory).")
@click.option("--days", type=Quantity(), help="Wall-clock days (with --gpus).")
@click.option("--gpu", default="h100", show_default=True,
              help=f"Accelerator: {', '.join(GPUS)}.")
@click.option("--mfu", type=Quantity(), default="0.4", show_default=True,
              help="Model FLOPs utilisation (fraction of peak).")
@click.option("--tokens", type=Quantity(), help="With --params or --config: training tokens of the run to cost.")
@_add(_target_options)
@config_option
@click.option("--loss-law", metavar="NAME",
              help=f"Loss law for the compute-optimal (N, D): {' or '.join(LOSS_PRESETS)} "
                   "(default: the model's fitted loss law).")
@hidden_alias("--law", of="loss_law")  # the old name: `--law` meant this law here and the LR/batch law in `recommend`
@click.option("--hp-law", metavar="NAME",
              help=f"Published LR/batch law for the recipe instead of a model: {', '.join(RECOMMEND_LAWS)}.")
@click.option("--price-per-gpu-hour", type=Quantity(), help="Price per GPU-hour for a cost estimate, e.g. 2.5.")
@click.option("--sharding", default="fsdp", show_default=True,
              help="fsdp (weights, grads and AdamW state sharded over the GPUs, ZeRO-3) or ddp (replicated).")
@click.option("--activation-checkpointing/--no-activation-checkpointing", default=True, show_default=True,
              help="Keep only each layer's input and recompute the rest in the backward pass.")
@click.option("--optimizer", metavar="NAME", help="Also give this optimizer's LR, batch and knobs for the planned "
              "N and D (Marin's sweep, arXiv 2509.02046; `recommend --optimizer`).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@out_of_range
def plan(flops, gpu_hours, gpus, days, gpu, mfu, tokens, params, n_params_nonembedding, seq_len, vocab_size,
         model_path, config, loss_law, hp_law, price_per_gpu_hour, sharding, activation_checkpointing, optimizer,
         as_json, active_params=None, n_params_active_nonembedding=None):
    """Plan a run from a budget, or cost a given model size.

    From a budget (--flops, --gpu-hours, or --gpus with --days) it picks the
    compute-optimal N and D under a loss law (C = 6ND), then gives the full
    recipe; from --params [--tokens] it gives GPU-hours, wall time and cost.
    Both report memory per GPU (weights, gradients, AdamW state, activations)
    and the micro-batch and gradient accumulation that reach the batch size.

    \b
    Examples:
      advisor plan --gpus 512 --days 30 --gpu h100 --mfu 0.4
      advisor plan --flops 1e23 --loss-law chinchilla
      advisor plan --params 7B --tokens 2T --gpus 256 --price-per-gpu-hour 2.5
      advisor plan --gpu-hours 1e5 --loss-law epoch --hp-law deepseek --json
      advisor plan --config path/to/config.json --tokens 2T --gpus 256
    """
    from advisor.planning import plan as make_plan

    seq_len, vocab_size = config_target(config, seq_len, vocab_size)
    result = make_plan(
        flops=flops, gpu_hours=gpu_hours, gpus=gpus, days=days, params=params, tokens=tokens,
        n_params_nonembedding=n_params_nonembedding, config=config, gpu=gpu, mfu=mfu,
        price_per_gpu_hour=price_per_gpu_hour,
        loss_law=loss_law, model=model_path, hp_law=hp_law, seq_len=seq_len, vocab_size=vocab_size,
        sharding=sharding.lower(), activation_checkpointing=activation_checkpointing,
        active_params=active_params, n_params_active_nonembedding=n_params_active_nonembedding,
    )
    extra = None
    if optimizer is not None:
        from advisor.cli_optimizer import plan_addendum

        extra = plan_addendum(optimizer, result, hp_law=hp_law, active_params=active_params,
                              active_nonembedding=n_params_active_nonembedding)
    if as_json:
        from advisor.cli_optimizer import jsonable

        _dump({**result.to_dict(), **({"optimizer": jsonable(extra[0])} if extra else {})})
        return
    click.echo(render_plan(result) + (f"\n\n{extra[1]}" if extra else ""))


def render_plan(p) -> str:
    m, rec = p.memory, p.recommendation
    lines = [f"Plan ({'compute-optimal from a budget' if p.mode == 'budget' else 'cost of a given size'})",
             f"  compute      C = {p.flops:.3g} FLOPs ({p.flops_source})"]
    if p.loss_law:
        lines.append(f"  allocation   N = {format_count(p.n_params)} non-embedding "
                     f"({format_count(p.n_params_total)} total), D = {format_count(p.tokens)} tokens: minimises "
                     f"{p.loss_law['name']} L(N, D) at 6ND = {p.loss_law.get('flops_6nd', p.flops):.3g} ({p.loss_law['citation']}); predicted loss "
                     f"{p.predicted_loss:.3f} nats/token (that law's data and tokenizer)")
    else:
        active = (f", {format_count(rec.n_params_active)} active per token"
                  if rec.n_params_active < rec.n_params else "")
        lines.append(f"  size         N = {format_count(p.n_params)} non-embedding{active} "
                     f"({format_count(p.n_params_total)} total), D = {format_count(p.tokens)} tokens")
    lines += [
        f"  hardware     {p.gpus} × {p.gpu} ({p.gpus_source}), peak {p.gpu_peak_flops:.3g} FLOP/s, MFU {p.mfu:g}",
        f"  time         {p.gpu_hours:,.0f} GPU-hours = {format_days(p.wall_days)} on {p.gpus} GPUs, for "
        f"{p.train_flops:.3g} training FLOPs ((6N + 6·n_layer·seq·d_model + 6·d_model·V)·D: attention and "
        "output head included)",
    ]
    if p.cost is not None:
        lines.append(f"  cost         ${p.cost:,.0f} at ${p.price_per_gpu_hour:g}/GPU-hour")
    ckpt = "with" if p.activation_checkpointing else "without"
    lines += [
        f"  memory/GPU   {p.sharding}, {ckpt} activation checkpointing, micro-batch {m.micro_batch or 1}:",
        f"               weights {m.weights_gib:.2f} GiB (bf16) + grads {m.grads_gib:.2f} + AdamW state "
        f"{m.optimizer_gib:.2f} (fp32 master + 2 moments) + activations {m.activations_gib:.2f} + logits "
        f"{m.logits_gib:.2f} = {m.total_gib:.1f} GiB of {m.usable_gib:.1f} usable ({m.gpu_gib:.0f} GiB GPU)",
    ]
    if m.fits:
        lines.append(f"  batching     {rec.batch_seqs} sequences = {m.per_gpu_seqs} per GPU = micro-batch "
                     f"{m.micro_batch} × {m.grad_accum} gradient-accumulation steps")
        if p.batch_cost:
            c = p.batch_cost
            lines.append(f"               this layout's batch ({c['batch_seqs']} sequences, "
                         f"{format_count(c['batch_tokens'])} tokens) costs {c['penalty_pct']:.2f}% in loss "
                         f"[{c['penalty_pct_low']:.2f}–{c['penalty_pct_high']:.2f}] against the optimum"
                         + (" (risky)" if c["risky"] else ""))
        elif unknown_text(rec):
            lines.append(f"               this layout's batch is not costed: the optimum {unknown_text(rec)} is not "
                         "known at this target")
    else:
        lines.append("  batching     does NOT fit even at micro-batch 1 (see warnings)")
    lines += ["", "Recipe (advisor recommend --explain for its parts and rules):", render_short(rec, RECIPE_SECTIONS)]
    if p.warnings:
        lines.append("Warnings:")
        lines.extend(f"  - {w}" for w in dict.fromkeys(p.warnings))  # the plan's and the recipe's, each once
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- compare


@click.command(cls=StyledCommand)
@_add(_target_options[:1])
@click.option("--tokens", type=Quantity(), help="Training tokens, e.g. 2T (default as in `advisor recommend`).")
@_add(_target_options[1:])
@config_option
@click.option("--optimizer", metavar="NAME", help="Compare this optimizer's law (Marin's sweep, arXiv 2509.02046) "
              "with AdamW's and with Marin's own fit and 1.2B runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@out_of_range
def compare(params, tokens, n_params_nonembedding, seq_len, vocab_size, model_path, config, optimizer, as_json,
            active_params=None, n_params_active_nonembedding=None):
    """Compare the fitted model's LR and batch with published laws, side by side.

    Rows: this model (with its 90% interval), DeepSeek LLM (arXiv 2401.02954),
    Step Law (arXiv 2503.04715), Kaplan et al. (arXiv 2001.08361) and Porian
    et al. (arXiv 2406.19146). Batch sizes are in tokens and in sequences at
    --seq-len; N is non-embedding everywhere.

    \b
    Examples:
      advisor compare --params 7B --tokens 2T
      advisor compare --params 70B --tokens 15T --seq-len 8192 --json
      advisor compare --config path/to/config.json --tokens 2T
      advisor compare --params 7B --tokens 2T --optimizer muon
    """
    _need_size(params, n_params_nonembedding, config)
    seq_len, vocab_size = config_target(config, seq_len, vocab_size)
    if optimizer is not None:
        from advisor.cli_optimizer import compare_command

        return compare_command(optimizer, as_json, dict(model=model_path, active_params=active_params,
                                                        active_nonembedding=n_params_active_nonembedding),
                               params=params, tokens=tokens, n_params_nonembedding=n_params_nonembedding,
                               seq_len=seq_len or 4096, vocab_size=vocab_size, config=config)
    rec = make_recommendation(params, tokens, seq_len=seq_len, vocab_size=vocab_size,
                              n_params_nonembedding=n_params_nonembedding, config=config, model=model_path,
                              active_params=active_params, n_params_active_nonembedding=n_params_active_nonembedding)
    table = comparison(rec)
    if as_json:
        _dump(table)
    else:
        click.echo(render_comparison(table))


def comparison(rec: Recommendation) -> dict:
    """The model's row beside each published law's, evaluated at the same (N, D, seq_len)."""
    chinchilla = LOSS_PRESETS["chinchilla"]
    target = Target(rec.n_params, rec.tokens, rec.seq_len, rec.n_layer, rec.d_model,
                    loss=chinchilla.loss(rec.n_params_total, rec.tokens),
                    loss_source=f"the Chinchilla loss law ({chinchilla.citation})")
    own_batch = rec.batch_source == "model"  # else a published law stood in: the model has no batch answer
    rows = [{
        "key": "model", "source": "this model", "citation": rec.source.get("path", ""),
        "formula": f"lr {rec.source.get('lr_form')}, batch {rec.source.get('batch_form')}",
        "lr": rec.lr, "lr_low": rec.lr_low, "lr_high": rec.lr_high,
        "batch_tokens": rec.batch_tokens if own_batch else None,
        "batch_tokens_low": rec.batch_tokens_low if own_batch else None,
        "batch_tokens_high": rec.batch_tokens_high if own_batch else None,
        "batch_seqs": rec.batch_tokens / rec.seq_len if own_batch else None,
        "lr_interval": rec.lr_interval, "batch_interval": rec.batch_interval if own_batch else None,
        "lr_informative": rec.lr_informative, "batch_informative": rec.batch_informative,
        "notes": [*_unknown_notes(rec), _extrapolation_line(rec), *(line.strip() for line in _interval_lines(rec))] + ([] if own_batch else [
            f"no batch size of its own: {rec.source.get('batch_unusable') or 'no batch law'}"]),
    }]
    moe = (["an MoE: the published laws (fitted on dense models) are read at the total non-embedding N; on Step "
             "Law's MoE cells the total reads them better than the active count (benchmarks/moe_validation.py)"]
           if rec.n_params_active < rec.n_params else [])
    for law in HYPERPARAMETER_LAWS.values():
        answer = law.evaluate(target)
        rows.append({
            "key": law.key, "source": law.name, "citation": law.citation, "formula": law.formula,
            "lr": answer.lr, "batch_tokens": answer.batch_tokens,
            "batch_seqs": answer.batch_tokens / rec.seq_len if answer.batch_tokens else None,
            "notes": [*answer.notes, *moe],
        })
    return {"n_params": rec.n_params, "n_params_active": rec.n_params_active, "n_params_laws": rec.n_params_laws, "n_params_total": rec.n_params_total, "tokens": rec.tokens,
            "tokens_source": rec.tokens_source, "seq_len": rec.seq_len, "flops": rec.flops, "rows": rows}


def _unknown_notes(rec: Recommendation) -> list[str]:
    """Why the model's row shows no LR or batch: its own verdict that the optimum is not known here."""
    what = unknown_text(rec)
    return [f"{what}: not known here, the 90% interval is too wide (the model's own verdict); the numbers in "
            "--json are its unreliable point"] if what else []


def render_comparison(table: dict) -> str:
    header = f"{'source':<16} {'peak LR':>15} {'batch tokens':>13} {'batch seqs':>11}  citation"
    active = table.get("n_params_active") or table["n_params"]
    moe = (f", {format_count(active)} active per token (the model's laws at N = {format_count(table['n_params_laws'])})"
           if active < table["n_params"] else "")
    lines = [f"LR and batch at N = {format_count(table['n_params'])} non-embedding{moe} "
             f"({format_count(table['n_params_total'])} total), D = {format_count(table['tokens'])} tokens "
             f"({table['tokens_source']}), seq_len {table['seq_len']}, C = {table['flops']:.3g}",
             "", header, "-" * len(header)]
    for r in table["rows"]:
        seqs = "—" if r["batch_seqs"] is None else f"{r['batch_seqs']:,.0f}"  # a count: 16,480, never 1.648e+04
        lr_cell, batch_cell = _lr(r["lr"]), _count(r["batch_tokens"])
        if not r.get("lr_informative", True):
            lr_cell = "not known"
        if not r.get("batch_informative", True):
            batch_cell, seqs = "not known", "—"
        lines.append(f"{r['source']:<16} {lr_cell:>15} {batch_cell:>13} {seqs:>11}  {r['citation']}")
        if r.get("lr_low") is not None:
            lr_band = f"{r['lr_low']:.2g}–{r['lr_high']:.2g}"
            batch_band = seq_band = "—"
            if r.get("batch_tokens_low") is not None:
                batch_band = f"{_count(r['batch_tokens_low'])}–{_count(r['batch_tokens_high'])}"
                seq_band = (f"{r['batch_tokens_low'] / table['seq_len']:,.0f}–"
                            f"{r['batch_tokens_high'] / table['seq_len']:,.0f}")
            lines.append(f"{'  90% interval':<16} {lr_band:>15} {batch_band:>13} {seq_band:>11}")
    lines += ["", "Notes:"]
    for r in table["rows"]:
        lines.append(f"  {r['source']}: {r['formula']}")
        lines.extend(f"      {n}" for n in r["notes"])
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- show


@click.command(cls=StyledCommand)
@click.argument("model_arg", required=False, metavar="[NAME|FILE]")
@click.option("--model", "model_path", metavar="NAME|FILE",
              help="The same as the argument: a shipped model's name or a fitted-model JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the artifact without bootstrap samples, "
              "plus coefficient intervals).")
@out_of_range
def show(model_arg, model_path, as_json):
    """Show what a fitted model is: provenance, fit ranges, laws, held-out errors.

    \b
    Examples:
      advisor show                      # the shipped default model
      advisor show cpu-default          # a shipped model by name (see `advisor sources`)
      advisor show runs/quick/model.json --json
    """
    if model_arg is not None and model_path is not None and model_arg != model_path:
        raise AdvisorError("give the model once: as the argument or with --model, not both")
    fitted, _ = load_source(model_arg if model_arg is not None else model_path, None)
    summary = describe_model(fitted)
    if as_json:
        _dump(summary)
    else:
        click.echo(render_model(summary))


def _coef_intervals(values, samples) -> list[list[float] | None]:
    if not samples:
        return [None] * len(values)
    columns = list(zip(*samples))
    return [[percentile(sorted(col), 5.0), percentile(sorted(col), 95.0)] for col in columns]


def _law_summary(fl) -> dict:
    names = ["log_a"] + [f"exp_{name}" for name in fl.law.inputs]
    return {
        "form": fl.law.form, "inputs": list(fl.law.inputs), "coef_names": names,
        "log_coef": list(fl.law.log_coef), "log_coef_90": _coef_intervals(fl.law.log_coef, fl.samples),
        "n_samples": len(fl.samples), "residual_sd": fl.residual_sd, "cv_log2_error": fl.cv_log2_error,
        "n_cells": fl.n_cells,
    }


def _penalty_summary(penalty) -> dict | None:
    """The penalty model without its bootstrap draws (their number instead)."""
    if penalty is None:
        return None
    return {**{k: v for k, v in penalty.to_json().items() if k != "samples"}, "n_samples": len(penalty.samples)}


def describe_model(fitted: FittedModel) -> dict:
    laws = {}
    for name, fl in (("lr", fitted.lr_), ("batch", fitted.batch_)):
        if fl is None:
            laws[name] = None
            continue
        laws[name] = _law_summary(fl)
        laws[name]["alternatives"] = [_law_summary(a) for a in fl.alternatives]
    laws["batch_unusable"] = fitted.batch_unusable_
    if fitted.loss_ is not None:
        law = fitted.loss_.law
        values = [law.E, law.A, law.alpha, law.B, law.beta]
        laws["loss"] = {"form": "E+A/N^alpha+B/D^beta", "param_names": ["E", "A", "alpha", "B", "beta"],
                        "values": values, "values_90": _coef_intervals(values, fitted.loss_.samples),
                        "n_samples": len(fitted.loss_.samples), "residual_sd": fitted.loss_.residual_sd,
                        "n_cells": fitted.loss_.n_cells}
    else:
        laws["loss"] = None
    return {"path": fitted.path, "schema": fitted.doc.get("schema"), "version": fitted.doc.get("version"),
            "created_at": fitted.doc.get("created_at"), "flops_formula": fitted.flops_formula,
            "provenance": fitted.provenance_, "fit_range": {k: list(v) for k, v in fitted.fit_range_.items()},
            "shipped": fitted.shipped_, "penalty": _penalty_summary(fitted.penalty_), "laws": laws, "validation": fitted.validation_, "n_cells": len(fitted.cells_),
            "warnings": fitted.warnings_}


def _g(x) -> str:
    if is_number(x):
        return f"{x:.3g}"
    return "n/a"


def _fmt_interval(pair) -> str:
    return "" if pair is None else f" [{pair[0]:.3g}, {pair[1]:.3g}]"


def _plain(value) -> str:
    """Provenance values as people write them: 'diverged 0, failed 0', '11.9K, 27.8K', not Python reprs."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return format_count(value)
    return str(value)


def _layers(n_layer: float) -> str:
    """Whole layers: the standard shape's n_layer = d_model/128 is an estimate, and no model has 32.5 layers."""
    return f"{max(1, round(n_layer))}"


def _provenance_lines(s: dict) -> list[str]:
    prov = s["provenance"]
    lines = [f"Shipped model {s['shipped']['name']}: {s['shipped']['description']}"] if s.get("shipped") else []
    lines += [f"Fitted model {s['path']} ({s['schema']} v{s['version']}, created {s['created_at']}, "
              f"C = {s['flops_formula']})", "Provenance:"]
    lines += [f"  {key:<14} {_plain(prov[key])}" for key in ("source", "table", "data_id", "tokenizer", "n_trials",
              "n_trials_used", "n_excluded", "n_cells", "bootstrap", "code_version") if key in prov]
    lines += [f"  {key:<14} " + ", ".join(f"{k} {_plain(v)}" for k, v in prov[key].items())
              for key in ("proxy", "optimizer", "schedule") if isinstance(prov.get(key), dict)]
    return lines + _setups_lines(prov) + [f"  note           {n}" for n in prov.get("notes") or []]


def _setups_lines(prov: dict) -> list[str]:
    """A cross-setup model: every setup its laws were fitted on (the lines above are the reference's alone)."""
    from advisor.fitted_setups import fitted_setups, setup_line

    rows = fitted_setups(prov)
    if not rows:
        return []
    ref = next((r["name"] for r in rows if r["reference"]), "?")
    return ([f"  setups         {setup_line(rows[0])}"] + [f"                 {setup_line(r)}" for r in rows[1:]]
            + [f"  note           table, proxy, optimizer, schedule, n_trials and n_cells above are the reference "
               f"setup {ref}'s; the LR and batch laws pool every setup listed (their cells and the fit range "
               f"below span them all)"])


def render_model(s: dict) -> str:
    lines = _provenance_lines(s)
    lines.append("Fit range:")
    for name, (lo, hi) in s["fit_range"].items():
        lines.append(f"  {name:<14} {lo:.3g} – {hi:.3g}")
    lines.append("Laws (log y = log a + Σ exponent·log x; 90% bootstrap intervals in brackets):")
    for name in ("lr", "batch"):
        law = s["laws"][name]
        if law is None:
            lines.append(f"  {name:<6} none")
            continue
        coefs = ", ".join(f"{n} {v:.4g}{_fmt_interval(ci)}"
                          for n, v, ci in zip(law["coef_names"], law["log_coef"], law["log_coef_90"]))
        cv = "n/a" if law["cv_log2_error"] is None else f"{law['cv_log2_error']:.3g}"
        lines.append(f"  {name:<6} {law['form']}: {coefs}; residual sd {law['residual_sd']:.3g}, "
                     f"CV |log2 err| {cv}, {law['n_cells']} cells, {law['n_samples']} bootstrap draws")
        for alt in law["alternatives"]:
            cv = "n/a" if alt["cv_log2_error"] is None else f"{alt['cv_log2_error']:.3g}"
            lines.append(f"         alternative {alt['form']}: CV |log2 err| {cv}")
    if s["laws"].get("batch_unusable"):
        lines.append(f"         not used for advice: {s['laws']['batch_unusable']}; "
                     "the advisor takes the batch size from DeepSeek LLM's law instead")
    loss = s["laws"]["loss"]
    if loss:
        vals = ", ".join(f"{n} {v:.4g}{_fmt_interval(ci)}"
                         for n, v, ci in zip(loss["param_names"], loss["values"], loss["values_90"]))
        lines.append(f"  loss   {loss['form']}: {vals}; residual sd {loss['residual_sd']:.3g} nats")
    else:
        lines.append("  loss   none (could not be fitted): compute-optimal defaults fall back to 20 tokens/param")
    lines.append("Validation:")
    held = s["validation"].get("held_out_largest")
    if isinstance(held, dict):
        lines.append(f"  held out largest N ({_g(held.get('n_params'))}): |log2 err| LR "
                     f"{_g(held.get('lr_log2_error'))}, batch {_g(held.get('batch_log2_error'))}; "
                     f"loss regret {_g(held.get('loss_regret_pct'))}%")
    loo = s["validation"].get("leave_one_cell_out")
    if isinstance(loo, dict):
        lines.append(f"  leave one cell out: |log2 err| LR {_g(loo.get('lr_log2_error'))}, "
                     f"batch {_g(loo.get('batch_log2_error'))}; loss regret {_g(loo.get('loss_regret_pct'))}%")
    lines.extend(f"  {line}" for line in coverage_lines(s["validation"].get("coverage")))
    from advisor.penalty import PenaltyModel, validation_lines  # only `show` needs them

    lines.extend(f"  {line}" for line in validation_lines(PenaltyModel.from_json(s["penalty"]) if s.get("penalty") else None))
    if not held and not loo:
        lines.append("  none recorded")
    if s["warnings"]:
        lines.append("Warnings:")
        lines.extend(f"  - {w}" for w in s["warnings"])
    return "\n".join(lines)
