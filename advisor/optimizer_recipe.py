"""`recommend --optimizer NAME` and `check --optimizer NAME`: an optimizer's recipe from Marin's sweep.

    optimizer_recommend("muon", params="7B", tokens="2T")   -> dict (rendered by advisor/cli/optimizer.py)

LR and batch from the optimizer's laws (advisor/optimizers.py), every other knob Marin tuned from its
nearest measured cell, the schedule Marin ran it with; warnings when the target lies beyond the cells
(FAR_EXTRAPOLATION times their N or D range) and where a knob's optimum sat on its grid's edge (a bound).
Muon answers say which LR convention they are in and convert it (advisor/muon_lr.py).
"""
from __future__ import annotations

import math

from advisor import optimizers as opt
from advisor.muon_lr import convention_line
from advisor.errors import AdvisorError
from advisor.rules import practical_batch_seqs
from advisor.target import target_shape
from advisor.units import parse_quantity

CLIFF_MARGIN = 0.5  # 2x steps: how close to a measured cliff the interval's worst case may come
CHINCHILLA = 20.0  # Marin's budgets are multiples of 20 tokens per non-embedding parameter
KNOB_NAMES = {"weight_decay": "weight decay", "beta1": "β1", "beta2": "β2", "epsilon": "ε",
              "grad_clip": "grad clip (max norm; 0 off)", "warmup_steps": "warmup (steps)",
              "decay_fraction": "decay fraction", "momentum": "momentum", "min_lr_ratio": "final LR / peak",
              "muon_to_adam_lr": "AdamW-part LR / Muon LR", "scion_to_signum_lr": "Signum-part LR / Scion LR",
              "muon_epsilon": "Muon ε", "schedule": "schedule"}
NOT_FOR = {"adamw": ("momentum", "muon_to_adam_lr", "scion_to_signum_lr", "decay_fraction")}


def target_nd(params=None, tokens=None, tokens_per_param=None, n_params_nonembedding=None, vocab_size=None,
              config=None):
    """(shape, D, how D was chosen): D given, or tokens_per_param × total parameters, or 20 N (1× Chinchilla)."""
    shape = target_shape(params, n_params_nonembedding, vocab_size, config)
    if tokens is not None and tokens_per_param is not None:
        raise AdvisorError("give --tokens or --tokens-per-param, not both")
    if tokens is not None:
        return shape, parse_quantity(tokens, "--tokens"), "given"
    if tokens_per_param is not None:
        k = parse_quantity(tokens_per_param, "--tokens-per-param")
        return shape, k * shape.n_params_total, f"{k:g} tokens per parameter"
    return shape, CHINCHILLA * shape.n_params, "20 per non-embedding parameter (Marin's 1× Chinchilla)"


def optimizer_recommend(name: str, params=None, tokens=None, tokens_per_param=None, n_params_nonembedding=None,
                        seq_len=4096, vocab_size=None, config=None) -> dict:
    s = opt.summary(name)
    shape, d, d_source = target_nd(params, tokens, tokens_per_param, n_params_nonembedding, vocab_size, config)
    n = shape.n_params
    seq = int(parse_quantity(seq_len, "--seq-len"))
    laws = s["laws"]
    if laws["lr"] is None or laws["batch"] is None:
        raise AdvisorError(f"{name}: Marin's cells do not support an LR and batch law")
    lr, batch = opt.predict(laws["lr"], n, d), opt.predict(laws["batch"], n, d)
    batch_seqs = practical_batch_seqs(batch["value"], seq)
    steps = int(d // (batch_seqs * seq))
    if steps < 10:
        raise AdvisorError(f"the run would be {steps} optimizer steps of {batch_seqs} × {seq} tokens: too few to advise on")
    knobs = {k: opt.knob_answer(v, n, d) for k, v in s["knobs"].items() if k not in NOT_FOR.get(name, ())}
    answer = {"optimizer": name, "n_params": n, "n_params_total": shape.n_params_total, "d_model": shape.d_model,
              "tokens": d, "tokens_source": d_source, "seq_len": seq, "lr": lr, "batch": batch,
              "batch_seqs": batch_seqs, "steps": steps, "knobs": knobs,
              "lr_step_cost": {"down": opt.lr_cost(s["lr_profiles"], -1.0), "up": opt.lr_cost(s["lr_profiles"], 1.0)},
              "batch_step_cost": s["batch_step_cost"], "cliff": opt.cliff(s["lr_profiles"]),
              "tolerance": {law: {f"{pct:g}": opt.tolerance(s[f"{law}_profiles"], pct) for pct in opt.TOLERANCES}
                            for law in ("lr", "batch")},
              "sizes": s["sizes"], "warnings": _warnings(name, lr, batch, knobs) + _bound_warnings(laws)}
    if name == "muon":
        answer["convention"] = convention_line(lr["value"], int(round(shape.d_model)))
    return answer


def _warnings(name: str, lr: dict, batch: dict, knobs: dict) -> list[str]:
    out = []
    far = max(lr["beyond_n"], lr["beyond_d"])
    if far > opt.FAR_EXTRAPOLATION:
        out.append(f"far extrapolation: the target is {lr['beyond_n']:.3g}× beyond Marin's sizes and "
                   f"{lr['beyond_d']:.3g}× beyond their token budgets (the interval widens with the distance, "
                   "but the law's form is untested there)")
    if lr["kind"] == "adamw_exponents":
        out.append(f"{name}'s LR law borrows AdamW's exponents: its cells cannot separate N from D")
    edges = [k for k, a in knobs.items() if a.get("edge")]
    if edges:
        out.append("optimum on its grid's edge at the nearest cell (a bound, not an optimum): " + ", ".join(edges))
    return out


def _bound_warnings(laws: dict) -> list[str]:
    """How many of a law's cells hold a bound, not an optimum (the best value on the profile's edge)."""
    out = []
    for law, what in (("lr", "LR"), ("batch", "batch")):
        cells = laws[law]["cells"]
        low = sum(c[3] == "low" for c in cells)
        high = sum(c[3] == "high" for c in cells)
        if low + high:
            out.append(f"{low + high} of the {what} law's {len(cells)} cells hold a bound, not an optimum "
                       f"({low} at the smallest value tried, {high} at the largest): the fit takes them as values "
                       f"at half weight, so the {what} may be overstated ({low} cells) or understated ({high})")
    return out


def optimizer_check(name: str, lr, batch=None, weight_decay=None, momentum=None, **target) -> dict:
    """The cost of a planned run (its LR, and batch and weight decay if given) from Marin's profiles."""
    s = opt.summary(name)
    answer = optimizer_recommend(name, **target)
    planned = parse_quantity(lr, "--lr")
    pred = answer["lr"]
    steps = math.log2(planned / pred["value"])
    worst, best = math.log2(planned / pred["low"]), math.log2(planned / pred["high"])
    costs = [opt.lr_cost(s["lr_profiles"], x) for x in (best, steps, worst)]
    cliff = opt.cliff(s["lr_profiles"])
    # risky: planned above the predicted optimum, and over its interval within half a 2x step of the nearest
    # cliff Marin's profiles show (AdamW's runs diverged one step above the best LR at 134M 8x and 302M 1x)
    risk = cliff is not None and steps > 0 and worst >= cliff["steps"] - CLIFF_MARGIN
    out = {"optimizer": name, "lr": planned, "lr_steps_from_optimum": steps, "lr_steps_range": [best, worst],
           "lr_cost": costs, "cliff": cliff, "risk": risk, "recommended": answer}
    if batch is not None:
        b = parse_quantity(batch, "--batch")
        out["batch"] = b
        out["batch_steps_from_optimum"] = math.log2(b / answer["batch"]["value"])
        out["batch_cost"] = opt.lr_cost(s["batch_profiles"], out["batch_steps_from_optimum"])
    for knob, value in (("weight_decay", weight_decay), ("momentum", momentum)):
        if value is not None:
            out[knob], out[f"{knob}_cost"] = _knob_cost(s, name, knob, value)
    return out


def _knob_cost(s: dict, name: str, knob: str, value) -> tuple[float, dict]:
    """The loss cost of a knob's planned value from the optimizer's profiles of it; a knob the optimizer
    does not have (momentum for AdamW) is bad input."""
    option = "--" + knob.replace("_", "-")
    summary = s["knobs"].get(knob)
    if summary is None:
        have = ", ".join(k for k, v in s["knobs"].items() if v.get("profiles"))
        raise AdvisorError(f"{option} does not apply to {name} (its profiled knobs: {have})")
    if not summary.get("profiles"):
        raise AdvisorError(f"{option}: Marin did not sweep the {KNOB_NAMES.get(knob, knob)} of {name}")
    v = parse_quantity(value, option, allow_zero=True)
    return v, opt.value_cost(summary["profiles"], v)
