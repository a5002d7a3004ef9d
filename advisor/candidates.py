"""Several planned (LR, batch) candidates at once (`advisor check --configs FILE`): a CSV read into rows,
each row checked against one recommendation (advisor/checking.py's Checker, computed once), ranked safest
first: risky rows last, an LR far above the optimum last of all.

    rank_candidates(check_candidates(target, read_candidates("candidates.csv")))

Errors name the file and the row; `label` names the file as the caller knows it (the CLI: "--configs").
"""
from __future__ import annotations

import csv
import io

from advisor.bounded_read import read_text
from advisor.checking import Checker, CheckResult, danger_rank
from advisor.errors import AdvisorError
from advisor.units import UnitError

BATCH_COLUMNS = ("batch", "batch_tokens", "batch_seqs")


class CandidatesError(AdvisorError):
    """A candidates file or row that cannot be used (one line naming it)."""


def read_candidates(path: str, label: str = "candidates") -> list[tuple[str, dict]]:
    """(name, check() arguments) for each row of a candidates CSV: a header with lr and batch (tokens; or
    batch_tokens) or batch_seqs, optional name (default "row N")."""
    try:
        rows = list(csv.DictReader(io.StringIO(read_text(path), newline="")))  # bounded: /dev/zero never ends
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CandidatesError(f"cannot read {label} {path}: {exc}") from None
    columns = set(rows[0]) if rows else set()
    if not rows or "lr" not in columns or not (set(BATCH_COLUMNS) & columns):
        raise CandidatesError(f"{label} {path} needs a header with lr and batch (tokens; or batch_tokens) or "
                              "batch_seqs, and one row per candidate")
    if {"batch", "batch_tokens"} <= columns:
        raise CandidatesError(f"{label} {path} has both batch and batch_tokens: give the batch in tokens once")
    return [_candidate(row, i, f"{label} {path}") for i, row in enumerate(rows, start=2)]


def _candidate(row: dict, line: int, where: str) -> tuple[str, dict]:
    batch, seqs = row.get("batch") or row.get("batch_tokens") or None, row.get("batch_seqs") or None
    name = row.get("name") or f"row {line}"
    if batch is None and seqs is None:  # the row left its batch cell empty (or was cut short)
        given = " or ".join(c for c in BATCH_COLUMNS if c in row)
        raise CandidatesError(f"{where}, {name} (line {line}): no batch: its {given} is empty")
    if batch is not None and seqs is not None:
        raise CandidatesError(f"{where}, {name} (line {line}): gives both a batch in tokens and batch_seqs; give one")
    return name, {"lr": row["lr"], "batch": batch, "batch_seqs": seqs}


def check_candidates(target: dict, rows: list[tuple[str, dict]], label: str = "candidates",
                     progress=None) -> list[tuple[str, CheckResult]]:
    """Every candidate against one recommendation (`target`: advisor.check's target arguments); errors name
    the row. `progress(done, total)`, if given, is called after each row."""
    checker = Checker(**target)
    results = []
    for i, (name, row) in enumerate(rows, start=1):
        try:
            results.append((name, checker(**row)))
        except (AdvisorError, UnitError) as exc:
            raise CandidatesError(f"{label} {name}: {exc}") from None
        if progress is not None:
            progress(i, len(rows))
    return results


def rank_candidates(results: list[tuple[str, CheckResult]]) -> list[tuple[str, CheckResult]]:
    """Safest first: risky rows last, an LR far above the optimum last of all."""
    return sorted(results, key=lambda r: danger_rank(r[1]))
