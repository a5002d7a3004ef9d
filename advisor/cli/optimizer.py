"""The text of `recommend --optimizer NAME` and `check --optimizer NAME` (advisor/optimizer_recipe.py)."""
from __future__ import annotations

import math

from advisor import optimizers as opt
from advisor.comparison import optimizer_comparison
from advisor.optimizer_recipe import KNOB_NAMES, optimizer_check, optimizer_recommend
from advisor.errors import AdvisorError
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
    if c["n"] == 1:
        return f"+{c['median']:.2f}% (1 cell)"
    return f"+{c['median']:.2f}% (median of {c['n']} cells: {c['min']:.2f}%–{hi})"


def _step(cost: dict) -> str:
    parts = []
    for side, label in (("down", "a step down"), ("up", "up")):
        c = cost.get(side)
        parts.append(f"{label} {_pct(c)}" if c else f"{label} not measured")
    if cost.get("diverged_neighbours"):
        parts.append(f"{cost['diverged_neighbours']} neighbour run(s) diverged")
    return "; ".join(parts)


def _value(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def render_recommendation(a: dict, explain: bool = True) -> str:
    """The answer for one optimizer; `explain=False` is the short form: the LR and batch with their intervals,
    the LR convention, steps and each knob's value on one line (step costs, cliff and tolerance: --explain)."""
    lr, b = a["lr"], a["batch"]
    head = [f"optimizer {a['optimizer']} — {SOURCE}", *(f"  ! {w}" for w in a["warnings"]), "",
            f"  target       N = {format_count(a['n_params'])} non-embedding ({format_count(a['n_params_total'])} "
            f"total), D = {format_count(a['tokens'])} tokens ({a['tokens_source']})",
            f"  peak LR      {lr['value']:.3g}   (90% interval {lr['low']:.3g}–{lr['high']:.3g}; "
            f"{opt.LAW_KINDS[lr['kind']]})", *([f"               {a['convention']}"] if "convention" in a else [])]
    batch = (f"  batch        {a['batch_seqs']:,} sequences × {a['seq_len']:,} = "
             f"{format_count(a['batch_seqs'] * a['seq_len'])} tokens   (law: {format_count(b['value'])} tokens, "
             f"90% {format_count(b['low'])}–{format_count(b['high'])}; {opt.LAW_KINDS[b['kind']]})")
    steps = f"  steps        {a['steps']:,}"
    if not explain:
        return "\n".join(_wrapped([*head, batch, steps]) + _short_knob_lines(a["knobs"]))
    lines = [*head,
             f"               a 2× LR step costs: down {_pct(a['lr_step_cost']['down'])}; up {_pct(a['lr_step_cost']['up'])}",
             *_cliff_lines(a["cliff"]), batch, f"               a 2× batch step: {_step(a['batch_step_cost'])}",
             *_tolerance_lines(a), steps, "",
             "  other knobs: the measured optimum at the nearest cell that profiled it (≤/≥: on the grid's edge, a "
             "bound; *: a value Marin carried, not profiled there); the loss cost of one grid step:"]
    for knob, k in a["knobs"].items():
        if k.get("value") is not None:
            lines += _knob_lines(knob, k)
    if a["optimizer"] == "adamw":
        lines += ["", *adamw_rule_lines(opt.summary("adamw"))]
    return "\n".join(lines)


def _wrapped(lines: list[str], width: int = 100) -> list[str]:
    """The short form fits 100 columns: a long line continues under itself, indented."""
    import textwrap

    out = []
    for line in lines:
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        out += textwrap.wrap(line, width, subsequent_indent=indent) if len(line) > width else [line]
    return out


def _short_knob_lines(knobs: dict) -> list[str]:
    """Every other knob's measured optimum on one line (≤/≥: a bound at the grid's edge); --explain gives the
    cell it comes from, how it moved across cells and the cost of a step."""
    mark = {"low": "≤", "high": "≥"}
    shown = [f"{KNOB_NAMES.get(knob, knob)} {_value(k['value'])}{mark.get(k.get('edge'), '')}"
             for knob, k in knobs.items() if k.get("value") is not None]
    import textwrap

    return [*textwrap.wrap(", ".join(shown), 100, initial_indent="  knobs        ", subsequent_indent=" " * 15),
            "More: --explain (each knob's cells and step cost, the cliff, the tolerance) or --json"]


def _knob_lines(knob: str, k: dict) -> list[str]:
    """One line per knob (value, where from, step cost), and a second with its value per cell when it moved."""
    cell = f"{format_count(k['cell'][0])} {k['cell'][1]:g}×" if k.get("cell") else "—"
    mark = {"low": " (≤, a bound)", "high": " (≥, a bound)"}.get(k.get("edge"), "")
    ran = k.get("marin_ran")
    ran = f"; Marin ran {_value(ran['value'])} at {format_count(ran['cell'][0])} {ran['cell'][1]:g}×" if ran else ""
    cost = f"; {_step(k['step_cost'])}" if k["step_cost"]["down"] or k["step_cost"]["up"] else ""
    same = k.get("same_everywhere")
    line = f"    {KNOB_NAMES.get(knob, knob):26s} {_value(k['value'])}{mark}  from {cell}{ran}{cost}"
    if same:
        return [line + f"; the same at all {same} cells"]
    return [line, f"      by size @ budget: {k['moves']}"]


def _tolerance_lines(a: dict) -> list[str]:
    """The LR and batch ranges whose median loss cost over Marin's profiles stays within 0.25% and 1%
    (the profiles measure a limited span: a range that reaches its end is open there)."""
    out = []
    for law, value in (("lr", a["lr"]["value"]), ("batch", a["batch"]["value"])):
        parts = []
        for pct, span in a["tolerance"][law].items():
            if span is None:
                continue
            lo, hi = value * 2 ** span[0], value * 2 ** span[1]
            show = (lambda x: f"{x:.3g}") if law == "lr" else format_count
            parts.append(f"≤{pct}%: {show(lo)}–{show(hi)}")
        if parts:
            out.append(f"  tolerance    {'LR' if law == 'lr' else 'batch'} {'; '.join(parts)} (median over the cells' profiles)")
    return out


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


OPTION_NAMES = {"model": "--model", "hp_law": "--hp-law", "tau_frac": "--tau-frac", "plot": "--plot",
                "active_params": "--active-params", "active_nonembedding": "--n-params-active-nonembedding",
                "configs": "--configs", "batch_seqs": "--batch-seqs", "loss_law": "--loss-law",
                "batch": "--batch", "lr": "--lr", "batch_ramp": "--batch-ramp", "max_batch": "--max-batch",
                "schedule": "--schedule", "decay_frac": "--decay-frac", "setup": "--setup"}


def refuse_with_optimizer(conflicts: dict) -> None:
    """Options that choose another source of laws (or an MoE) do not mix with --optimizer: bad input."""
    given = [OPTION_NAMES[k] for k, v in conflicts.items() if v is not None and v is not False]
    if given:
        raise AdvisorError(f"{given[0]} does not go with --optimizer (the optimizer's laws come from Marin's dense "
                           "sweep, data/optimizers/marin.json)")


def jsonable(obj):
    """Loss costs past a diverged run are infinite: "diverged" in JSON (strict JSON has no Infinity)."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return "diverged" if isinstance(obj, float) and obj == math.inf else obj


def print_result(result: dict, as_json: bool, render) -> None:
    """An optimizer's answer as strict JSON (--json) or as text, `render(result)`."""
    import click

    from advisor.cli.style import dump_json

    if as_json:
        dump_json(jsonable(result))
    else:
        click.echo(render(result))


def recommend_command(name: str, as_json: bool, conflicts: dict, explain: bool = True, **target) -> None:
    refuse_with_optimizer(conflicts)
    print_result(optimizer_recommend(name, **target), as_json, lambda answer: render_recommendation(answer, explain))


def check_command(name: str, as_json: bool, conflicts: dict, **kw) -> None:
    refuse_with_optimizer(conflicts)
    print_result(optimizer_check(name, **kw), as_json, render_check)


NO_MARIN_FIT = ("Marin's own hyper_scaling fit (hp = A·N^B·(Chinchilla multiple)^C + D) for this optimizer: not shown — "
                "we could read its recorded predictions only for adamw and muon, and no file holds the coefficients. "
                "Shown: the configurations Marin ran at sizes beyond this fit's cells (one run per cell, not tuned).")


def render_comparison(t: dict) -> str:
    lr = t["law"]["lr"]
    a, al, be = lr["coef"]
    lines = [f"optimizer {t['optimizer']} at N = {format_count(t['target']['n_params'])}, "
             f"D = {format_count(t['target']['tokens'])} — {SOURCE}",
             f"  LR law ({opt.LAW_KINDS[lr['kind']]}): LR = {math.exp(a):.4g} · N^{al:.3f} · D^{be:.3f}", "",
             f"  {'source':44s} {'peak LR [90%]':>26s} {'batch tokens [90%]':>26s}"]
    for r in t["rows"]:
        lines.append(f"  {r['name']:44s} {r['lr']['value']:9.3g} [{r['lr']['low']:.3g}, {r['lr']['high']:.3g}]".ljust(74)
                     + f" {format_count(r['batch']['value']):>8s} [{format_count(r['batch']['low'])}, "
                       f"{format_count(r['batch']['high'])}]")
    if t["convention"]:
        lines.append(f"  {t['convention']}")
    fit = t["marin_fit"]
    if fit:
        err = fit["relative_error_520m_8x"]
        lines += ["", f"  Marin's own fit (hyper_scaling.py; {fit['file']} @ {fit['commit'][:10]}): A·N^B·(multiple)^C + D "
                      "per hyperparameter; the repository records its 1.2B predictions, not A, B, C, D; its relative "
                      f"error on the held-out 520M 8× cell: LR {err['learning_rate']:.2f}, batch "
                      f"{err['train_batch_size']:.2f}"]
    else:
        lines += ["", f"  {NO_MARIN_FIT}"]
    for r in t["beyond_fit"]:
        marin = (f"; Marin's fit: LR {r['lr_marin_fit']:.3g}, batch {format_count(r['batch_tokens_marin_fit'])}"
                 if r["lr_marin_fit"] is not None else "")
        lines.append(f"    {format_count(r['n_params'])} {r['multiple']:g}×: Marin ran LR {r['lr_run']:.3g}, batch "
                     f"{format_count(r['batch_tokens_run'])}; this law: LR {r['lr_law']:.3g}, batch "
                     f"{format_count(r['batch_tokens_law'])}{marin}")
    return "\n".join(lines)


def compare_command(name: str, as_json: bool, conflicts: dict, **target) -> None:
    refuse_with_optimizer(conflicts)
    print_result(optimizer_comparison(name, **target), as_json, render_comparison)


def plan_addendum(name: str, plan, **conflicts) -> tuple[dict, str]:
    """The optimizer's recipe at the plan's N and D (JSON and text). The plan's own recipe and memory
    stay AdamW's (fp32 master + 2 moments); Muon keeps one moment on its hidden matrices."""
    refuse_with_optimizer({"hp_law": conflicts.get("hp_law"), "active_params": conflicts.get("active_params"),
                           "active_nonembedding": conflicts.get("active_nonembedding")})
    answer = optimizer_recommend(name, n_params_nonembedding=plan.n_params, tokens=plan.tokens,
                                 seq_len=plan.recommendation.seq_len)
    note = ("  (the plan above is AdamW's: its memory counts fp32 master + 2 moments; Muon keeps one moment on "
            "the hidden matrices, about 4 bytes per parameter less there)" if name == "muon" else "")
    return answer, f"with --optimizer {name}:\n" + render_recommendation(answer) + (f"\n{note}" if note else "")
