"""The AdamW recipe's rules (advisor/rules.py) checked against Marin's measured AdamW optima.

At each Marin AdamW cell whose 1-D profile measured the knob: what the rule would set there (from the
cell's N, D, tuned batch and LR) against the measured optimum, agreeing when the rule's value lies within
one step of Marin's grid around the optimum (or beyond an edge optimum, on the bound's side).

- β2 (rules.beta2_rule);
- warmup: N tokens, at most WARMUP_MAX_FRAC of the steps (rules.RECIPE_RULES["warmup"]);
- weight decay by the τ rule, λ = 1/(τ_frac·η·steps) at rules.DEFAULT_TAU_FRAC.
"""
from __future__ import annotations

from advisor.rules import DEFAULT_TAU_FRAC, WARMUP_MAX_FRAC, beta2_rule

SEQ_LEN = 4096


def rule_values(cell: dict) -> dict:
    """The three rules' values at a Marin cell (its N, D, tuned batch and LR)."""
    tuned = cell["tuned"]
    batch_tokens = tuned["batch_seqs"] * SEQ_LEN
    steps = cell["tokens"] / batch_tokens
    return {"beta2": beta2_rule(batch_tokens),
            "warmup_steps": min(cell["n_params"] / batch_tokens, WARMUP_MAX_FRAC * steps),
            "weight_decay": 1.0 / (DEFAULT_TAU_FRAC * tuned["lr"] * steps)}


def agrees(rule: float, optimum: float, edge: str | None, grid: list) -> bool:
    """Within one grid step of the optimum; beyond an edge optimum on the bound's side counts as agreeing."""
    if edge == "high" and rule >= optimum or edge == "low" and rule <= optimum:
        return True
    below = [g for g in grid if g < optimum]
    above = [g for g in grid if g > optimum]
    lo = max(below) if below else optimum
    hi = min(above) if above else optimum
    return lo <= rule <= hi


def check_rules(adamw: dict) -> list[dict]:
    """Per rule: cells compared, how many agree, and the rule's and Marin's values at each."""
    cells = {(c["n_params"], c["multiple"]): c for c in adamw["cells"]}
    out = []
    for knob in ("beta2", "warmup_steps", "weight_decay"):
        summary = adamw["knobs"].get(knob)
        rows = []
        for n, mult, _, optimum, edge in (summary or {}).get("by_cell", []):
            if optimum is None or (n, mult) not in cells:
                continue
            rule = rule_values(cells[(n, mult)])[knob]
            rows.append({"cell": [n, mult], "rule": rule, "optimum": optimum, "edge": edge,
                         "agrees": agrees(rule, optimum, edge, summary["grid"])})
        out.append({"knob": knob, "cells": rows, "agree": sum(r["agrees"] for r in rows)})
    return out


def adamw_rule_lines(adamw: dict) -> list[str]:
    """Text: each rule's agreement with Marin's AdamW optima, and where they disagree."""
    names = {"beta2": "β2 rule 0.95^(B/4M)", "warmup_steps": "warmup rule (N tokens)",
             "weight_decay": f"weight decay τ rule (τ_frac {DEFAULT_TAU_FRAC:g})"}
    lines = ["  the AdamW recipe's rules against Marin's measured AdamW optima:"]
    for r in check_rules(adamw):
        if not r["cells"]:
            lines.append(f"    {names[r['knob']]}: no cell measured it")
            continue
        bad = [c for c in r["cells"] if not c["agrees"]]
        lines.append(f"    {names[r['knob']]}: agrees at {r['agree']} of {len(r['cells'])} cells (within one grid step)")
        for c in bad[:4]:
            mark = {"low": "≤", "high": "≥"}.get(c["edge"], "")
            lines.append(f"      disagrees at {c['cell'][0] / 1e6:.0f}M {c['cell'][1]:g}×: rule {c['rule']:.3g}, "
                         f"Marin {mark}{c['optimum']:.3g}")
    return lines
