"""What every search method shares: its entry in the registry (`SearchMethod`: what it reads of [search],
the libraries it needs, the checks its settings pass), the box it searches (the batch ladder, the LR step,
Sobol points over it) and the brackets around a cell's best point. calibration/sweep/search.py keeps the
registry and runs the rounds; each method declares its own entry (sobol here; tpe in search_tpe.py, coord
in search_coord.py), and spec.py reads [search] through the registry.
"""
from __future__ import annotations

import hashlib
import importlib.util
import math
import warnings
from dataclasses import dataclass
from typing import Callable

from calibration.record.local_model import min_trials
from calibration.sweep import adaptive
from calibration.sweep.spec_types import SearchSettings, SpecError, SweepSpec

INSTALL_HINT = "pip install 'scaling-advisor[calibrate]'"


@dataclass(frozen=True)
class SearchMethod:
    """One way to place a cell's trials: its [search] settings, its rounds and how it proposes them.

    first(spec, cell, n) gives round 0's n (lr, batch) points; a method with model-guided rounds (`rounds`)
    reads initial_trials (default `default_initial(trials_per_cell)`) and round_trials, and
    next(spec, cell, k, losses, tried, pruned, n) gives round k's n points from the finished ones."""

    name: str
    libraries: tuple  # modules it imports, checked when the spec is read
    first: Callable
    design: str  # round 0 in words: "Sobol design", "LR row"
    article: str = "a"
    rounds: bool = False
    default_initial: Callable | None = None
    next: Callable | None = None

    def check(self, s: SearchSettings, lr: tuple, batch_seqs: tuple, extra_seeds: tuple) -> None:
        """Refuse, before anything trains, a search that cannot give every cell a fittable optimum."""
        key = "search.trials_per_cell"
        if len(lr) < 2:
            raise SpecError(f"search.method {s.method!r} searches an LR range: [lr] needs min < max (2+ values)")
        if extra_seeds:
            raise SpecError(f"seeds.extra works with the grid only; search.method {s.method!r} runs every point "
                            "for each of seeds.values")
        need = min_trials(len(batch_ladder(batch_seqs)))
        if s.trials_per_cell < need:
            raise SpecError(f"{key} = {s.trials_per_cell} is under {need}, what one cell's local fit needs here "
                            f"(its model's coefficients + 1, with {len(batch_ladder(batch_seqs))} batch value(s))")
        if s.initial_trials > s.trials_per_cell:
            raise SpecError(f"search.initial_trials ({s.initial_trials}) exceeds {key} ({s.trials_per_cell})")
        for library in self.libraries:
            if importlib.util.find_spec(library) is None:
                raise SpecError(f"search.method {s.method!r} needs {library}, which is not installed: "
                                f"{INSTALL_HINT} (or pip install {library})")


def batch_ladder(batch_seqs: tuple) -> tuple:
    """The batch values a search may pick: powers of two within [min, max] of batch.seqs, and both ends."""
    lo, hi = min(batch_seqs), max(batch_seqs)
    powers = {2**k for k in range(int(math.log2(hi)) + 1) if lo <= 2**k <= hi}
    return tuple(sorted(powers | {lo, hi}))


def cell_salt(cell: str) -> int:
    """A stable integer of the cell key: each cell gets its own scrambled design."""
    return int(hashlib.sha256(cell.encode()).hexdigest()[:8], 16)


def sobol_points(n: int, spec: SweepSpec, cell: str, k: int = 0) -> list[tuple[float, int]]:
    """n scrambled Sobol (lr, batch_seqs) points over the box, seeded by (search seed, cell, round)."""
    import numpy as np
    from scipy.stats import qmc

    rng = np.random.default_rng([spec.search.seed, cell_salt(cell), k])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n need not be a power of two: the first n points still spread
        unit = qmc.Sobol(d=2, scramble=True, seed=rng).random(n)
    lo, hi = math.log(min(spec.lr)), math.log(max(spec.lr))
    ladder = batch_ladder(spec.batch_seqs)
    return [(adaptive.round_lr(math.exp(lo + u * (hi - lo))), ladder[min(int(v * len(ladder)), len(ladder) - 1)])
            for u, v in unit]


def lr_step(spec: SweepSpec) -> float:
    """The spec's LR grid step (ratio between neighbours): how far a bracket lies from the best LR."""
    return (max(spec.lr) / min(spec.lr)) ** (1 / (len(spec.lr) - 1))


def brackets(losses: dict, spec: SweepSpec, pruned: set = frozenset()) -> list[tuple[float, int]]:
    """LRs one step above and below the best point, at its batch, where nothing was tried that close
    (a diverged trial above counts as tried: it brackets the optimum). A pruned-only point (`pruned`,
    (batch, lr) pairs) does not: the fitter drops it; a bracket that would land on or beyond one goes to
    the geometric midpoint between the best point and it instead (adaptive.lr_beyond)."""
    finite = {key: v for key, v in losses.items() if math.isfinite(v)}
    if not finite:
        return []
    batch, best = min(finite, key=lambda key: (finite[key], key))
    step = lr_step(spec)
    blockers = sorted(lr for b, lr in pruned if b == batch)
    row = [lr for b, lr in losses if b == batch and (b, lr) not in pruned]
    out = []
    if not any(best < lr <= best * step * 1.01 for lr in row):
        up = adaptive.lr_beyond(best, best * step, blockers, step)
        if up is not None and up <= spec.adaptive.lr_max:
            out.append((up, batch))
    if not any(best / step / 1.01 <= lr < best for lr in row):
        down = adaptive.lr_beyond(best, best / step, blockers, step)
        if down is not None and down >= spec.adaptive.lr_min:
            out.append((down, batch))
    return out


# sobol: one round of scrambled Sobol points over log LR x ladder index (scipy.stats.qmc)
SOBOL = SearchMethod("sobol", ("scipy",), first=lambda spec, cell, n: sobol_points(n, spec, cell),
                     design="Sobol design")
