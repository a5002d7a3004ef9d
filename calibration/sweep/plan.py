"""Planning a sweep: the spec becomes cells and trials (plan), and the adaptive grid's added trials
(extension_trials) once some have run.

A cell is one (proxy shape, token budget). Its trials are the LR x batch grid for each seed (plus extra
seeds at the smallest sizes). Token budgets per size come from tokens_per_param (D = k*N), absolute
tokens, and compute budgets (D = C / flops_per_token).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from calibration.proxy.memory import check_fits
from calibration.proxy.shape import (RUNGS, ProxyShape, count_params, flops_per_token, shape_for_params,
                                     shape_from_config)
from calibration.record.trial import TrialConfig
from calibration.sweep import adaptive, search
from calibration.sweep.spec import SHAPE_FIELDS, SpecError, SweepSpec
from calibration.sweep.store import TrialStore

ADDED_BY_ADAPTIVE = ("extend", "reseed")  # new grid points; extra seeds at a settled cell's best points


@dataclass(frozen=True)
class PlannedTrial:
    config: TrialConfig
    cell: str  # JSON key of the cell: {"shape": [...], "tokens": D}
    origin: str  # "grid", or one of ADDED_BY_ADAPTIVE


@dataclass
class SweepPlan:
    """A sweep's initial grid: its trials and its cells (advisor.planning.Plan is a training run's plan)."""

    spec: SweepSpec
    trials: list
    cells: list  # cell keys in plan order
    to_come: int = 0  # trials a search's later rounds will add (search.py); the adaptive grid's are unknown

    @property
    def budget_scale(self) -> float:
        """All the trials the plan will run over those planned now (1 for the grid, before extensions)."""
        return (len(self.trials) + self.to_come) / len(self.trials) if self.trials else 1.0

    @property
    def total_tokens(self) -> int:
        return sum(t.config.steps * t.config.batch_tokens for t in self.trials)

    @property
    def total_flops(self) -> float:
        return sum(trial_flops(t.config) for t in self.trials)


def trial_flops(cfg: TrialConfig) -> float:
    """Training FLOPs of a trial: (6N + attention) per token times the tokens it trains on."""
    return flops_per_token(shape_from_config(cfg)) * cfg.steps * cfg.batch_tokens


def cell_key(cfg: TrialConfig) -> str:
    return json.dumps({"shape": [getattr(cfg, f) for f in SHAPE_FIELDS], "tokens": cfg.tokens})


def describe_cell(cell: str) -> str:
    """'N=1.19e+04 (L1 d32 h2) D=2.4e+05' for a cell key."""
    d = json.loads(cell)
    n_layer, d_model, n_head, d_ff = d["shape"]
    return f"N={_n_params(d['shape']):.3g} (L{n_layer} d{d_model} h{n_head}) D={d['tokens']:.3g}"


def resolve_shapes(spec: SweepSpec) -> list[tuple]:
    """The spec's sizes as (n_layer, d_model, n_head, d_ff), smallest first, duplicates dropped."""
    vocab = spec.trial.get("vocab_size", 256)
    seq_len = spec.trial.get("seq_len", 128)
    shapes = []
    for name in spec.rungs:
        if name not in RUNGS:
            raise SpecError(f"sizes.rungs: unknown rung {name!r} (rungs: {', '.join(RUNGS)})")
        r = RUNGS[name]
        shapes.append((r.n_layer, r.d_model, r.n_head, r.d_ff))
    for n in spec.n_params:
        try:
            s = shape_for_params(n, vocab_size=vocab, seq_len=seq_len)
        except ValueError as exc:
            raise SpecError(f"sizes.n_params: {exc}") from None
        shapes.append((s.n_layer, s.d_model, s.n_head, s.d_ff))
    shapes += list(spec.shapes)
    unique = sorted(set(shapes), key=lambda s: _n_params(s))
    return unique


def _n_params(shape) -> int:
    """Non-embedding parameters of a (n_layer, d_model, n_head, d_ff) shape (the vocabulary does not count)."""
    return count_params(ProxyShape(*shape))[0]


def plan(spec: SweepSpec) -> SweepPlan:
    """All trials of the spec's initial grid, or of a search's first round (the adaptive grid or the
    search's later rounds add more while running)."""
    trials, cells = [], []
    shapes = resolve_shapes(spec)
    for i, shape in enumerate(shapes):
        probe = spec.base_config(shape, tokens=2**62, batch_seqs=1)  # only its shape and seq_len are used
        _check_memory(shape_from_config(probe), max(spec.batch_seqs), spec.device)
        n = count_params(shape_from_config(probe))[0]
        per_token = flops_per_token(shape_from_config(probe))
        budgets = [round(k * n) for k in spec.tokens_per_param] + list(spec.tokens)
        budgets += [round(c / per_token) for c in spec.flops]
        seeds = list(spec.seeds)
        if i < spec.extra_seeds_smallest:
            seeds += list(spec.extra_seeds)
        for tokens in sorted(set(budgets)):
            key = None
            for batch in spec.batch_seqs:
                steps = tokens // (batch * probe.seq_len)
                if steps < spec.min_steps:
                    raise SpecError(
                        f"the [budget] of {tokens:,} tokens at N={n:,} with batch.seqs {batch} x trial.seq_len "
                        f"{probe.seq_len} = {batch * probe.seq_len:,} tokens per step gives {steps} steps, under "
                        f"min_steps {spec.min_steps}: raise the budget, lower the batch grid, trial.seq_len "
                        "or min_steps"
                    )
                for lr in spec.lr if spec.search.method == "grid" else ():
                    for seed in seeds:
                        cfg = spec.base_config(shape, tokens=tokens, batch_seqs=batch, lr=lr, seed=seed)
                        key = cell_key(cfg)
                        trials.append(PlannedTrial(cfg, key, "grid"))
            if spec.search.method != "grid":  # a search's first round replaces the grid (search.py)
                base = spec.base_config(shape, tokens=tokens, batch_seqs=max(spec.batch_seqs), lr=max(spec.lr), seed=0)
                key = cell_key(base)
                trials += [PlannedTrial(cfg, key, origin) for cfg, origin in search.initial_trials(spec, base, key, seeds)]
            cells.append(key)
    _check_prune_rungs(spec, trials)
    return SweepPlan(spec, trials, cells, search.trials_to_come(spec, len(cells)))


def _check_prune_rungs(spec: SweepSpec, trials: list[PlannedTrial]) -> None:
    """Pruning rungs that do not fit a planned trial's run are refused before anything trains. A search's
    later rounds may pick any batch of its ladder in any cell: every one is checked, whatever round 0 drew."""
    from calibration.sweep.prune import check_rungs

    cfgs = [t.config for t in trials]
    if spec.search.method != "grid":
        first_of_cell = {t.cell: t.config for t in trials}
        ladder = search.batch_ladder(spec.batch_seqs)
        cfgs += [cfg.replace(batch_seqs=b) for cfg in first_of_cell.values() for b in ladder]
    problem = check_rungs(spec.prune, cfgs)
    if problem:
        raise SpecError(problem)


def _check_memory(shape: ProxyShape, batch_seqs: int, device: str = "auto") -> None:
    """Refuse, before anything is built, a size that surely cannot be trained: on this machine, or for a GPU
    spec planned where there is no GPU (a Ray head node, a laptop) on the largest GPU there is. Each trial
    checks its own device again (calibration.proxy.train.build_model)."""
    try:
        check_fits(shape, batch_seqs, remote_gpu=str(device).startswith("cuda"))
    except ValueError as exc:
        raise SpecError(f"[sizes]: {exc}") from None


def max_batch_seqs(spec: SweepSpec, tokens: int, seq_len: int) -> int:
    """The largest batch (sequences) that still takes min_steps steps on `tokens`."""
    return tokens // (spec.min_steps * seq_len)


def extension_trials(store: TrialStore, spec: SweepSpec) -> tuple[list[PlannedTrial], int]:
    """New trials the adaptive grid asks for, over cells whose trials have all finished.

    Records each bound hit as an event. Returns (trials, number of cells not yet finished).
    """
    by_cell: dict[str, list] = {}
    for row in store.trials(spec_hash=store.meta("spec_hash")):
        by_cell.setdefault(row["cell"], []).append(row)
    new, waiting = [], 0
    for cell, rows in by_cell.items():
        if any(r["status"] in ("pending", "running") for r in rows):
            waiting += 1
            continue
        points = adaptive.points_of(rows)
        base = rows[0]["config"]
        proposal = adaptive.propose(
            points, spec.adaptive, spec.lr, spec.batch_seqs, max_batch_seqs(spec, base.tokens, base.seq_len)
        )
        for kind, detail in proposal.events:
            store.add_event(kind, cell, detail)
        seeds = sorted({r["config"].seed for r in rows if r["origin"] != "reseed"})
        for lr, batch in proposal.points:
            for seed in seeds:
                cfg = base.replace(lr=lr, batch_seqs=batch, seed=seed)
                new.append(PlannedTrial(cfg, cell, "extend"))
        if not proposal.points:
            new += _reseed(spec, cell, base, rows, points)
    return new, waiting


def _reseed(spec: SweepSpec, cell: str, base: TrialConfig, rows: list, points: list) -> list[PlannedTrial]:
    """A settled cell's best points get the extra seeds they lack (once per cell: see adaptive.py)."""
    if not spec.extra_seeds_near_best or any(r["origin"] == "reseed" for r in rows):
        return []
    have = {(r["config"].lr, r["config"].batch_seqs, r["config"].seed) for r in rows}
    return [PlannedTrial(base.replace(lr=lr, batch_seqs=batch, seed=seed), cell, "reseed")
            for lr, batch in adaptive.best_points(points, spec.extra_seeds_near_best)
            for seed in spec.extra_seeds if (lr, batch, seed) not in have]
