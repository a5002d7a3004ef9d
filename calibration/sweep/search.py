"""Search within a cell: where a sweep places its trials when [search] method is sobol or tpe.

The grid (the default and the reference) trains [lr] x [batch] and widens it where an optimum sits on an
edge (adaptive.py). A search instead trains `trials_per_cell` (LR, batch) points per cell, each for every
seed in seeds.values:

- The box. log LR uniform in [min, max] of [lr]; batch on a ladder: the powers of two within [min, max]
  of batch.seqs, and those two values (batch sizes are discrete, and the local fit of
  calibration/fit/optimum.py wants several trials per batch).
- sobol: one round of scrambled Sobol points over log LR x ladder index (scipy.stats.qmc).
- tpe: round 0 is a Sobol design of `initial_trials` points; each later round adds `round_trials` points:
  first the points that bracket the best point in LR at its batch (one LR step, the spec's grid step,
  above and below, where nothing was tried that close: the fit needs its optimum inside the trials and
  the penalty model needs the high-LR side; a pruned point does not bracket, as the fitter drops it: the
  bracket goes halfway to it instead), then Optuna's TPE, fitted to the finished points
  (search_tpe.py). Brackets may leave the box by one step at a time, as the adaptive grid does, within
  [adaptive] lr_min and lr_max.

Resumable exactly: round k of a cell is a function of (search seed, cell, the finished trials of its
rounds < k, read in a canonical order), proposed only when none of its trials is pending or running, and
tagged in the store (origin "search:tpe:round2"), so a killed and resumed sweep proposes what an
uninterrupted one does, and never proposes a round twice.
"""
from __future__ import annotations

import hashlib
import importlib.util
import math
import warnings

from calibration.sweep import adaptive
from calibration.sweep.spec import SearchSettings, SpecError, SweepSpec

METHODS = ("grid", "sobol", "tpe", "coord")
LIBRARIES = {"sobol": ("scipy",), "tpe": ("scipy", "optuna"), "coord": ()}
ROUNDED = ("tpe", "coord")  # methods with model-guided rounds after round 0
INSTALL_HINT = "pip install 'scaling-advisor[calibrate]'"


def check_settings(s: SearchSettings, lr: tuple, batch_seqs: tuple, extra_seeds: tuple) -> None:
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
    for library in LIBRARIES[s.method]:
        if importlib.util.find_spec(library) is None:
            raise SpecError(f"search.method {s.method!r} needs {library}, which is not installed: {INSTALL_HINT} "
                            f"(or pip install {library})")


def min_trials(n_batch: int) -> int:
    """The smallest budget whose trials can carry the local fit: the model's coefficients + 1 (the fit is
    trusted only with more trials than coefficients: optimum.py), and MIN_LR_VALUES_CUBIC LR values."""
    from calibration.fit.optimum import MIN_LR_VALUES_CUBIC, CellGeometry

    model = "2d" if n_batch >= 3 else "1d+offset" if n_batch == 2 else "1d"
    return max(CellGeometry(model, 1.0, 1.0, MIN_LR_VALUES_CUBIC, n_batch, cubic=True).n_coef + 1,
               MIN_LR_VALUES_CUBIC)


def batch_ladder(batch_seqs: tuple) -> tuple:
    """The batch values a search may pick: powers of two within [min, max] of batch.seqs, and both ends."""
    lo, hi = min(batch_seqs), max(batch_seqs)
    powers = {2**k for k in range(int(math.log2(hi)) + 1) if lo <= 2**k <= hi}
    return tuple(sorted(powers | {lo, hi}))


def round_sizes(s: SearchSettings) -> list[int]:
    """Points per round: sobol, one round of the whole budget; tpe and coord, the first round and then
    round_trials each."""
    if s.method == "sobol":
        return [s.trials_per_cell]
    sizes, left = [s.initial_trials], s.trials_per_cell - s.initial_trials
    while left > 0:
        sizes.append(min(s.round_trials, left))
        left -= sizes[-1]
    return sizes


def origin_tag(method: str, k: int) -> str:
    return f"search:{method}:round{k}"


def round_of(origin: str) -> int | None:
    """The round of a search trial's origin tag (None for grid and adaptive trials)."""
    if not origin.startswith("search:"):
        return None
    return int(origin.rsplit("round", 1)[1])


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


def first_round(spec: SweepSpec, cell: str) -> list[tuple[float, int]]:
    """Round 0's (lr, batch) points: a Sobol design (sobol, tpe) or an LR row (coord: search_coord.py)."""
    from calibration.sweep.search_coord import first_row

    size = round_sizes(spec.search)[0]
    return first_row(spec, size) if spec.search.method == "coord" else sobol_points(size, spec, cell)


def initial_trials(spec: SweepSpec, base, cell: str, seeds: list) -> list[tuple]:
    """Round 0 of a cell: (config, origin) for each point and seed."""
    tag = origin_tag(spec.search.method, 0)
    return [(base.replace(lr=lr, batch_seqs=batch, seed=seed), tag)
            for lr, batch in first_round(spec, cell) for seed in seeds]


def search_trials(store, spec: SweepSpec) -> list[tuple]:
    """The next round's (config, cell, origin) of every cell whose trials have all finished."""
    by_cell: dict[str, list] = {}
    for row in store.trials(spec_hash=store.meta("spec_hash")):
        by_cell.setdefault(row["cell"], []).append(row)
    sizes, new = round_sizes(spec.search), []
    for cell, rows in sorted(by_cell.items()):
        if any(r["status"] in ("pending", "running") for r in rows):
            continue
        rounds = [round_of(r["origin"]) for r in rows]
        k = max((r for r in rounds if r is not None), default=-1) + 1
        if k == 0 or k >= len(sizes):
            continue  # not a search cell (another spec's trials), or its budget is spent
        points = next_round(spec, cell, _finished_points(rows), sizes[k], k)
        base = rows[0]["config"]
        new += [(base.replace(lr=lr, batch_seqs=batch, seed=seed), cell, origin_tag(spec.search.method, k))
                for lr, batch in points for seed in spec.seeds]
    return new


def _finished_points(rows: list) -> list:
    """The cell's finished trials as PointResults, in a canonical order (never the order they finished in)."""
    return sorted(adaptive.points_of(rows), key=lambda p: (p.batch_seqs, p.lr, p.seed))


def next_round(spec: SweepSpec, cell: str, points: list, n: int, k: int) -> list[tuple[float, int]]:
    """Round k's n new (lr, batch) points: coord's (search_coord.py); for tpe, brackets around the best
    point first, then TPE's."""
    from calibration.sweep.search_tpe import tpe_points

    losses = adaptive.point_losses(points)  # (batch, lr) -> mean over seeds, inf if diverged or pruned
    tried = {(p.lr, p.batch_seqs) for p in points}  # failed-only points too: a rerun would be a duplicate
    if spec.search.method == "coord":
        from calibration.sweep.search_coord import coord_points

        return coord_points(losses, spec, n, tried, adaptive.pruned_only(points))
    out = [p for p in brackets(losses, spec, adaptive.pruned_only(points)) if p not in tried][:n]
    seed = [spec.search.seed, cell_salt(cell), k]
    for p in tpe_points(losses, spec, n - len(out), seed, avoid=tried | set(out)):
        out.append(p)
    return out


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


def trials_to_come(spec: SweepSpec, n_cells: int) -> int:
    """Trials a search's rounds after the first will add over all cells (0 for the grid and sobol)."""
    if spec.search.method == "grid":
        return 0
    return sum(round_sizes(spec.search)[1:]) * len(spec.seeds) * n_cells


def search_line(the_plan) -> str:
    """The plan's search in one line: method, budget, rounds, box, and the compute of all its rounds."""
    s, spec = the_plan.spec.search, the_plan.spec
    sizes = round_sizes(s)
    first = f"an LR row of {sizes[0]}" if s.method == "coord" else f"a Sobol design of {sizes[0]}"
    rounds = (f"{first}, then {len(sizes) - 1} model-guided round(s) of up to "
              f"{s.round_trials}" if s.method in ROUNDED else "one Sobol design")
    box = f"LR in [{min(spec.lr):g}, {max(spec.lr):g}]" + (
        f" (brackets may step out to [{spec.adaptive.lr_min:g}, {spec.adaptive.lr_max:g}])" if s.method in ROUNDED else "")
    scale = the_plan.budget_scale
    return (f"search: {s.method} (seed {s.seed}), {s.trials_per_cell} points per cell x {len(spec.seeds)} seed(s): "
            f"{len(the_plan.trials)} planned now, {the_plan.to_come} in later rounds ({rounds}); {box}, batch "
            f"(seqs) on {list(batch_ladder(spec.batch_seqs))}; all rounds: about {the_plan.total_tokens * scale:.3g} "
            f"tokens, {the_plan.total_flops * scale:.3g} FLOPs (any time estimate counts them)")
