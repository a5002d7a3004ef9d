"""The text of `recommend --optimizer NAME` and `check --optimizer NAME` (advisor/optimizer_recipe.py)."""
from __future__ import annotations

import math

from advisor import optimizers as opt
from advisor.optimizer_recipe import KNOB_NAMES, optimizer_check, optimizer_recommend
from advisor.recipe import AdvisorError
from advisor.rules_check import adamw_rule_lines
from advisor.units import format_count

SOURCE = ("Marin's optimizer sweep (Wen et al. 2025, arXiv 2509.02046): coordinate descent at 130M-1.2B, "
          "1-16× Chinchilla, seq 4096, Llama-3 tokenizer, DCLM mix; laws in data/optimizers/marin.json")


def _pct(c: dict | None) -> str:
    if not c or not c.get("n"):
        return "not measured"
    if c["median"] == math.inf:
        return "diverged"
    hi = "diverged" if c["max"] == math.inf else f"{c['max']:.2f}%"
    return f"+{c['median']:.2f}% (median of {c['n']} cells, {c['min']:.2f}%–{hi})"


def _step(cost: dict) -> str:
    parts = []
    for side, label in (("down", "one grid step down"), ("up", "up")):
        c = cost.get(side)
        parts.append(f"{label} {_pct(c)}" if c else f"{label} not measured")
    if cost.get("diverged_neighbours"):
        parts.append(f"{cost['diverged_neighbours']} neighbour run(s) diverged")
    return "; ".join(parts)


def _value(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def render_recommendation(a: dict) -> str:
    lr, b = a["lr"], a["batch"]
    lines = [f"optimizer {a['optimizer']} — {SOURCE}", *(f"  ! {w}" for w in a["warnings"]), "",
             f"  target       N = {format_count(a['n_params'])} non-embedding ({format_count(a['n_params_total'])} total), "
             f"D = {format_count(a['tokens'])} tokens ({a['tokens_source']})",
             f"  peak LR      {lr['value']:.3g}   (90% interval {lr['low']:.3g}–{lr['high']:.3g}; "
             f"{opt.LAW_KINDS[lr['kind']]})"]
    if "convention" in a:
        lines.append(f"               {a['convention']}")
    lines += [f"               a 2× LR step costs: down {_pct(a['lr_step_cost']['down'])}; up {_pct(a['lr_step_cost']['up'])}",
              *_cliff_lines(a["cliff"]),
              f"  batch        {a['batch_seqs']:,} sequences × {a['seq_len']} = "
              f"{format_count(a['batch_seqs'] * a['seq_len'])} tokens   (law: {format_count(b['value'])} tokens, "
              f"90% {format_count(b['low'])}–{format_count(b['high'])}; {opt.LAW_KINDS[b['kind']]})",
              f"               a 2× batch step: {_step(a['batch_step_cost'])}",
              f"  steps        {a['steps']:,}", "",
              "  other knobs (measured optimum at the nearest tuned cell; ≤/≥ = on the grid's edge, a bound; "
              "* = tuned value, not profiled there):"]
    for knob, k in a["knobs"].items():
        if k.get("value") is None:
            continue
        cell = f"{format_count(k['cell'][0])} {k['cell'][1]:g}×" if k.get("cell") else "—"
        mark = {"low": " (≤, a bound)", "high": " (≥, a bound)"}.get(k.get("edge"), "")
        lines.append(f"    {KNOB_NAMES.get(knob, knob):26s} {_value(k['value'])}{mark}   from {cell}")
        lines.append(f"      across cells: {k['moves']}")
        if k["step_cost"]["down"] or k["step_cost"]["up"]:
            lines.append(f"      cost: {_step(k['step_cost'])}")
    if a["optimizer"] == "adamw":
        lines += ["", *adamw_rule_lines(opt.summary("adamw"))]
    return "\n".join(lines)


def _cliff_lines(cliff: dict | None) -> list[str]:
    if cliff is None:
        return ["               no divergence cliff in Marin's LR profiles of this optimizer"]
    cells = ", ".join(f"{format_count(n)} {m:g}×" for n, m in cliff["cells"])
    return [f"               cliff: {cliff['steps']:g} 2× step(s) above the best LR the loss jumped ≥5% or the run "
            f"diverged ({cells}; nearest of {cliff['of']} profiles)"]


def render_check(c: dict) -> str:
    a = c["recommended"]
    lo, mid, hi = c["lr_cost"]
    s_lo, s_hi = c["lr_steps_range"]
    lines = [f"optimizer {c['optimizer']} — {SOURCE}", *(f"  ! {w}" for w in a["warnings"]),
             f"  your LR      {c['lr']:.3g}: {c['lr_steps_from_optimum']:+.2f} 2× steps from the predicted optimum "
             f"{a['lr']['value']:.3g} (from {s_lo:+.2f} to {s_hi:+.2f} over its 90% interval "
             f"{a['lr']['low']:.3g}–{a['lr']['high']:.3g})"]
    if "convention" in a:
        lines.append(f"               {a['convention']}")
    lines.append(f"  predicted cost  {_pct(mid)}; over the interval {_pct(lo)} to {_pct(hi)}")
    if c["risk"]:
        lines.append(f"  RISK: within half a 2× step of the divergence cliff Marin's {c['optimizer']} profiles show "
                     f"({c['cliff']['steps']:g} steps above the best LR at "
                     f"{', '.join(f'{format_count(n)} {m:g}×' for n, m in c['cliff']['cells'])}); "
                     f"lower the LR to {a['lr']['low']:.3g}–{a['lr']['value']:.3g}")
    else:
        lines.append("  risk: not flagged (your LR is at or below the predicted optimum, or over its interval stays "
                     "more than half a 2× step below the nearest cliff in Marin's profiles)")
    if "batch" in c:
        lines.append(f"  your batch   {format_count(c['batch'])} tokens: {c['batch_steps_from_optimum']:+.2f} 2× steps "
                     f"from the law's {format_count(a['batch']['value'])}; cost {_pct(c['batch_cost'])}")
    for knob in ("weight_decay", "momentum"):
        if knob in c:
            lines.append(f"  {KNOB_NAMES[knob]:12s} {c[knob]:g}: cost {_pct(c[knob + '_cost'])} "
                         f"(Marin's optimum at the nearest cell: {_value(a['knobs'][knob]['value'])})")
    return "\n".join(lines)


def recommend_text(name: str, **target) -> str:
    return render_recommendation(optimizer_recommend(name, **target))


def check_text(name: str, **kw) -> str:
    return render_check(optimizer_check(name, **kw))


OPTION_NAMES = {"model": "--model", "hp_law": "--hp-law", "tau_frac": "--tau-frac", "plot": "--plot",
                "active_params": "--active-params", "active_nonembedding": "--n-params-active-nonembedding",
                "configs": "--configs", "batch_seqs": "--batch-seqs", "loss_law": "--loss-law"}


def refuse_with_optimizer(conflicts: dict) -> None:
    """Options that choose another source of laws (or an MoE) do not mix with --optimizer: bad input."""
    given = [OPTION_NAMES[k] for k, v in conflicts.items() if v is not None and v is not False]
    if given:
        raise AdvisorError(f"{given[0]} does not go with --optimizer (the optimizer's laws come from Marin's dense "
                           "sweep, data/optimizers/marin.json)")


def recommend_command(name: str, as_json: bool, conflicts: dict, **target) -> None:
    import click

    refuse_with_optimizer(conflicts)
    answer = optimizer_recommend(name, **target)
    if as_json:
        from advisor.cli_advice import _dump

        _dump(answer)
    else:
        click.echo(render_recommendation(answer))


def check_command(name: str, as_json: bool, conflicts: dict, **kw) -> None:
    import click

    refuse_with_optimizer(conflicts)
    out = optimizer_check(name, **kw)
    if as_json:
        from advisor.cli_advice import _dump

        _dump(out)
    else:
        click.echo(render_check(out))
