"""The recipe's rules, one registry entry each: its value function, its text (built from its constants), its
citations and the row of docs/advisor.md that documents it, with the reasons ("Conventions and rules";
tests/test_rules.py checks the two agree).

Adding a rule that sets an existing value (e.g. another warmup rule) is its `Rule` in `RECIPE_RULES` (naming the
function that computes the value, `value`) and its row in docs/advisor.md (checked). A rule for a new value
also needs the call that sets it (advisor/recipe.py `_run_plan` or `_recommendation`), the `Recommendation`
field it fills and one line where the long answer renders it (advisor/cli/recommend.py,
`render_recommendation`). `rule_texts` gives the texts a recommendation lists (its `rules`, printed by --explain
and the JSON).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Callable

from advisor.coded_warning import CodedWarning
from advisor.errors import AdvisorError
from advisor.practice import WARMUP_FLOOR_FRAC, WARMUP_FLOOR_STEPS, warmup_floor
from advisor.shape import HEAD_DIM
from advisor.units import format_count, is_number

# τ_frac of the τ rule: the Llama-2 7B recipe (η 3e-4, λ 0.1, 500k steps) has τ_frac ≈ 0.07 (arXiv 2307.09288)
DEFAULT_TAU_FRAC = 0.1
DEFAULT_FINAL_LR_FRAC = 0.1  # cosine to 0.1×peak (Hoffmann et al.)
LLAMA2_BATCH = (1024, 4096)  # (sequences, sequence length): the β2 rule's anchor batch
BETA2_ANCHOR = (0.95, LLAMA2_BATCH[0] * LLAMA2_BATCH[1])  # (β2, batch tokens) of the Llama-2 recipe
BETA2_RANGE = (0.95, 0.999)
WARMUP_MAX_FRAC = 0.1
OPTIMIZER_DEFAULTS = {"beta1": 0.9, "eps": 1e-8, "grad_clip": 1.0}  # where the calibration records none
MIN_STEPS = 10  # fewer optimizer steps leave no room to warm up and decay: refused, not recommended
FEW_STEPS = 1000  # fewer than this earns a warning: the laws were measured on runs of thousands of steps
BATCH_ROUNDED_WARN = 2.0  # the rounded batch this many times the law's optimum (one sequence is longer): warned


# ---------------------------------------------------------------------------------------- the values


def practical_batch_seqs(batch_tokens: float, seq_len: int) -> int:
    """Nearest of 2^k and 3·2^k sequences (log scale) to batch_tokens/seq_len, at least 1."""
    target = batch_tokens / seq_len
    if target <= 1:
        return 1
    k = math.floor(math.log2(target))
    candidates = [2**k, 3 * 2 ** (k - 1) if k >= 1 else 1, 2 ** (k + 1), 3 * 2**k]
    return min(candidates, key=lambda c: abs(math.log(c / target)))


def beta2_rule(batch_tokens: float) -> float:
    beta, anchor = BETA2_ANCHOR
    lo, hi = BETA2_RANGE
    return min(hi, max(lo, beta ** (batch_tokens / anchor)))


def calibrated(key: str, opt: dict) -> float:
    """An optimizer setting as calibrated (the model's provenance), else the published default."""
    value = opt.get(key)
    return float(value) if is_number(value) else OPTIMIZER_DEFAULTS[key]


def steps_and_warmup(d: float, batch_seqs: int, seq: int, n_params: float) -> tuple[int, int]:
    """(training steps, warmup steps: n_params tokens (an MoE's active count), at least the published floor
    (practice.warmup_floor) and 1, at most WARMUP_MAX_FRAC of training)."""
    steps = int(d // (batch_seqs * seq))
    if steps < 1:
        raise AdvisorError(f"the tokens ({format_count(d)}) are fewer than one batch "
                           f"({batch_seqs} × {seq} = {format_count(batch_seqs * seq)} tokens)")
    if steps < MIN_STEPS:
        raise AdvisorError(f"the run would be {steps} optimizer steps of {batch_seqs} × {seq} = "
                           f"{format_count(batch_seqs * seq)} tokens: too few to warm up and decay (at least "
                           f"{MIN_STEPS}); shorten the sequence length or train on more tokens")
    by_n = max(math.ceil(n_params / (batch_seqs * seq)), warmup_floor(steps))
    return steps, max(1, min(by_n, int(WARMUP_MAX_FRAC * steps)))


def run_shape_warnings(batch: float, batch_seqs: int, seq: int, steps: int) -> list[CodedWarning]:
    """A batch rounded far above the optimum (one sequence is longer than it), or a short run."""
    out = []
    if batch_seqs * seq > BATCH_ROUNDED_WARN * batch:
        ratio = batch_seqs * seq / batch
        out.append(CodedWarning("batch_rounded_up", f"one sequence ({format_count(seq)} tokens) is longer than the "
                                f"optimal batch ({format_count(batch)} tokens): the batch is {ratio:.3g}× the "
                                "optimum; a shorter sequence length would let it sit there"))
    if steps < FEW_STEPS:
        out.append(CodedWarning("few_steps", f"the run is only {steps} optimizer steps: the laws were measured on "
                                "runs of thousands of steps, so treat the LR and batch as a rough start"))
    return out


def schedule_rule(sched: dict, peak_lr: float) -> tuple[str, float]:
    """(schedule name, final LR as a fraction of the peak): the calibration's (the LR law only holds for the
    schedule it was fitted under), else cosine to 0.1×peak. A source that decayed to an absolute final LR
    (Step Law's runs: 1e-5) keeps that absolute value."""
    known = sched.get("name") not in (None, "", "unknown")  # an external sweep may not record its schedule
    schedule = str(sched["name"]) if known else "cosine"
    if schedule == "constant":
        return schedule, 1.0
    final = sched.get("final_lr")
    if isinstance(final, (int, float)) and 0 < final < peak_lr:
        return schedule, final / peak_lr
    final_frac = sched.get("final_lr_frac")
    return schedule, float(final_frac) if is_number(final_frac) else DEFAULT_FINAL_LR_FRAC


def weight_decay_rule(opt: dict, tau_frac: float | None, lr: float,
                      steps: int) -> tuple[float, str, list[CodedWarning]]:
    """(λ, the text of the rule that set it, warnings): the calibration's λ (the optimal LR depends on η·λ, so the
    LR law holds at the decay it was calibrated under), unless `tau_frac` is given or none was recorded; else the
    τ rule, λ = 1/(τ_frac·η·steps) (Wang & Aitchison, arXiv 2405.13698)."""
    calibrated_decay = float(opt["weight_decay"]) if is_number(opt.get("weight_decay")) else 0.0
    if tau_frac is None and calibrated_decay > 0:
        tau = 1.0 / (lr * calibrated_decay * steps)
        seen = opt.get("tau_frac_at_optima")
        on_proxies = (f" (at the proxies' optima it was {seen[0]:.2g}–{seen[1]:.2g})"
                      if isinstance(seen, list) and len(seen) == 2 else "")
        warnings = [] if tau <= 1.0 else [CodedWarning(
            "weight_decay_barely_acts", f"the calibrated weight decay {calibrated_decay:g} barely acts at this LR: "
            f"τ = 1/(ηλ) is {tau:.3g}× the training steps{on_proxies}; --tau-frac {DEFAULT_TAU_FRAC:g} applies "
            "the τ rule")]
        return calibrated_decay, WEIGHT_DECAY_CALIBRATED, warnings
    tau = DEFAULT_TAU_FRAC if tau_frac is None else tau_frac
    weight_decay = 1.0 / (tau * lr * steps)
    warnings = [] if 0.005 <= weight_decay <= 1.0 else [CodedWarning(
        "weight_decay_unusual", f"weight decay {weight_decay:.3g} from the τ rule is unusual; check the LR and steps")]
    return weight_decay, RECIPE_RULES["weight_decay"].text, warnings


# ---------------------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Rule:
    """One rule of the recipe (module docstring)."""

    key: str  # its key in a recommendation's `rules`
    doc_row: str  # the first cell of its row in docs/advisor.md's table of conventions and rules
    text: str  # what the output prints, built from the rule's constants
    citations: tuple[str, ...] = ()  # the arXiv ids behind it: its docs row cites the same
    value: Callable | None = None  # what computes its value (the arguments are the rule's own)
    moe_text: str | None = None  # the text for a mixture of experts, where it differs
    listed: bool = True  # listed in a recommendation's `rules` (β1, ε and clipping print their values only)


_FLOOR = (f"at least the published floor of {WARMUP_FLOOR_FRAC:.0%} of steps capped at {WARMUP_FLOOR_STEPS:,} steps "
          f"(Llama 2, DeepSeek LLM), ≥1 step, ≤{WARMUP_MAX_FRAC:.0%} of steps")
WEIGHT_DECAY_CALIBRATED = ("the λ the fitted model's proxies were trained with (the optimal LR depends on η·λ, "
                           "so the LR law holds at its calibrated decay); --tau-frac sets λ by the τ rule instead")

RECIPE_RULES: dict[str, Rule] = {rule.key: rule for rule in (
    Rule("shape", "N", f"Llama-style: n_layer = d_model/{HEAD_DIM}, SwiGLU d_ff = 8/3·d_model, "
         "N = 12·n_layer·d_model², untied embeddings 2·V·d_model", ("2302.13971",)),
    Rule("moe_shape", "N of an MoE", "the width of the standard shape at the ACTIVE count (experts add parameters, "
         "not width); total and active lose the same 2·V·d of embeddings"),
    Rule("batch_rounding", "batch", "nearest of 2^k and 3·2^k sequences to the law's optimum (log scale)",
         value=practical_batch_seqs),
    Rule("warmup", "warmup", f"N tokens (Porian et al., arXiv 2406.19146), {_FLOOR}",
         ("2406.19146", "2307.09288", "2401.02954", "2304.01373"), steps_and_warmup,
         moe_text="N_active tokens for an MoE: the count each token computes with and the laws take (Porian et "
                  f"al.'s ~N tokens, arXiv 2406.19146, was measured on dense models, where the two agree), {_FLOOR}"),
    Rule("schedule", "schedule, final LR", "as calibrated (provenance; an absolute final LR is kept), else cosine "
         f"to {DEFAULT_FINAL_LR_FRAC:g}×peak (Hoffmann et al., arXiv 2203.15556)", ("2203.15556",), schedule_rule),
    Rule("weight_decay", "weight decay", "λ = 1/(τ_frac·η·steps): AdamW timescale τ = 1/(ηλ) a fixed fraction of "
         "training (Wang & Aitchison, arXiv 2405.13698)", ("2405.13698",), weight_decay_rule),
    Rule("beta2", "β2", f"{BETA2_ANCHOR[0]:g}^(B / {BETA2_ANCHOR[1]:,} tokens: Llama 2's {LLAMA2_BATCH[0]:,} × "
         f"{LLAMA2_BATCH[1]:,}) clipped to [{BETA2_RANGE[0]:g}, {BETA2_RANGE[1]:g}]: fixed second-moment half-life "
         "in tokens (Marek et al., arXiv 2507.07101; higher β2 at small batch, Porian et al., arXiv 2406.19146)",
         ("2507.07101", "2406.19146"), beta2_rule),
    Rule("interval", "interval", "90%: quadrature sum of sampling (bootstrap, widened by the residual scatter), law "
         "form (forms nearly as good at held-out sizes, and exponents beyond the range they were measured over) "
         "and, for a model of another setup, setup (the spread of independent published laws at the target)"),
    *(Rule(key, "β1, ε, clipping", f"as calibrated (provenance), else {default:g}", value=partial(calibrated, key),
           listed=False) for key, default in OPTIMIZER_DEFAULTS.items()),
)}


def rule_texts(shape, /, **chosen: str) -> dict[str, str]:
    """The texts a recommendation lists under `rules`, in the registry's order: an MoE's own where it differs,
    and `chosen` for rules whose text depends on the answer (the weight decay rule that set λ, a config's
    counting)."""
    texts = {rule.key: rule.moe_text if shape.is_moe and rule.moe_text else rule.text
             for rule in RECIPE_RULES.values() if rule.listed}
    return {**texts, **chosen}
