"""A warning with a stable code beside its text, e.g. the warnings a fit records (docs/fitted-model.md,
`warnings`; the codes are listed there).

A `CodedWarning` is the message itself (a `str`, so code that prints, joins or searches warnings keeps
working) carrying its `code`. The artifact stores each as {"code": ..., "message": ...}; files written
before the codes existed hold plain strings, whose code is recovered from their wording (`legacy_code`),
or `unspecified` when the wording is unknown. Tests and tools should test codes, never the wording.
"""
from __future__ import annotations

import re

UNSPECIFIED = "unspecified"

# The wording of each warning before codes existed (calibration/fit/checks.py writes the same texts).
_LEGACY_WORDING = (
    ("few_sizes", r"^only \d+ sizes"),
    ("lr_on_grid_edge", r"cells have the LR optimum on the grid edge"),
    ("batch_on_grid_edge", r"cells have the batch optimum on the grid edge"),
    ("lr_law_is_bound", r"^most cells' LR optimum is on the grid edge"),
    ("batch_law_is_bound", r"^most cells' batch optimum is on the grid edge"),
    ("lr_below_divergence", r"best LR just below one that diverged"),
    ("cells_dropped_thin", r"dropped as too thinly sampled"),
    ("argmin_fallback", r"use the grid argmin"),
    ("lr_form_without_cv", r"^LR law form chosen without leave-one-size-out"),
    ("no_batch_law", r"^no batch law"),
    ("no_loss_surface", r"^no loss surface"),
    ("loss_surface_weak", r"^loss surface weakly determined"),
    ("no_bootstrap", r"^no bootstrap"),
    ("lr_exponent_wide", r"^LR law: the 90% interval of the"),
    ("batch_exponent_wide", r"^batch law: the 90% interval of the"),
    ("held_out_skipped", r"^held-out validation skipped"),
    ("held_out_lr_error", r"^held-out largest size: LR off"),
    ("held_out_regret", r"^held-out largest size: loss regret"),
    ("held_out_outside_grid", r"^held-out largest size: a prediction falls outside"),
)


class CodedWarning(str):
    """A warning's text, with its stable `code` (e.g. `lr_on_grid_edge`): CodedWarning(code, message)."""

    code: str

    def __new__(cls, code: str, message: str) -> "CodedWarning":
        warning = super().__new__(cls, message)
        warning.code = code
        return warning

    def __getnewargs__(self) -> tuple[str, str]:  # copy and pickle
        return self.code, str(self)

    def __repr__(self) -> str:
        return f"CodedWarning({self.code!r}, {str(self)!r})"

    @property
    def message(self) -> str:
        return str(self)

    def to_json(self) -> dict:
        return {"code": self.code, "message": str(self)}

    @classmethod
    def from_json(cls, entry) -> "CodedWarning | None":
        """{"code", "message"} or a plain string of an older file; None for anything else or empty."""
        if isinstance(entry, str):
            return cls(legacy_code(entry), entry) if entry else None
        if isinstance(entry, dict) and isinstance(entry.get("message"), str) and entry["message"]:
            code = entry.get("code")
            return cls(code if isinstance(code, str) and code else UNSPECIFIED, entry["message"])
        return None


def legacy_code(message: str) -> str:
    """The code of a warning written as a plain string (files from before the codes)."""
    for code, pattern in _LEGACY_WORDING:
        if re.search(pattern, message):
            return code
    return UNSPECIFIED
