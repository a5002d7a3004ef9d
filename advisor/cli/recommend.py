"""`advisor recommend`: the answer for a target, short or with --explain, as text or JSON."""
from __future__ import annotations

from functools import partial

import click

from advisor.cli.options import TARGET_OPTIONS, add_options, config_option, config_target, need_size
from advisor.cli.plotting import plot_options, refuse_plot_clobbering, write_penalty_map
from advisor.cli.style import (Quantity, StyledCommand, count_or_dash, dump_json, grouped, grouped_or_four_digits,
                               hidden_alias, out_of_range, three_digits, whole_layers)
from advisor.laws import RECOMMEND_LAWS, batch_label
from advisor.errors import AdvisorError
from advisor.answer_source import AnswerSource
from advisor.recipe import Recommendation, load_source
from advisor.target import DEFAULT_SEQ_LEN
from advisor.recipe import recommend as make_recommendation
from advisor.answer_text import UNINFORMATIVE_RATIO
from advisor.short_answer import render_short, uninformative_lines
from advisor.units import format_count
from advisor.unknown_optimum import assumed_note



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
@add_options(TARGET_OPTIONS[:1])
@click.option("--tokens", type=Quantity(), help="Training tokens, e.g. 2T, 300B. Default: compute-optimal for N "
              "under the model's loss law (else 20 per parameter).")
@click.option("--tokens-per-param", type=Quantity(), help="Training tokens per (total) parameter, e.g. 20.")
@add_options(TARGET_OPTIONS[1:])
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
    need_size(params, n_params_nonembedding, config)
    refuse_plot_clobbering(plot_path, force, {"--config": config}, model=model_path)
    seq_len, vocab_size = config_target(config, seq_len, vocab_size)
    if optimizer is not None:  # Marin's laws for that optimizer: options that pick other laws do not apply
        conflicts = dict(model=model_path, hp_law=hp_law, tau_frac=tau_frac, plot=plot_path,
                         active_params=active_params, active_nonembedding=n_params_active_nonembedding,
                         batch=fixed_batch, lr=fixed_lr, batch_ramp=batch_ramp, max_batch=max_batch,
                         schedule=schedule, decay_frac=decay_frac, setup=setup)
        from advisor.cli.optimizer import recommend_command

        return recommend_command(optimizer, as_json, explain=explain, conflicts=conflicts, params=params,
                                 tokens=tokens, tokens_per_param=tokens_per_param, config=config,
                                 n_params_nonembedding=n_params_nonembedding, seq_len=seq_len or DEFAULT_SEQ_LEN,
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
        dump_json(rec.to_dict())
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
    from advisor.schedules import scheduled_ramp

    if not batch_ramp:
        raise AdvisorError("--max-batch goes with --batch-ramp")
    if start is not None:  # --batch is the batch you train at, as elsewhere: with a ramp, the batch it ends at
        if max_batch is not None:
            raise AdvisorError("with --batch-ramp, --batch is the batch the ramp ends at, as --max-batch: give one of them")
        start, max_batch = None, start
    rec, ramp = recommend_with_ramp(params, tokens, start_batch=start, max_batch=max_batch, lr=lr, **target)
    if schedule[0] is not None:
        rec, ramp = scheduled_ramp(rec, ramp, *schedule)
    if as_json:
        dump_json({**rec.to_dict(), "batch_ramp": ramp})
    else:
        click.echo("\n".join([_answer_text(rec, explain), *ramp_lines(ramp, rec.seq_len)]))


def _plot_recommendation(rec: Recommendation, model_path, path: str) -> None:
    if rec.source.kind != "model":
        raise AdvisorError("--plot needs a fitted model with a penalty model (refit older models with `advisor fit`)")
    fitted, _ = load_source(rec.source.path if model_path is None else model_path, None)
    if fitted.penalty_ is None:
        raise AdvisorError("--plot needs a fitted model with a penalty model (refit older models with `advisor fit`)")
    write_penalty_map(fitted.penalty_, rec.n_params_laws or rec.n_params, rec.tokens, rec.lr, rec.batch_tokens,
                      {"recommended (rounded batch)": (rec.lr, rec.batch_tokens_rounded)}, path)


def render_recommendation(rec: Recommendation) -> str:
    from advisor.answer_lines import extrapolation_line  # the long answer only: the short one starts lighter

    lines = _caution(rec)
    lines += [
        *_target_lines(rec),
        f"  tokens       {format_count(rec.tokens)} — {rec.tokens_source}; "
        f"{rec.tokens_per_param:.3g} tokens per parameter",
        f"  compute      C = {rec.flops:.3g} FLOPs: {rec.flops_formula}",
        "",
        *(_optimum_lines(rec) if rec.constraint is None else _constrained_lines(rec)),
        f"  steps        {grouped(rec.steps)}",
        *([f"  assumed      {assumed_note(rec)}"] if rec.assumed else []),
        f"  warmup       {grouped(rec.warmup_steps)} steps ({format_count(rec.warmup_tokens)} tokens): {rec.rules['warmup']}",
        f"  schedule     {rec.schedule}, final LR " + (f"{rec.final_lr:.3g} ({rec.final_lr_frac:.3g}× peak)"
                                                     if rec.final_lr > 0 else "0"),
        *_schedule_lines(rec),
        f"  AdamW        β1 {rec.beta1:g}, β2 {rec.beta2:.4g}, ε {rec.eps:g}, weight decay {rec.weight_decay:.3g}",
        f"               β2 rule: {rec.rules['beta2']}",
        f"               weight decay rule: {rec.rules['weight_decay']}; τ = 1/(ηλ) = {rec.tau_frac:.3g}× the training steps",
        f"  grad clip    {rec.grad_clip:g} (max global norm)",
        "",
        extrapolation_line(rec),
        *_setups_line(rec),
        _source_line(rec.source),
    ]
    if rec.warnings:
        lines.append("Warnings:")
        lines.extend(f"  - {w}" for w in rec.warnings)
    return "\n".join(lines)


def _optimum_lines(rec: Recommendation) -> list[str]:
    from advisor.answer_lines import interval_lines

    seq = rec.seq_len
    return [*_headline(rec, "lr", [f"  peak LR      {rec.lr:.3g}   ({_lr_interval(rec)})"]),
            *_headline(rec, "batch", [
                f"  batch        {grouped(rec.batch_seqs)} sequences × {grouped(seq)} = "
                f"{format_count(rec.batch_tokens_rounded)} tokens   ({_batch_origin(rec)} {format_count(rec.batch_tokens)} "
                f"tokens = {grouped_or_four_digits(rec.batch_tokens / seq)} "
                f"sequences{_batch_interval(rec)})"]),
            *interval_lines(rec), *_tolerance_lines(rec)]


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


def _moe_shift_text(rec: Recommendation, shift: dict | None) -> str:
    """What the points actually come from when the total lies outside the measured totals."""
    if not shift:
        return ""
    moved = [f"{label} ×{shift[law]['point_factor']:.3g} (that reading: {fmt(shift[law]['alternative'])})"
             for law, label, fmt in (("lr", "LR", three_digits), ("batch", "batch", count_or_dash)) if law in shift]
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
                f"d_model ≈ {rec.d_model:.0f}, n_layer ≈ {whole_layers(rec.n_layer)}: {src['moe']['rule']})",
                f"  N for laws   {format_count(rec.n_params_laws)}: {src['moe'].get('laws_rule', '')}"
                f"{_moe_shift_text(rec, src['moe'].get('total_shift'))}"]
    if src.get("kind") != "config":
        return [f"Target: N = {format_count(rec.n_params)} non-embedding parameters ({format_count(rec.n_params_total)} "
                f"total with vocab {rec.vocab_size}; d_model ≈ {rec.d_model:.0f}, n_layer ≈ {whole_layers(rec.n_layer)} "
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
    return [f"  tolerance    LR {three_digits(lr['0.25'][0])} – {three_digits(lr['0.25'][1])} costs at most 0.25% in loss "
            f"({three_digits(lr['1'][0])} – {three_digits(lr['1'][1])}: 1%); batch {count_or_dash(batch['0.25'][0])} – "
            f"{count_or_dash(batch['0.25'][1])} at most 0.25% ({count_or_dash(batch['1'][0])} – {count_or_dash(batch['1'][1])}: 1%)",
            f"               the rounded batch ({count_or_dash(rounded['batch_tokens'])} tokens) costs "
            f"{rounded['penalty_pct']:.2f}% [{rounded['penalty_pct_low']:.2f}–{rounded['penalty_pct_high']:.2f}]{held}"]


def _batch_origin(rec: Recommendation) -> str:
    return "law optimum" if rec.batch_source == "model" else f"{rec.batch_source[4:]} law's {batch_label(rec.batch_source)}"


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


def _setups_line(rec: Recommendation) -> list[str]:
    from advisor.setup_answer import line

    text = line(rec.setups)
    return [text] if text else []


def _source_line(src: AnswerSource) -> str:
    if src.kind == "law":
        return f"Source: {src.name} ({src.citation}): {src.formula}"
    setups = src.setups or []
    counted = [s for s in setups if s["n_trials"] is not None]  # a cross-setup fit: each setup's counts
    counts = ("n_trials_used", "n_cells") if not counted else ()
    bits = [f"{k} {getattr(src, k)}" for k in ("source", "tokenizer", *counts, "code_version", "created_at")
            if getattr(src, k) is not None]
    if counted:
        bits.insert(2, "fitted on " + ", ".join(f"{s['name']} ({s['n_trials']:,} runs, {s['n_cells']} cells)"
                                                for s in counted))
    elif setups:  # your table anchored on sources (`advisor fit --with`): their counts are not recorded
        bits.insert(2 + len(counts), "anchored on " + ", ".join(s["name"] for s in setups))
    batch = f"{src.batch_form} (not used: a bound)" if src.batch_unusable else src.batch_form
    line = f"Model: {src.path} ({', '.join(bits)}); laws: lr {src.lr_form}, batch {batch}"
    if src.name:  # a shipped model: say what it rests on first
        line = f"Source: {src.name}, {src.description}\n{line}"
    return line


