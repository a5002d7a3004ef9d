"""The validated sweep spec's types: SweepSpec and its [adaptive] and [search] tables, and SpecError.

spec.py reads and checks a TOML spec into them; they sit below it so that the adaptive grid and the
search methods read their settings without importing the parser (which consults the search methods'
registry: calibration/sweep/search.py).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from calibration.record.trial import TrialConfig


class SpecError(ValueError):
    """A sweep spec is invalid; the message names the key."""


@dataclass(frozen=True)
class SearchSettings:
    """How a cell places its trials: the grid, or a search of trials_per_cell points (calibration.sweep.search)."""

    method: str = "grid"
    trials_per_cell: int = 0
    seed: int = 0
    initial_trials: int = 0  # tpe: the Sobol design before the model-guided rounds
    round_trials: int = 0  # tpe: points per model-guided round


@dataclass(frozen=True)
class AdaptiveSettings:
    """How the grid grows when a row's best LR (or a cell's best batch) sits on an edge."""

    extend: bool = True
    extend_batch: bool = True
    max_extensions: int = 3
    lr_min: float = 1e-5
    lr_max: float = 1.0
    batch_min: int = 1
    batch_max: int = 4096
    refine: bool = False


@dataclass(frozen=True)
class PruneSettings:
    """Early stopping of hopeless trials (calibration/sweep/prune.py); method "" is off."""

    method: str = ""
    rungs: tuple = (0.2, 0.5)  # fractions of each trial's run, ascending, in (0, 1)
    eta: float = 3.0  # at a rung a trial goes on while in the best 1/eta of the cell's finished trials ...
    margin: float = 0.08  # ... or within this fraction of their best loss there
    min_trials: int = 4  # finished trials with a loss at the rung needed before the rung prunes


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec. Sizes are resolved to shapes by calibration.sweep.plan (needs torch)."""

    name: str = "sweep"
    description: str = ""
    device: str = "auto"
    rungs: tuple = ()
    n_params: tuple = ()
    shapes: tuple = ()  # tuples (n_layer, d_model, n_head, d_ff)
    tokens_per_param: tuple = ()
    tokens: tuple = ()
    flops: tuple = ()
    lr: tuple = ()  # sorted ascending
    batch_seqs: tuple = ()  # sorted ascending
    seeds: tuple = (0,)
    extra_seeds: tuple = ()  # run additionally at the smallest sizes and/or at cells' best points
    extra_seeds_smallest: int = 0  # how many of the smallest sizes get extra_seeds
    extra_seeds_near_best: int = 0  # other cells get extra_seeds at this many best points, once settled
    min_steps: int = 20
    trial: dict = field(default_factory=dict)  # TrialConfig defaults
    adaptive: AdaptiveSettings = AdaptiveSettings()
    search: SearchSettings = SearchSettings()
    prune: PruneSettings = field(default_factory=lambda: PruneSettings())  # off unless [search] prune says so

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["trial"] = dict(sorted(self.trial.items()))
        return d

    @property
    def spec_hash(self) -> str:
        """Hash of what the spec trains (not its name, description or device)."""
        d = self.to_dict()
        for key in ("name", "description", "device"):
            d.pop(key)
        if not d["extra_seeds_near_best"]:
            d.pop("extra_seeds_near_best")  # added later: specs without it keep their hash (and stores)
        if d["search"]["method"] == "grid":
            d.pop("search")  # likewise: grid specs keep their hash
        if not d["prune"]["method"]:
            d.pop("prune")  # pruning off: specs keep the hash (and stores) they had before it existed
        blob = json.dumps(d, sort_keys=True, default=list)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def base_config(self, shape: tuple, **grid) -> TrialConfig:
        """The TrialConfig of one grid point: spec defaults, the shape, then the grid values."""
        n_layer, d_model, n_head, d_ff = shape
        return TrialConfig(n_layer=n_layer, d_model=d_model, n_head=n_head, d_ff=d_ff, **self.trial, **grid)
