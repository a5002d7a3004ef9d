"""What every record of the fitted-model artifact is (advisor/artifact.py, advisor/setup_record.py): a
JsonRecord (advisor/json_record.py) whose unreadable required or strict field is a ModelError, one line
naming its key."""
from __future__ import annotations

from advisor.json_record import JsonRecord


class ModelError(ValueError):
    """The fitted-model file cannot be used (one-line message naming the problem)."""


class Record(JsonRecord):
    """An artifact record: read and written by its field types."""

    ERROR = ModelError
