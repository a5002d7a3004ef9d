"""What ships in data/, listed (`advisor sources`): each catalog entry (advisor/catalog.py) with its absolute
file, whether it exists, the default-model flag and, for a model, what it says it was fitted on.

    listing()   -> {"catalog": ..., "default_model": ..., "entries": [...]}   (`advisor sources --json`)
"""
from __future__ import annotations

import json

from advisor import catalog
from advisor.artifact import Provenance
from advisor.fitted_setups import fitted_setups


def _model_provenance(path) -> dict:
    """What a shipped model says it was fitted on (its provenance), or why it cannot say."""
    try:
        prov = json.loads(path.read_text(encoding="utf-8")).get("provenance") or {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        return {"error": f"unreadable model file: {exc}"}
    keep = ("source", "table", "n_trials", "n_trials_used", "n_cells", "tokenizer", "data_id")
    setups = fitted_setups(Provenance.from_json(prov))
    return {**{k: prov[k] for k in keep if k in prov}, **({"setups": setups} if setups else {})}


def listing() -> dict:
    """The catalog's entries, each with its absolute file, whether it exists, the default flag and, for a
    model, its provenance."""
    default = catalog.default_model_name()
    rows = []
    for e in catalog.entries():
        path = catalog.entry_path(e)
        row = {**e, "file": str(path), "exists": path.is_file(),
               "default": e.get("kind") == "model" and e.get("name") == default}
        if e.get("kind") == "model" and row["exists"]:
            row["provenance"] = _model_provenance(path)
        rows.append(row)
    return {"catalog": str(catalog.catalog_path()), "default_model": default, "entries": rows}
