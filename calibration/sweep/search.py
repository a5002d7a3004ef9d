"""Search within a cell: where a sweep places its trials when [search] method is sobol, tpe or coord.

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

The methods are a registry (SEARCHES): each declares its own entry (search_base.SearchMethod: the settings
it reads, the libraries it needs, its first and later rounds), and spec.py reads [search] through it.
"""
from __future__ import annotations

from calibration.sweep import adaptive
from calibration.sweep.search_base import SOBOL, batch_ladder
from calibration.sweep.search_coord import COORD
from calibration.sweep.search_tpe import TPE
from calibration.sweep.spec_types import SearchSettings, SweepSpec

SEARCHES = {method.name: method for method in (SOBOL, TPE, COORD)}
METHODS = ("grid", *SEARCHES)  # the grid (the default) is no search: [lr] x [batch], widened by adaptive.py


def round_sizes(s: SearchSettings) -> list[int]:
    """Points per round: a method without model-guided rounds (sobol), one round of the whole budget; tpe and
    coord, the first round and then round_trials each."""
    if not SEARCHES[s.method].rounds:
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


def first_round(spec: SweepSpec, cell: str) -> list[tuple[float, int]]:
    """Round 0's (lr, batch) points: a Sobol design (sobol, tpe) or an LR row (coord: search_coord.py)."""
    return SEARCHES[spec.search.method].first(spec, cell, round_sizes(spec.search)[0])


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
    """Round k's n new (lr, batch) points from the method's model (search_tpe.py, search_coord.py), fed the
    finished points' losses {(batch, lr): mean over seeds, inf if diverged or pruned}."""
    losses = adaptive.point_losses(points)
    tried = {(p.lr, p.batch_seqs) for p in points}  # failed-only points too: a rerun would be a duplicate
    return SEARCHES[spec.search.method].next(spec, cell, k, losses, tried, adaptive.pruned_only(points), n)


def trials_to_come(spec: SweepSpec, n_cells: int) -> int:
    """Trials a search's rounds after the first will add over all cells (0 for the grid and sobol)."""
    if spec.search.method == "grid":
        return 0
    return sum(round_sizes(spec.search)[1:]) * len(spec.seeds) * n_cells


def search_line(the_plan) -> str:
    """The plan's search in one line: method, budget, rounds, box, and the compute of all its rounds."""
    s, spec = the_plan.spec.search, the_plan.spec
    method, sizes = SEARCHES[s.method], round_sizes(s)
    first = f"{method.article} {method.design} of {sizes[0]}"
    rounds = (f"{first}, then {len(sizes) - 1} model-guided round(s) of up to "
              f"{s.round_trials}" if method.rounds else f"one {method.design}")
    box = f"LR in [{min(spec.lr):g}, {max(spec.lr):g}]" + (
        f" (brackets may step out to [{spec.adaptive.lr_min:g}, {spec.adaptive.lr_max:g}])" if method.rounds else "")
    scale = the_plan.budget_scale
    return (f"search: {s.method} (seed {s.seed}), {s.trials_per_cell} points per cell x {len(spec.seeds)} seed(s): "
            f"{len(the_plan.trials)} planned now, {the_plan.to_come} in later rounds ({rounds}); {box}, batch "
            f"(seqs) on {list(batch_ladder(spec.batch_seqs))}; all rounds: about {the_plan.total_tokens * scale:.3g} "
            f"tokens, {the_plan.total_flops * scale:.3g} FLOPs (any time estimate counts them)")
