"""The 90% interval of one answer (LR or batch) split by source of uncertainty, as [low, high] values.

Typed so that readers ask `rec.lr_interval.setup`, not `rec.lr_interval["setup"]`. The JSON (`recommend
--json`) writes the components present in field order, the total last (`as_dict`)."""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, kw_only=True)
class ComponentBounds:
    """Each component's interval on its own (advisor/intervals.py) and the total they make together."""

    sampling: list[float] | None = None  # None where the answer is held fixed (a constrained recipe's)
    law_form: list[float] | None = None
    setup: list[float] | None = None
    sparsity: list[float] | None = None  # an MoE's: its sparsity record (advisor/sparsity.py)
    surface: list[float] | None = None  # a constrained optimum's: the loss surface (advisor/constrained_recipe.py)
    total: list[float]

    @classmethod
    def from_dict(cls, bounds: dict[str, list[float]]) -> ComponentBounds:
        return cls(**{name: list(b) for name, b in bounds.items()})

    def as_dict(self) -> dict[str, list[float]]:
        """The components present, in field order (the total last): the JSON's `lr_interval`."""
        return {f.name: list(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None}

    def components(self) -> dict[str, list[float]]:
        """The components present without the total."""
        return {name: b for name, b in self.as_dict().items() if name != "total"}

    def scaled(self, factor: float) -> ComponentBounds:
        return ComponentBounds.from_dict({name: [a * factor, b * factor] for name, (a, b) in self.as_dict().items()})
