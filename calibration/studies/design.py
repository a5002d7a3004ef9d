"""`advisor calibrate design`: the calibration a budget buys for a target, written as a sweep spec.

The design follows the replays (calibration/studies/replay.py, replay_law.py; benchmarks/replay_search.py,
replay_laws.py): per cell the `coord` search (on Step Law dense, 12 runs per cell reach a median regret of
0.016% against the full grid's smooth optimum, where a coarse grid of 12 stays at 0.25%), with 12 or 24
points, whichever gives the narrower expected LR interval at the target (`best_design`: more points per
cell narrow the law's bootstrap interval, fewer buy larger proxies and a shorter extrapolation);
cells are SIZES proxy sizes a factor 2 apart x 2 absolute token budgets (20 and 80 tokens per parameter of
the largest proxy; every size gets both, so N and D stay separable). The largest proxy is the largest whose
design fits the budget: its cost is the plan's FLOPs (6N + attention + output head per token, times every
trial's tokens) at the GPU's peak times MFU. The batch grid stops at what one GPU holds (no gradient
accumulation in the proxy trainer).

What the interval at the target rests on: the same design replayed on Step Law dense (its largest sizes,
their smallest and largest budgets, coord 12 per cell), fitted, and read at the same extrapolation
beyond the largest proxy as the target lies beyond this design's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from advisor.laws import STEP_LAW_COEF

SIZES = 4  # proxy sizes, a factor SIZE_STEP apart
SIZE_STEP = 2.0
TOKENS_PER_PARAM = (20.0, 80.0)  # of the largest proxy: the two absolute token budgets every size gets
POINTS = (12, 24)  # coord points per cell weighed: 12 reach the cell-level goal, 24 narrow the law's interval
SEQ_LEN = 1024
MIN_STEPS = 100
LR_BOX = (2.5e-4, 1.6e-2, 7)
MAX_EXTRAPOLATION = 100.0  # target / largest proxy beyond which the budget is refused (replays reach 7-30x)
SMALLEST_PROXY = 1e6


class DesignError(ValueError):
    """The design cannot be made (budget too small, target below the proxies, unknown GPU): one line."""


@dataclass
class CalibrationDesign:
    target: tuple  # (N, D)
    gpu: str
    mfu: float
    budget_flops: float
    largest: float  # N of the largest proxy
    sizes: list
    tokens: list
    batch_seqs: list
    vocab_size: int
    data: str
    points: int = POINTS[0]
    flops: float = 0.0  # the plan's, output head included
    trials: int = 0
    interval: dict = field(default_factory=dict)

    @property
    def gpu_hours(self) -> float:
        from advisor.hardware import get_gpu

        return self.flops / (get_gpu(self.gpu).peak_flops * self.mfu) / 3600.0

    def spec_dict(self) -> dict:
        return {"name": "design", "description": f"calibration for {self.target[0]:.3g} params / {self.target[1]:.3g} "
                f"tokens: {len(self.sizes)} sizes x {len(self.tokens)} budgets, coord {self.points} per cell",
                "device": "cuda", "min_steps": MIN_STEPS, "seeds": [0],
                "sizes": {"n_params": [float(f"{n:.4g}") for n in self.sizes]},
                "budget": {"tokens": [int(t) for t in self.tokens]},
                "lr": {"min": LR_BOX[0], "max": LR_BOX[1], "points": LR_BOX[2]},
                "batch": {"seqs": list(self.batch_seqs)},
                "trial": {"seq_len": SEQ_LEN, "schedule": "cosine", "data": self.data, "vocab_size": self.vocab_size},
                "search": {"method": "coord", "trials_per_cell": self.points}}


def make_design(target_n: float, target_d: float, gpu: str, mfu: float, budget_flops: float,
                data: str = "kjv", vocab_size: int | None = None, points: int = POINTS[0]) -> CalibrationDesign:
    """The largest design (largest proxy) whose planned FLOPs fit the budget; DesignError if none is usable."""
    from advisor.hardware import get_gpu

    try:
        get_gpu(gpu)
    except KeyError as exc:
        raise DesignError(str(exc.args[0])) from None
    if not budget_flops > 0 or not math.isfinite(budget_flops):
        raise DesignError(f"the budget must be positive, got {budget_flops:g} FLOPs")
    vocab = vocab_size or _data_vocab(data)
    largest = math.sqrt(budget_flops / _cost_per_n2(points))  # 6ND-scaled first guess, refined on the plan
    for _ in range(80):
        if largest < SMALLEST_PROXY:
            break
        design = _sized(target_n, target_d, gpu, mfu, budget_flops, largest, data, vocab, points)
        if design.flops <= budget_flops:
            if target_n / largest > MAX_EXTRAPOLATION:
                break  # affordable, but too far below the target: the budget is too small
            return _checked(design)
        largest *= 0.93
    # the smallest largest-proxy a usable law allows: designs reaching more than MAX_EXTRAPOLATION x beyond
    # their largest proxy are refused (the replays read laws 6-35x beyond their sizes)
    floor = max(SMALLEST_PROXY, target_n / MAX_EXTRAPOLATION)
    one = _sized(target_n, target_d, gpu, mfu, budget_flops, floor, data, vocab, points)
    need = one.flops / (get_gpu(gpu).peak_flops * mfu) / 3600
    raise DesignError(f"the budget ({budget_flops:.3g} FLOPs) is too small for a usable law at {target_n:.3g} params: "
                      f"the smallest design ({one.trials} runs, proxies up to {floor:.3g} params) needs {one.flops:.3g} "
                      f"FLOPs, {need:.3g} GPU-hours on {gpu} at MFU {mfu:g} (a law is not read more than "
                      f"{MAX_EXTRAPOLATION:.0f}x beyond its largest proxy)")


def _cost_per_n2(points: int) -> float:
    ladder = sum(SIZE_STEP ** -i for i in range(SIZES))
    return points * 6.0 * ladder * sum(TOKENS_PER_PARAM)


def _data_vocab(data: str) -> int:
    from calibration.proxy.vocab import BYTE_VOCAB, model_vocab, token_file_vocab

    need = token_file_vocab(data) if data != "kjv" else None
    return BYTE_VOCAB if need is None else model_vocab(need)


def _sized(target_n, target_d, gpu, mfu, budget_flops, largest, data, vocab, points) -> CalibrationDesign:
    """The design with this largest proxy, its plan's FLOPs and trials."""
    sizes = [largest / SIZE_STEP ** i for i in reversed(range(SIZES))]
    tokens = [round(k * largest) for k in TOKENS_PER_PARAM]
    design = CalibrationDesign((target_n, target_d), gpu, mfu, budget_flops, largest, sizes, tokens,
                               _batch_grid(largest, min(tokens), gpu, vocab), vocab, data, points)
    design.flops, design.trials = _plan_cost(design)
    return design


def _batch_grid(largest: float, tokens: int, gpu: str, vocab: int) -> list:
    """Powers of two up to the largest batch one GPU holds for the largest proxy (and that still takes
    MIN_STEPS steps on the smallest budget), five of them."""
    from advisor.hardware import get_gpu
    from calibration.proxy.memory import training_bytes
    from calibration.proxy.shape import shape_for_params

    shape = shape_for_params(largest, vocab_size=vocab, seq_len=SEQ_LEN)
    memory = get_gpu(gpu).memory_bytes
    top = 1
    while training_bytes(shape, top * 2) <= memory and top * 2 * SEQ_LEN * MIN_STEPS <= tokens:
        top *= 2
    return [b for b in (top // 16, top // 8, top // 4, top // 2, top) if b >= 1]


def _plan_cost(design: CalibrationDesign) -> tuple[float, int]:
    """FLOPs of every trial the spec will run (coord's later rounds at the first round's cost), the output
    head included, and the number of trials."""
    from calibration.proxy.shape import flops_per_token, shape_from_config
    from calibration.sweep.plan import plan
    from calibration.sweep.spec import SpecError, parse_spec

    try:
        the_plan = plan(parse_spec(design.spec_dict()))
    except SpecError as exc:
        raise DesignError(f"the design's spec is refused: {exc}") from None
    flops = sum(flops_per_token(shape_from_config(t.config), include_head=True) * t.config.steps * t.config.batch_tokens
                for t in the_plan.trials)
    return flops * the_plan.budget_scale, round(len(the_plan.trials) * the_plan.budget_scale)


def batch_note(design: CalibrationDesign) -> str:
    """A warning when the batch grid stops below the batch Step Law's law puts at the smallest budget
    (B = 0.58 D^0.571 tokens, arXiv 2503.04715): the batch optimum will sit on the grid's edge."""
    batch_coef, batch_exp = map(float, STEP_LAW_COEF[3:])
    wanted = batch_coef * min(design.tokens) ** batch_exp / SEQ_LEN
    top = max(design.batch_seqs)
    if top >= wanted:
        return ""
    return (f"the batch grid stops at {top} seqs (what one {design.gpu} holds for the largest proxy, no gradient "
            f"accumulation), below the ~{wanted:.0f} seqs Step Law's law puts at {min(design.tokens):.3g} tokens: "
            "expect the batch optimum on the grid's edge and an edge-bound batch law; take the batch from a "
            "published law (advisor compare)")


def _checked(design: CalibrationDesign) -> CalibrationDesign:
    n, _ = design.target
    if n <= design.largest:
        raise DesignError(f"the target ({n:.3g} params) is not larger than the largest proxy the budget buys "
                          f"({design.largest:.3g}): train the target's own sweep, or lower the budget")
    return design


def expected_interval(design: CalibrationDesign, source_path, borrow: tuple = (), n_boot: int = 50) -> dict:
    """The 90% LR and batch intervals (high/low) that this design gave when replayed on a recorded sweep
    (Step Law dense): its SIZES largest sizes, their smallest and largest budgets, coord with the design's
    points per cell, read at the same extrapolation beyond the largest proxy (in N and in D) as the target
    lies here."""
    from calibration.studies.replay_law import Design, design_cells, design_table, fit, load

    table, cells = load(source_path)
    sizes = sorted({c.n_params for c in cells})
    top = tuple(range(len(sizes) - min(SIZES, len(sizes)), len(sizes)))
    replayed = Design("design", top, "ends", "coord", design.points)
    chosen = design_cells(cells, replayed)
    sub = design_table(table, cells, replayed, 0)
    model = fit(sub, borrow, n_boot)
    f_n, f_d = design.target[0] / design.largest, design.target[1] / max(design.tokens)
    at = (max(c.n_params for c in chosen) * f_n, max(c.tokens for c in chosen) * f_d)
    lr, batch = model.predict_lr(*at), model.predict_batch(*at)
    borrowed = f", borrowing from {'+'.join(b for b, _ in borrow)}" if borrow else ""
    return {"lr_ratio": lr.ratio, "batch_ratio": batch.ratio, "replay_runs": len(sub), "replay_cells": len(chosen),
            "replay_at": list(at), "extrapolation": [f_n, f_d],
            "rests_on": (f"this design replayed on {source_path.parent.name} ({len(chosen)} cells, {len(sub)} of its "
                         f"{len(table)} runs, coord {design.points} per cell{borrowed}), read {f_n:.1f}x beyond its "
                         f"largest size in N and {f_d:.1f}x beyond its largest budget in D; "
                         "benchmarks/replay_search.py and benchmarks/replay_laws.py")}


def best_design(target_n: float, target_d: float, gpu: str, mfu: float, budget_flops: float, source_path,
                borrow: tuple = (), data: str = "kjv", vocab_size: int | None = None):
    """Of the designs with each of POINTS per cell that fit the budget, the one whose replayed LR interval at
    the target is narrowest; returns (design, {points: LR interval ratio} of those weighed)."""
    weighed, best, error = {}, None, None
    for points in POINTS:
        try:
            design = make_design(target_n, target_d, gpu, mfu, budget_flops, data, vocab_size, points)
        except DesignError as exc:
            error = error or exc
            continue
        design.interval = expected_interval(design, source_path, borrow)
        weighed[points] = design.interval["lr_ratio"]
        if best is None or weighed[points] < best.interval["lr_ratio"]:
            best = design
    if best is None:
        raise error
    return best, weighed
