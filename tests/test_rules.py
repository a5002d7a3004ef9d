"""advisor/rules.py: the recipe's rules as a registry, checked against docs/advisor.md so the two cannot drift."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from advisor import shape as shapes
from advisor.practice import WARMUP_FLOOR_FRAC, WARMUP_FLOOR_STEPS
from advisor.rules import (BETA2_ANCHOR, BETA2_RANGE, DEFAULT_FINAL_LR_FRAC, OPTIMIZER_DEFAULTS, RECIPE_RULES,
                           WARMUP_MAX_FRAC, beta2_rule, rule_texts)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "advisor.md"
ARXIV = re.compile(r"\d{4}\.\d{4,5}")
# Rows of the table that are conventions computed elsewhere, not recipe rules: the token budget and C
# (advisor/target.py, advisor/shape.py) and `plan`'s own (advisor/planning.py).
NOT_RECIPE_RULES = {"tokens (default)", "C", "plan's budget", "memory / GPU"}


def doc_rows() -> dict[str, tuple[str, str]]:
    """docs/advisor.md's table of conventions and rules: first cell -> (rule, source)."""
    section = DOCS.read_text(encoding="utf-8").split("## Conventions and rules", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 3 and cells[0] != "what":
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def test_every_rule_has_its_row_in_the_docs_and_both_cite_the_same_papers():
    rows = doc_rows()
    for rule in RECIPE_RULES.values():
        assert rule.doc_row in rows, f"{rule.key}: no row {rule.doc_row!r} in docs/advisor.md"
        assert set(ARXIV.findall(rows[rule.doc_row][1])) == set(rule.citations), rule.key
        cited_in_text = set(ARXIV.findall(rule.text + (rule.moe_text or "")))
        assert cited_in_text <= set(rule.citations), f"{rule.key}'s text cites {cited_in_text - set(rule.citations)}"


def test_every_row_of_the_docs_table_is_a_rule_or_a_named_convention():
    documented = {rule.doc_row for rule in RECIPE_RULES.values()}
    assert set(doc_rows()) == documented | NOT_RECIPE_RULES


def test_the_docs_state_the_constants_the_rules_compute_with():
    rows = doc_rows()
    warmup = rows["warmup"][0]
    assert f"{WARMUP_FLOOR_FRAC:.0%} of the steps" in warmup and f"{WARMUP_FLOOR_STEPS:,} steps" in warmup
    assert f"≤ {WARMUP_MAX_FRAC:.0%} of steps" in warmup
    beta2 = rows["β2"][0]
    assert f"{BETA2_ANCHOR[0]:g}^(B / {BETA2_ANCHOR[1]:,} tokens)" in beta2
    assert f"[{BETA2_RANGE[0]:g}, {BETA2_RANGE[1]:g}]" in beta2
    assert f"cosine to {DEFAULT_FINAL_LR_FRAC:g}× peak" in rows["schedule, final LR"][0]
    defaults = [float(x) for x in rows["β1, ε, clipping"][0].split("else ", 1)[1].split(", ")]
    assert defaults == pytest.approx(list(OPTIMIZER_DEFAULTS.values()))


def test_a_recommendation_lists_the_registry_in_order_with_an_moe_and_a_chosen_text():
    dense, moe = shapes.from_total(7e9, 32000), shapes.moe_from_total(16e9, 2.8e9, 32000)
    listed = [rule.key for rule in RECIPE_RULES.values() if rule.listed]
    assert list(rule_texts(dense)) == listed == list(rule_texts(moe, weight_decay="chosen"))
    assert rule_texts(dense)["warmup"] == RECIPE_RULES["warmup"].text
    assert rule_texts(moe)["warmup"] == RECIPE_RULES["warmup"].moe_text != RECIPE_RULES["warmup"].text
    assert rule_texts(moe, weight_decay="chosen")["weight_decay"] == "chosen"


def test_each_rule_with_a_value_computes_it():
    assert RECIPE_RULES["beta2"].value(BETA2_ANCHOR[1]) == pytest.approx(BETA2_ANCHOR[0])
    assert RECIPE_RULES["beta2"].value is beta2_rule
    assert RECIPE_RULES["eps"].value({}) == pytest.approx(OPTIMIZER_DEFAULTS["eps"])
    assert RECIPE_RULES["grad_clip"].value({"grad_clip": 0.5}) == pytest.approx(0.5)
    steps, warmup = RECIPE_RULES["warmup"].value(2e12, 1024, 4096, 6.5e9)
    assert steps == 2e12 // (1024 * 4096) and warmup == WARMUP_FLOOR_STEPS
    assert RECIPE_RULES["batch_rounding"].value(7e6, 4096) == 1536
