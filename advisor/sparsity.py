"""How a fitted model reads a mixture of experts (MoE): the artifact's optional `sparsity` record.

The laws take one size N. For an MoE the record says which: N_eff = N_total^(1-w) · N_active^w, w = 1 the
active count, w = 0 the total (for a dense target N_active = N_total, so N_eff = N whatever w). A model
without the record was fitted on dense runs and cannot say how an MoE enters (`advisor recommend
--active-params` refuses it).

The record also keeps what its sweep could not settle: the total sizes it measured (Step Law's MoE sweep
has one, 2.15B) and an `alternative` reading that fits the same cells nearly as well but moves with the
total differently (the dense laws at their own N_eff, w and offsets fitted on the MoE cells). Beyond the
measured total the two disagree, and the advice's interval reaches the alternative (the `sparsity`
component, advisor/model.py). Beyond the MoE cells' (N, D) range the alternative, whose exponents the dense
sweep measured over a wider range, is also one of the candidate law forms (`alternative_form`). Written by calibration/fit/sparsity.py; docs/fitted-model.md, "sparsity".
Pure Python: the advisor's cold start reads this.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from advisor.coded_warning import CodedWarning
from advisor.laws import PowerLaw
from advisor.units import format_count, is_number, number_pair

LAWS = ("lr", "batch")


class SparsityError(ValueError):
    """A malformed sparsity record (the artifact loader turns it into a ModelError)."""


def n_effective(n_total: float, n_active: float, w: float) -> float:
    return math.exp((1.0 - w) * math.log(n_total) + w * math.log(n_active))


@dataclass(frozen=True)
class Alternative:
    """Another reading of the same MoE cells: per law, a power law in N_eff(w) with its own w (offsets
    folded into the prefactors)."""

    laws: dict  # "lr" / "batch" -> (w, PowerLaw)
    description: str = ""

    def log_predict(self, law: str, n_total: float, n_active: float, tokens: float) -> float:
        w, power_law = self.laws[law]
        n = n_effective(n_total, n_active, w)
        return power_law.log_predict({"n_params": n, "tokens": tokens, "flops": 6.0 * n * tokens})

    def to_json(self) -> dict:
        return {"description": self.description,
                **{law: {"w": w, "form": p.form, "inputs": list(p.inputs), "log_coef": list(p.log_coef)}
                   for law, (w, p) in self.laws.items()}}

    @classmethod
    def from_json(cls, d) -> "Alternative":
        if not isinstance(d, dict):
            raise SparsityError("sparsity.alternative must be an object")
        laws = {}
        for law in LAWS:
            entry = d.get(law)
            if not (isinstance(entry, dict) and is_number(entry.get("w")) and isinstance(entry.get("inputs"), list)
                    and isinstance(entry.get("log_coef"), list) and all(map(is_number, entry["log_coef"]))
                    and len(entry["log_coef"]) == len(entry["inputs"]) + 1):
                raise SparsityError(f"sparsity.alternative.{law} needs a finite w, inputs and one more finite log_coef")
            try:
                power_law = PowerLaw(tuple(entry["inputs"]), tuple(float(c) for c in entry["log_coef"]),
                                     str(entry.get("form", "")))
            except ValueError as exc:
                raise SparsityError(f"sparsity.alternative.{law}: {exc}") from None
            laws[law] = (float(entry["w"]), power_law)
        return cls(laws, str(d.get("description", "")))


@dataclass(frozen=True)
class Sparsity:
    """The artifact's `sparsity` record (module docstring)."""

    w: float
    n_total_range: tuple[float, float]
    n_active_range: tuple[float, float]
    alternative: Alternative | None = None
    validation: dict = field(default_factory=dict)  # candidate -> scores (benchmarks/moe_validation.py)
    notes: tuple[str, ...] = ()

    def n_for_laws(self, n_total: float, n_active: float) -> float:
        return n_effective(n_total, n_active, self.w)

    def total_beyond(self, n_total: float) -> float:
        """Factor beyond the measured total sizes (1.0 inside)."""
        lo, hi = self.n_total_range
        return n_total / hi if n_total > hi else (lo / n_total if n_total < lo else 1.0)

    def alternative_shift(self, law: str, n_total: float, n_active: float, tokens: float) -> tuple[float, float]:
        """(log shift of the point, the alternative's log value at the target) for a target whose total lies
        beyond the measured totals. This model's laws do not see the total; the alternative does. As for law
        forms beyond their range (advisor.intervals.extrapolated_point), the point moves by the mean of the
        two readings' increments from the measured edge (the active count, if larger) to the target's total:
        half the alternative's. (0, nan) without an alternative."""
        if self.alternative is None:
            return 0.0, math.nan
        lo, hi = self.n_total_range
        edge = max(min(max(n_total, lo), hi), n_active)
        at_target = self.alternative.log_predict(law, n_total, n_active, tokens)
        if edge == n_total:
            return 0.0, at_target
        return 0.5 * (at_target - self.alternative.log_predict(law, edge, n_active, tokens)), at_target

    def alternative_form(self, law: str, n_total: float, n_active: float):
        """The alternative reading as a log-value function of a point (n_params: the N this model's laws
        take; tokens), for the candidate forms beyond the fitted range (advisor.model.FittedLaw.predict):
        the target's total and active counts scaled together (its sparsity held) to that N. Its exponents
        are the dense laws', measured over the dense sweep's wider range. None without an alternative."""
        if self.alternative is None:
            return None
        n_laws = self.n_for_laws(n_total, n_active)

        def log_value(point: dict[str, float]) -> float:
            scale = point["n_params"] / n_laws
            return self.alternative.log_predict(law, n_total * scale, n_active * scale, point["tokens"])

        return log_value

    def measured_totals(self) -> str:
        """The total sizes the MoE sweep measured, in words."""
        lo, hi = self.n_total_range
        return (f"one total size, {format_count(lo)} non-embedding" if hi / lo < 1.05
                else f"total sizes {format_count(lo)}–{format_count(hi)} non-embedding")

    def total_shift(self, n_total: float, n_active: float, tokens: float, with_batch: bool) -> dict | None:
        """Where a target's total lies against the measured totals and, outside them, by what factor each point
        moved towards the alternative reading (`alternative_shift`); None inside."""
        factor = self.total_beyond(n_total)
        if factor <= 1.0:
            return None
        out = {"direction": "below" if n_total < self.n_total_range[0] else "above", "factor": factor,
               "measured": self.measured_totals()}
        if self.alternative is not None:
            for law in ("lr", "batch") if with_batch else ("lr",):
                shift, at_target = self.alternative_shift(law, n_total, n_active, tokens)
                out[law] = {"point_factor": math.exp(shift), "alternative": math.exp(at_target)}
        return out

    def target_warnings(self, n_total: float, n_active: float, shift: dict | None) -> list[CodedWarning]:
        """What the MoE sweep behind the model cannot support at this target (`shift`: `total_shift`'s)."""
        out = []
        lo, hi = self.n_total_range
        if shift is not None:
            moved = ("the point moves halfway to the dense-law reading and the interval's sparsity component "
                     "reaches both" if self.alternative is not None else "the point is this model's own reading, unchecked")
            out.append(CodedWarning("moe_total_extrapolated", f"the MoE sweep behind this model measured "
                                    f"{shift['measured']}; this target's {format_count(n_total)} is {shift['factor']:.3g}× "
                                    f"{shift['direction']} it: how the optimum moves with the total at a fixed active "
                                    f"count is not measured, so {moved}"))
        ratios = (self.n_active_range[0] / hi, self.n_active_range[1] / lo)
        if not ratios[0] <= n_active / n_total <= ratios[1]:
            out.append(CodedWarning("moe_sparsity_beyond", f"{n_active / n_total:.3g} of the parameters are active "
                                    f"per token; the MoE sweep measured {ratios[0]:.2g}–{ratios[1]:.2g}"))
        return out

    def to_json(self) -> dict:
        out = {"n_eff": "N_total^(1-w) * N_active^w", "w": self.w, "n_total_range": list(self.n_total_range),
               "n_active_range": list(self.n_active_range), "validation": self.validation, "notes": list(self.notes)}
        if self.alternative is not None:
            out["alternative"] = self.alternative.to_json()
        return out

    @classmethod
    def from_json(cls, d) -> "Sparsity | None":
        if d is None:
            return None
        if not isinstance(d, dict) or not is_number(d.get("w")):
            raise SparsityError("sparsity needs a finite w")
        total, active = number_pair(d.get("n_total_range")), number_pair(d.get("n_active_range"))
        if total is None or active is None or min(*total, *active) <= 0:
            raise SparsityError("sparsity needs positive n_total_range and n_active_range pairs")
        alternative = Alternative.from_json(d["alternative"]) if d.get("alternative") is not None else None
        notes = d.get("notes") if isinstance(d.get("notes"), list) else []
        validation = d.get("validation") if isinstance(d.get("validation"), dict) else {}
        return cls(float(d["w"]), total, active, alternative, validation, tuple(map(str, notes)))
