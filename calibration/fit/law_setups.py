"""What differs between fitting the laws of one setup and of several: the strategy ScaleLawFitter is given.

The fitter's stages are the same for every fit (fitter.py); its `setups` strategy decides, with the same
methods, what those stages work on:

- `OneSetup()` (the default): your table alone; each law a stack of one (laws.Stack.one).
- `WithSources(sources)` (joint.py, `advisor fit --with`): your table anchored on sources: a prefactor per
  setup, the exponents shared where your cells agree (joint_law.py); the model is of your setup.
- `AcrossSetups(tables)` (cross_setup.py, `advisor fit --across`): setups on an equal footing, the model of
  a setup none of them is (cross_law.py), validated by leaving each setup out.

The methods: `load` (read and check the sources before the fit), `stacks` (each law's cells, stacked),
`law_rng` (the generator of the laws' bootstraps), `fit_forms` (feasibility, each form's fit, its
cross-validation and bootstrap), `validate` (held-out validation) and `record` (what the artifact adds).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from advisor.artifact import Validation
from calibration.fit.bootstrap import bootstrap_law
from calibration.fit.coverage import interval_coverage
from calibration.fit.joint_validate import held_out_mine
from calibration.fit.laws import LawFit, Stack, design, fit_forms
from calibration.fit.validate import CellTable, held_out_largest, leave_one_cell_out


class LawSetups(Protocol):
    """The strategy's interface (the methods above). `how`: how the laws are fitted, as the fitter's errors
    say it ("jointly"; empty for one setup); `same_setup`: whether the model is of the target's setup (None:
    the fitter's `same_setup` decides)."""

    how: str
    same_setup: bool | None

    def get_params(self) -> dict: ...
    def load(self, fitter) -> list: ...
    def stacks(self, table: CellTable, samples: dict, sources: list) -> dict[str, Stack]: ...
    def law_rng(self, rng: np.random.Generator, seed: int) -> np.random.Generator: ...
    def fit_forms(self, stack: Stack, forms, rng: np.random.Generator) -> tuple[list[LawFit], list]: ...
    def validate(self, fitter) -> Validation: ...
    def record(self, fitter) -> None: ...


@dataclass(frozen=True)
class OneSetup:
    """Your table alone: each law's forms fitted to its cells, then bootstrapped in the order chosen."""

    how = ""  # how the laws were fitted, for the error when none can be
    same_setup = None  # whether the model is of the target's setup: the fitter's same_setup decides

    def get_params(self) -> dict:
        return {}

    def load(self, fitter) -> list:
        """The sources (none)."""
        return []

    def stacks(self, table: CellTable, samples: dict, sources: list) -> dict[str, Stack]:
        return {law: Stack.one(table.inputs, table.y(law), table.w(law), samples.get(law)) for law in ("lr", "batch")}

    def law_rng(self, rng: np.random.Generator, seed: int) -> np.random.Generator:
        """The laws' bootstrap continues the generator of the optima's resamples."""
        return rng

    def fit_forms(self, stack: Stack, forms, rng: np.random.Generator) -> tuple[list[LawFit], list]:
        fits, skipped = fit_forms(stack, forms)
        if stack.samples is not None:
            for f in fits:
                bootstrap_law(f, design(stack, f.form), stack.y, stack.w, stack.samples, rng)
        return fits, skipped

    def validate(self, fitter) -> Validation:
        """The largest size held out (forms chosen again), each cell left out, and the intervals' coverage."""
        table = fitter.table_
        batch_form = fitter.batch_fits_[0].form if fitter.batch_fits_ else None
        validation = Validation(held_out_largest(table), leave_one_cell_out(table, fitter.lr_fits_[0].form, batch_form))
        if fitter.optima_samples_:
            validation.coverage = interval_coverage(table, fitter.optima_samples_,
                                                    np.random.default_rng(fitter.seed + 1))
        return validation

    def record(self, fitter) -> None:
        """Nothing beyond the artifact every fit writes."""


class StackedSetups:
    """What the fits of several setups share (joint.WithSources, cross_setup.AcrossSetups): their laws'
    own generator, and validation on the table's cells by joint refits without them."""

    def law_rng(self, rng: np.random.Generator, seed: int) -> np.random.Generator:
        """The stacked fits draw from their own generator (their consistency tests and bootstraps)."""
        return np.random.default_rng(seed + 3)

    def validate(self, fitter) -> Validation:
        """The table's cells predicted by joint refits without them: its largest size, and each cell in turn.
        (The interval coverage of a one-setup fit is not computed for a stacked one.)"""
        return Validation(held_out_mine(fitter, largest=True), held_out_mine(fitter, largest=False))
