"""Export a trial store as the trial table (contract 1 of docs/architecture.md) and a long table of loss curves."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from advisor.outputs import write_atomic
from calibration.proxy.shape import count_params, shape_from_config
from calibration.record.trial import TrialResult
from calibration.sweep.store import TrialStore

EXPORTED = ("ok", "diverged", "pruned", "failed", "running")  # pending trials are plans, not trials
INTEGER_HEALTH = ("loss_spikes", "diverged_at_step")
CURVE_COLUMNS = ["trial_id", "step", "tokens", "train_loss", "lr", "grad_norm"]


def trial_table(store: TrialStore, current_spec: bool = False) -> pd.DataFrame:
    """One row per trial (TrialResult.to_row), plus origin (grid | extend | reseed) and cell."""
    spec_hash = store.meta("spec_hash") if current_spec else None
    rows = []
    for r in store.trials(statuses=EXPORTED, spec_hash=spec_hash):
        cfg = r["config"]
        result = r["result"] or TrialResult(trial_id=r["trial_id"], status="running")
        row = result.to_row(cfg)
        # size columns are facts of the config: fill them for failed and running trials too
        row["n_params"], row["n_params_total"] = count_params(shape_from_config(cfg))
        if r["status"] in ("failed", "running"):
            row["flops"] = None
        row["origin"], row["cell"] = r["origin"], r["cell"]
        rows.append(row)
    columns = list(TrialResult(trial_id="", status="running").to_row(_ANY_CONFIG))
    # an optimizer's own knobs (Muon's momentum, ...) where some trial has them (calibration/record/trial.py)
    columns += list(dict.fromkeys(k for row in rows for k in row if k not in columns and k not in ("origin", "cell")))
    columns += ["origin", "cell"]
    df = pd.DataFrame(rows, columns=columns)
    for name in INTEGER_HEALTH:  # whole numbers, empty where not measured (not 1.0 and NaN)
        df[name] = df[name].astype("Int64")
    return df


def curve_table(store: TrialStore, current_spec: bool = False) -> pd.DataFrame:
    """Train-loss curves, one row per logged point: trial_id, step, tokens, train_loss, lr, grad_norm (the
    mean pre-clip gradient norm since the previous point; empty in curves stored before it was recorded).
    Pruned trials' curves end at their rung."""
    spec_hash = store.meta("spec_hash") if current_spec else None
    rows = []
    for r in store.trials(statuses=("ok", "diverged", "pruned"), spec_hash=spec_hash, curves=True):
        for point in r["result"].curve:
            rows.append([r["trial_id"], *point[:4], point[4] if len(point) > 4 else None])
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """CSV or Parquet by the file's extension; written aside (a fresh temporary file) and renamed, so never
    half a file and never through a planted symlink (advisor/outputs.py)."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise ValueError(f"{path}: use a .csv or .parquet file name")
    if path.suffix.lower() == ".parquet":
        write_atomic(path, lambda f: df.to_parquet(f, index=False), binary=True)
    else:
        write_atomic(path, lambda f: df.to_csv(f, index=False))


def _any_config():
    from calibration.record.trial import TrialConfig

    return TrialConfig(n_layer=1, d_model=8, n_head=1, d_ff=8)


_ANY_CONFIG = _any_config()
