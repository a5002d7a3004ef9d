"""What a fit records about where its trials came from (the artifact's `provenance`, docs/fitted-model.md)."""
from __future__ import annotations

import math

import pandas as pd

from advisor.artifact import Provenance
from advisor.units import is_number
from calibration.fit.table import ColumnMap
from calibration.fit.validate import CellTable
from calibration.record.trial import code_version

CONTRACT_COLUMNS = {"trial_id", "status", "data_id", "code_version"}  # a calibration's own trial table


def build_provenance(raw: pd.DataFrame, trials: pd.DataFrame, cols: ColumnMap, excluded: dict, n_cells: int,
                     settings: dict, table_name: str, sha: str) -> Provenance:
    """settings: the fitter's n_boot, loss_bootstrap, seed, near_optimal, same_setup and notes."""
    source_name = unique_value(raw, "source")
    ours = CONTRACT_COLUMNS <= set(raw.columns) and cols == ColumnMap() and shipped_source(source_name) is None
    data_id = unique_value(raw, "data_id")
    same = settings["same_setup"] if settings["same_setup"] is not None else ours
    return Provenance(
        source="calibration" if ours else "external", same_setup_as_target=bool(same),
        source_name=source_name if isinstance(source_name, str) else None,
        table=table_name, table_sha256=sha,
        data_id=(",".join(map(str, data_id)) if isinstance(data_id, list) else data_id) or "unknown",
        tokenizer=unique_value(raw, "tokenizer") or _tokenizer_from_data_id(data_id),
        proxy={"family": "llama-style, see calibration/proxy/model.py" if ours else "unknown",
               "parameterization": unique_value(raw, "parameterization") or ("sp" if ours else "unknown"),
               "seq_len": unique_value(raw, "seq_len"),
               "sizes": sorted(float(s) for s in trials["n_params"].unique())},
        optimizer=_optimizer(raw, ours),
        schedule=_schedule(raw),
        n_trials=int(len(raw)), n_trials_used=int(len(trials)), n_excluded=excluded, n_cells=int(n_cells),
        code_version=code_version(), trials_code_version=unique_value(raw, "code_version"),
        bootstrap=int(settings["n_boot"]), loss_bootstrap=int(settings["loss_bootstrap"]),
        seed=int(settings["seed"]), near_optimal=settings["near_optimal"],
        columns={"n_params": cols.n_params, "tokens": cols.tokens, "lr": cols.lr, "batch": cols.batch_column(),
                 "loss": cols.loss, "batch_unit": cols.batch_unit},
        notes=list(settings["notes"]),
    )


OPTIMIZER_KNOBS = ("beta1", "beta2", "weight_decay", "grad_clip")
MUON_KNOBS = ("momentum", "adam_lr_ratio", "muon_lr_convention")  # calibration/record/trial.py MUON_FIELDS


def _optimizer(raw: pd.DataFrame, ours: bool) -> dict:
    """The optimizer's name (the table's `optimizer` column; our own tables before it existed are AdamW's)
    and the settings the table holds one value of each (several: a sorted list)."""
    name = unique_value(raw, "optimizer") or ("adamw" if ours else "unknown")  # an AdamW row has no optimizer cell
    knobs = OPTIMIZER_KNOBS + (MUON_KNOBS if name == "muon" else ())
    return {"name": name, **{k: unique_value(raw, k) for k in knobs if k in raw.columns}}


def _schedule(raw: pd.DataFrame) -> dict:
    schedule = {"name": unique_value(raw, "schedule") or "unknown"}
    final = unique_value(raw, "final_lr")
    if isinstance(final, float):
        schedule["final_lr"] = final
    if {"warmup_steps", "steps"} <= set(raw.columns):
        frac = pd.to_numeric(raw["warmup_steps"], errors="coerce") / pd.to_numeric(raw["steps"], errors="coerce")
        if frac.notna().any():
            schedule["warmup_frac"] = round(float(frac.median()), 4)
    return schedule


def record_decay_timescale(optimizer: dict, table: CellTable) -> None:
    """The AdamW timescale τ = 1/(η·λ) as a fraction of training at the cells' optima (range over cells
    with a usable LR optimum): the regime in which the LR law was measured, which the advisor reports."""
    wd = optimizer.get("weight_decay")
    if not isinstance(wd, (int, float)) or wd <= 0:
        return
    used = [(c, o) for c, o in zip(table.cells, table.optima) if o.weight_lr > 0]
    taus = [math.exp(o.log_batch) / (math.exp(o.log_lr) * wd * c.tokens) for c, o in used]
    if taus:
        optimizer["tau_frac_at_optima"] = [round(min(taus), 4), round(max(taus), 4)]


def unique_value(raw: pd.DataFrame, col: str):
    """The column's one value; a sorted list when it holds several; None when absent or empty."""
    if col not in raw.columns:
        return None
    vals = sorted({v for v in raw[col].dropna().tolist()}, key=str)
    return vals[0] if len(vals) == 1 else (vals or None)


def shipped_source(source) -> dict | None:
    """The catalog entry of a shipped source named in the table's `source` column, or None."""
    if not isinstance(source, str):
        return None
    from advisor.catalog import CatalogError, entry

    try:
        return entry(source, "source")
    except CatalogError:
        return None


def _tokenizer_from_data_id(data_id) -> str:
    """calibration/proxy/data.py names byte-level sources '<name>-bytes:<hash>'."""
    ids = data_id if isinstance(data_id, list) else [data_id]
    return "bytes-256" if ids and all(isinstance(i, str) and "-bytes:" in i for i in ids) else "unknown"


def seq_len_of(raw: pd.DataFrame, default: int = 2048) -> int:
    """The table's one sequence length, or the default."""
    seq = unique_value(raw, "seq_len")
    return int(seq) if is_number(seq) and seq > 0 else default
