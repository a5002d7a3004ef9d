"""`recommend --batch-ramp [--max-batch B]`: a staged batch schedule, the batch doubling up to the recommended
(or the given maximum) batch, with the peak LR and β2 of each stage, as a table, as a Megatron-LM
`--step-batch-size-schedule` string and in JSON.

What it rests on. The critical batch (beyond which a larger batch stops buying fewer steps) is small early in
training, rises and then flattens (Merrill et al., arXiv 2505.23971, who reached OLMo 1B's loss with 43% fewer
steps by warming the batch up; Zhang et al., arXiv 2410.21676: the critical batch grows with the data seen,
not the model size). Production runs ramp it early: DeepSeek-V3 from 3,072 to 15,360 sequences over the first
469B of 14.8T tokens (3%; arXiv 2412.19437), Llama 3 405B from 4M to 8M tokens at 252M tokens and to 16M at
2.87T of 15.6T (18%; arXiv 2407.21783). The rule here:

- the stages: the final batch B_end (the maximum, else the recommended practical batch), halved until the
  start (`--batch`, else the smaller of the recommended batch and B_end/4, at least one sequence: the
  production ramps span 4–5×);
- the boundaries: the batch follows the optimal batch of a run of the tokens seen so far, B ∝ t^γ, with γ the
  fitted batch law's exponent in D (Power Lines, Bergsma et al., arXiv 2505.13738: a power law in D), scaled
  so that B_end is reached at RAMP_END_FRAC of the run (between DeepSeek-V3's 3% and Llama 3's 18%): the
  batch doubles each time the tokens grow 2^(1/γ)-fold;
- each stage's peak LR: the best LR at its batch from the fitted surface (advisor/constrained.py); β2: the
  recipe's rule at its batch (advisor/rules.py beta2_rule).

Whether it beats a constant batch on our proxies is measured by benchmarks/batch_ramp.py (RAMP_EVIDENCE).
"""
from __future__ import annotations

import math

from advisor.constrained import constrained_optimum
from advisor.constrained_recipe import model_with_penalty
from advisor.errors import AdvisorError
from advisor.recipe import Recommendation, recommend
from advisor.rules import MIN_STEPS, beta2_rule
from advisor.units import format_count, parse_quantity
from advisor.unknown_optimum import unknown_text

RAMP_END_FRAC = 0.1
START_SPAN = 4.0  # without --batch, the ramp starts at most this far below its end
DEFAULT_GAMMA = 0.5  # the batch law's D exponent when the model has none usable (then said in the output)
CITATIONS = ("Merrill et al., arXiv 2505.23971", "Zhang et al., arXiv 2410.21676", "Bergsma et al., arXiv 2505.13738",
             "DeepSeek-V3, arXiv 2412.19437", "Llama 3, arXiv 2407.21783")


def batch_ramp(rec: Recommendation, fitted, max_batch: float | None = None, start_batch: float | None = None) -> dict:
    """The ramp for an unconstrained recommendation `rec` from the fitted model `fitted` (module doc)."""
    if not (rec.lr_informative and rec.batch_informative):  # its stages' batches and LRs would rest on that point
        raise AdvisorError(f"no batch ramp here: the model does not know the optimum {unknown_text(rec)} at this "
                           "target (its 90% interval is too wide); run `advisor recommend` without --batch-ramp")
    seq, n = rec.seq_len, rec.n_params_laws or rec.n_params
    end = rec.batch_tokens_rounded if max_batch is None else max_batch
    start = max(seq, min(rec.batch_tokens_rounded, end / START_SPAN)) if start_batch is None else start_batch
    _check(rec, start, end)
    end_seqs = max(1, round(end / seq))
    doublings = max(0, math.ceil(math.log2(end_seqs * seq / start) - 1e-9))
    seqs = [max(1, end_seqs // 2 ** (doublings - k)) for k in range(doublings + 1)]
    seqs = sorted(set(seqs))
    gamma, gamma_source = _gamma(fitted, n, rec.tokens)
    k_last = len(seqs) - 1
    bounds = [0.0] + [_round3(RAMP_END_FRAC * rec.tokens * 2.0 ** ((k - k_last) / gamma)) for k in range(1, k_last + 1)]
    stages = [_stage(rec, fitted, n, s * seq, bounds[k], bounds[k + 1] if k < k_last else rec.tokens)
              for k, s in enumerate(seqs)]
    steps = sum(s["steps"] for s in stages)
    home = constrained_optimum(fitted.penalty_, n, rec.tokens, "batch", 0.0)["home"]
    return {"stages": stages, "steps": steps, "steps_constant_end": int(rec.tokens // (seqs[-1] * seq)),
            "steps_constant_recommended": rec.steps, "gamma": gamma, "gamma_source": gamma_source,
            "end_frac": RAMP_END_FRAC, "megatron": megatron_schedule(stages, seq), "rests_on": list(CITATIONS),
            "evidence": RAMP_EVIDENCE, "surface_minimum_at_optimum_log2": home}


def _round3(x: float) -> float:
    """Three significant digits: stage boundaries a person types."""
    return float(f"{x:.3g}")


def _check(rec: Recommendation, start: float, end: float) -> None:
    if start < rec.seq_len:
        raise AdvisorError(f"the ramp's start ({format_count(start)} tokens) is smaller than one sequence of {rec.seq_len}")
    if end < start:
        raise AdvisorError(f"--max-batch {format_count(end)} tokens is below the ramp's start ({format_count(start)} "
                           "tokens): a ramp only grows")
    if end > rec.tokens / MIN_STEPS:
        raise AdvisorError(f"--max-batch {format_count(end)} tokens leaves fewer than {MIN_STEPS} steps of the "
                           f"{format_count(rec.tokens)}-token run")


def _gamma(fitted, n: float, tokens: float) -> tuple[float, str]:
    """d log B* / d log D of the model's batch law at the target (its D and C exponents together)."""
    law = getattr(getattr(fitted, "batch_", None), "law", None)
    if law is None:
        return DEFAULT_GAMMA, f"default {DEFAULT_GAMMA} (the model has no batch law)"
    point = {"n_params": n, "tokens": tokens, "flops": 6 * n * tokens}
    later = {**point, "tokens": 2 * tokens, "flops": 12 * n * tokens}
    gamma = (law.log_predict(later) - law.log_predict(point)) / math.log(2)
    if not 0.1 <= gamma <= 1.5:
        return DEFAULT_GAMMA, f"default {DEFAULT_GAMMA} (the batch law's D exponent {gamma:.2g} is implausible)"
    return gamma, f"the fitted batch law's exponent in D ({law.form})"


def _stage(rec: Recommendation, fitted, n: float, batch: float, t0: float, t1: float) -> dict:
    opt = constrained_optimum(fitted.penalty_, n, rec.tokens, "batch", math.log2(batch / rec.batch_tokens))
    return {"from_tokens": t0, "to_tokens": t1, "batch_tokens": batch, "batch_seqs": round(batch / rec.seq_len),
            "lr": rec.lr * 2.0 ** opt["offset"], "beta2": beta2_rule(batch), "steps": int((t1 - t0) // batch),
            "cost_pct_if_constant": opt["cost"].pct}


def megatron_schedule(stages: list[dict], seq: int) -> str:
    """Megatron-LM's `--step-batch-size-schedule "T0:BS0 T1:BS1 ..."`: token thresholds (K/M/B/T suffixes, the
    first 0) and global batch sizes in sequences (converted through --seq-length)."""
    return " ".join(f"{_tokens_text(s['from_tokens'])}:{s['batch_seqs']}" for s in stages)


def _tokens_text(t: float) -> str:
    if t == 0:
        return "0"
    for suffix, unit in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if t >= unit:
            return f"{round(t / unit, 3):g}{suffix}"
    return f"{round(t)}"


# What benchmarks/batch_ramp.py measured on the CPU proxies (docs/constraints.md has the table).
RAMP_EVIDENCE = ("benchmarks/batch_ramp.py, cpu-default proxies of 27.8K and 151K parameters, 250K tokens, 2 seeds: "
                 "a ramp from B* to 4B* ended within the seed spread of the constant-B* loss (paired −0.007 ± 0.037 and "
                 "+0.007 ± 0.011 nats) in 71% fewer steps, where a constant 4B* lost 0.095 and 0.034 nats; from B*/4 "
                 "to B* (27.8K only: at 151K B* is one sequence) −0.040 ± 0.021 nats with 10% more steps. Tiny "
                 "proxies and two seeds: indicative, not a guarantee at scale")


def recommend_with_ramp(params=None, tokens=None, *, start_batch=None, max_batch=None, lr=None, model=None,
                        law=None, **target) -> tuple[Recommendation, dict]:
    """(the unconstrained recommendation, its batch ramp): `recommend --batch-ramp [--batch START]
    [--max-batch B]`."""
    if lr is not None:
        raise AdvisorError("--batch-ramp gives each stage its own LR: drop --lr")
    if law is not None:
        raise AdvisorError("--batch-ramp reads a fitted model's loss surface; a published law (--hp-law) has none")
    fitted = model_with_penalty(model, target)
    rec = recommend(params, tokens, model=fitted, **target)
    start = None if start_batch is None else parse_quantity(start_batch, "--batch")
    end = None if max_batch is None else parse_quantity(max_batch, "--max-batch")
    return rec, batch_ramp(rec, fitted, end, start)


def ramp_lines(ramp: dict, seq: int) -> list[str]:
    """The ramp as text: one row per stage, the Megatron-LM string, steps, and what it rests on."""
    lines = ["", f"Batch ramp (the batch doubles as B ∝ t^{ramp['gamma']:.2f}, {ramp['gamma_source']}, reaching its "
             f"end at {ramp['end_frac']:.0%} of the run):",
             f"  {'tokens from':>11}  {'to':>8}  {'batch (sequences × seq_len)':>30}  {'peak LR':>9}  {'β2':>6}  "
             f"{'steps':>10}"]
    for s in ramp["stages"]:
        start = format_count(s["from_tokens"]) if s["from_tokens"] else "0"
        lines.append(f"  {start:>11}  {format_count(s['to_tokens']):>8}  "
                     f"{s['batch_seqs']:>8,} × {seq:,} = {format_count(s['batch_tokens']):>7} tokens  {s['lr']:>9.3g}  "
                     f"{s['beta2']:>6.4g}  {s['steps']:>10,}")
    lines += [f"  Megatron-LM: --step-batch-size-schedule \"{ramp['megatron']}\" --seq-length {seq}",
              f"  optimizer steps {ramp['steps']:,}; a constant batch at the ramp's end: {ramp['steps_constant_end']:,}; "
              f"at the recommended batch: {ramp['steps_constant_recommended']:,}",
              "  peak LR per stage: the best LR at the stage's batch (the fitted surface, as `--batch`; at the "
              f"recommended batch {2.0 ** ramp['surface_minimum_at_optimum_log2']:.3g}× the law's LR: "
              "docs/constraints.md); one schedule shape (warmup, decay) by tokens trained; trainers with one peak LR: "
              "the last stage's",
              f"  rests on: {'; '.join(ramp['rests_on'])}",
              f"  measured on our proxies: {ramp['evidence'] or 'not measured'}"]
    return lines
