"""Reading a trial table file (CSV or Parquet) without trusting it: a bounded read (a device or a pipe
never ends), duplicate column names refused (pandas would rename the second `lr` to `lr.1` and the fit
would silently use the first), and a last line cut short (an export or a copy interrupted) left out and
counted, never read as a row whose missing fields are NaN or whose last number lost digits."""
from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pandas as pd

from advisor.bounded_read import TABLE_LIMIT, BoundedReader, TooLarge

TRUNCATED_KEY = "truncated_last_line"  # the excluded-rows count read_table leaves in df.attrs


class TableReadError(ValueError):
    """The table cannot be read (one-line reason; table.py words it as a FitInputError)."""


def read_table_file(path: Path) -> pd.DataFrame:
    """The table as pandas reads it, checked as the module docstring says; df.attrs[TRUNCATED_KEY] is 1
    when its last row is a cut-short line (prepare_trials leaves it out and counts it), else 0."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(path)
            truncated = False
        else:
            header, truncated = _header_and_tail(path)
            _refuse_duplicates(header)
            with io.BufferedReader(BoundedReader(path, TABLE_LIMIT)) as f:
                df = pd.read_csv(f)
    except TableReadError:
        raise
    except TooLarge as exc:
        raise TableReadError(f"cannot read {path}: {exc}") from None
    except Exception as exc:  # pandas raises many types; the user needs one line
        raise TableReadError(f"cannot read {path}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    _refuse_duplicates([str(c) for c in df.columns])
    df.attrs[TRUNCATED_KEY] = int(truncated and len(df) > 0)
    return df


def _refuse_duplicates(columns: list[str]) -> None:
    repeated = [name for name, n in Counter(columns).items() if n > 1]
    if repeated:
        raise TableReadError(f"the table names column(s) {', '.join(map(repr, repeated))} more than once: "
                             "rename them, so that it is clear which one is meant")


def _header_and_tail(path: Path) -> tuple[list[str], bool]:
    """The header's column names, and whether the last line is cut short: it lacks the final newline and
    holds fewer fields than the header."""
    with open(path, "rb") as f:
        first = f.readline(1 << 20).decode("utf-8-sig", errors="replace")
        f.seek(0, io.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - (1 << 16)))
        tail = f.read()
    header = next(csv.reader([first]), [])
    if not tail or tail.endswith(b"\n") or b"\n" not in tail:
        return header, False
    last = tail.rsplit(b"\n", 1)[1].decode("utf-8", errors="replace")
    fields = next(csv.reader([last]), [])
    return header, 0 < len(fields) < len(header)
