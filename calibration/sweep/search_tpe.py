"""Model-guided points for a search round: Optuna's tree-structured Parzen estimator (TPE).

TPE models where good and poor points lie and proposes where the good ones' density is high relative to
the poor ones': around the optimum, which is where the local fit of the cell's optimum needs its trials.
A fresh in-memory study per round, fed the cell's finished points in a canonical order and seeded by
(search seed, cell, round), makes a round a function of what finished before it (search.py). Within a
round, the constant liar spreads the points it asks for. Optuna is imported here only (the [calibrate]
extra installs it; spec.py refuses a tpe spec without it).
"""
from __future__ import annotations

import math
import warnings

from calibration.sweep.search_base import SearchMethod, batch_ladder, brackets, cell_salt, sobol_points

MAX_TRIES = 20  # asks per wanted point before giving up on finding an untried one


def tpe_round(spec, cell: str, k: int, losses: dict, tried: set, pruned: set, n: int) -> list[tuple[float, int]]:
    """Round k's n points: the brackets around the best point first (the fit needs its optimum inside the
    trials, the penalty model the high-LR side), then TPE's, seeded by (search seed, cell, round)."""
    out = [p for p in brackets(losses, spec, pruned) if p not in tried][:n]
    seed = [spec.search.seed, cell_salt(cell), k]
    for p in tpe_points(losses, spec, n - len(out), seed, avoid=tried | set(out)):
        out.append(p)
    return out


def tpe_points(losses: dict, spec, n: int, seed: list, avoid: set) -> list[tuple[float, int]]:
    """n untried (lr, batch) points from TPE over the box, fitted to losses {(batch, lr): mean loss}.

    Diverged points (inf) count as worse than every finished one; the LR box widens to take in any
    point tried outside [lr] (brackets may step out of it)."""
    if n <= 0:
        return []
    import numpy as np
    import optuna
    from optuna.distributions import FloatDistribution, IntDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ladder = batch_ladder(spec.batch_seqs)
    logs = [math.log(lr) for _, lr in losses]
    space = {"log_lr": FloatDistribution(min([math.log(min(spec.lr))] + logs), max([math.log(max(spec.lr))] + logs)),
             "batch_index": IntDistribution(0, len(ladder) - 1)}
    sampler_seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # multivariate TPE and the constant liar are marked experimental
        sampler = optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=0, multivariate=True,
                                             constant_liar=True)
        study = optuna.create_study(sampler=sampler)
        study.add_trials(_observed(losses, ladder, space))
        return _ask(study, space, ladder, n, avoid)


def _observed(losses: dict, ladder: tuple, space: dict) -> list:
    """The finished points as completed Optuna trials, in canonical (batch, lr) order; batches off the
    ladder (none, in a search's own store) are left out."""
    import optuna

    finite = [v for v in losses.values() if math.isfinite(v)]
    worst = max(finite) + 1.0 if finite else 1.0  # diverged: worse than any finished point
    trials = []
    for (batch, lr), loss in sorted(losses.items()):
        if batch not in ladder:
            continue
        params = {"log_lr": math.log(lr), "batch_index": ladder.index(batch)}
        trials.append(optuna.trial.create_trial(params=params, distributions=space,
                                                value=loss if math.isfinite(loss) else worst))
    return trials


def _ask(study, space: dict, ladder: tuple, n: int, avoid: set) -> list[tuple[float, int]]:
    """Ask TPE for n points not in `avoid`; asked points stay running, so the liar spreads the next."""
    from calibration.sweep.adaptive import round_lr

    out: list[tuple[float, int]] = []
    for _ in range(n * MAX_TRIES):
        if len(out) == n:
            break
        params = study.ask(space).params
        point = (round_lr(math.exp(params["log_lr"])), ladder[params["batch_index"]])
        if point not in avoid and point not in out:
            out.append(point)
    return out


# tpe: round 0 a Sobol design of initial_trials points (half the budget by default), then round_trials each
TPE = SearchMethod("tpe", ("scipy", "optuna"), first=lambda spec, cell, n: sobol_points(n, spec, cell),
                   design="Sobol design", rounds=True, default_initial=lambda budget: -(-budget // 2), next=tpe_round)
