"""Every setup a cross-setup model was fitted on, for `advisor show` and `advisor sources`: its runs, cells
and sequence length. The artifact's top-level provenance (table, proxy, n_trials, n_cells) is the reference
setup's alone (calibration/fit/cross_setup.py); the laws pool every setup in `provenance.cross_setup`."""
from __future__ import annotations

from typing import TYPE_CHECKING

from advisor import catalog

if TYPE_CHECKING:
    from advisor.artifact import Provenance


def fitted_setups(prov: Provenance) -> list[dict]:
    """One row per setup in provenance.cross_setup (empty for a one-setup model): name, runs used, the
    source's rows, cells, the LR and batch laws' cells from it, seq_len, and whether it is the reference."""
    cross = prov.cross_setup
    if cross is None:
        return []
    laws = cross.laws or {}
    rows = []
    for s in cross.setups or []:
        source = _source_entry(s.name)
        reference = s.name == cross.reference
        seq = prov.proxy.get("seq_len") if reference else (source.get("setup") or {}).get("seq_len")
        rows.append({"name": s.name, "reference": reference, "n_trials": s.n_trials,
                     "source_rows": source.get("rows"), "n_cells": s.n_cells, "seq_len": seq,
                     "law_cells": {law: _law_cells(rec, s.name) for law, rec in laws.items()}})
    return rows


def _law_cells(law, name) -> int | None:
    """The cells a setup gave one law (CrossLaw), or None."""
    own = (law.setups or {}).get(name)
    return own.n_cells if own is not None else None


def _source_entry(name) -> dict:
    try:
        return next((e for e in catalog.entries("source") if e.get("name") == name), {})
    except catalog.CatalogError:  # an unreadable catalog only costs the source's row count and seq_len here
        return {}


def setup_line(row: dict) -> str:
    """'marin-adamw: 51 runs used (of the source's 171), 18 cells (LR law 5, batch law 2), seq_len 4,096'."""
    runs = f"{row['n_trials']:,} runs" if isinstance(row.get("n_trials"), int) else "? runs"
    if row.get("source_rows") and row["source_rows"] != row.get("n_trials"):
        runs += f" used (of the source's {row['source_rows']:,})"
    laws = ", ".join(f"{'LR' if k == 'lr' else k} law {v}" for k, v in row["law_cells"].items() if v is not None)
    seq = row.get("seq_len") or "unknown"
    seq = f"{seq:,.0f}" if isinstance(seq, (int, float)) else seq  # grouped as the runs beside it: 2,048
    return (f"{row['name']}{' (reference)' if row['reference'] else ''}: {runs}, {row.get('n_cells', '?')} cells"
            f"{f' (weighted in the {laws})' if laws else ''}, seq_len {seq}")
