"""Where an answer comes from: a fitted model's provenance summary or a published law's name and formula.

Typed so that readers ask `rec.source.path`, not `rec.source.get("path")`; the field order is the JSON's
(`recommend --json` writes these through dataclasses.asdict)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelSource:
    """A fitted model's summary (FittedModel.summary): what it rests on, laws' forms, provenance."""

    kind: str  # always "model"
    name: str | None  # a shipped model's name; None for a file of your own
    description: str | None
    path: str
    created_at: str | None
    source: str | None  # "calibration" or "external"
    data_id: str | None
    tokenizer: str | None
    n_trials_used: int | None
    n_cells: int | None
    setups: list[dict] = field(default_factory=list)  # [{"name", "n_trials", "n_cells"}, ...]
    code_version: str | None = None
    lr_form: str | None = None
    batch_form: str | None = None
    batch_unusable: str | None = None  # why the batch law is not used (a bound), else None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_summary(cls, summary: dict) -> ModelSource:
        return cls(kind="model", **summary)

    @property
    def label(self) -> str:
        """How a line names it: the shipped name, else the file."""
        return self.name or self.path


@dataclass(frozen=True)
class LawSource:
    """A published law that answered in place of a fitted model (`--hp-law`)."""

    kind: str  # always "law"
    law: str  # its key in advisor.laws.HYPERPARAMETER_LAWS
    name: str
    citation: str
    formula: str

    @property
    def label(self) -> str:
        return self.name


AnswerSource = ModelSource | LawSource
