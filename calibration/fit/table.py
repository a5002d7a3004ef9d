"""Fitting input: read a trial table (ours or an external sweep), map its columns, clean it, and
group the usable trials into (N, D) cells.

Canonical columns after `prepare_trials`: n_params, tokens, lr, batch_tokens, loss, cell.
Diverged trials (status `diverged`) are not usable as losses, but their LRs bound the LR optimum from
above: `diverged_trials` keeps them and `build_cells` attaches them to their cells. Pruned trials (status
`pruned`, stopped early at a rung by the sweep) have no final loss and bound nothing the fit uses: they
are left out and counted (`excluded["pruned"]`, in the fit's provenance and summary; docs/fitting.md).
Repeated trials count once (a repeated row is not a new measurement); `mixed_setups` names what a
table pools that the fit treats as one setup (several data sources, code versions, architectures).

Coordinate-descent tables (a tuned configuration per cell and 1-D ablations around it, e.g. Marin's sweep)
say so with an `ablated` column: the setting a row changed from its cell's tuned configuration, empty for
the tuned run. Only the LR and batch profiles are read (the tuned run and the rows with `ablated` = lr,
batch_seqs or batch_tokens); rows that changed another setting (warmup, β2, ...) sit at the tuned LR and
batch with another recipe and are left out and counted (`excluded["other_ablation"]`). Such cells carry
their tuned run's position (`Cell.profile_centre`) and get a profile optimum (calibration/fit/profile.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from calibration.fit.plausibility import implausible_units
from calibration.fit.table_read import TRUNCATED_KEY, TableReadError, read_table_file

# Runs of one (N, D) cell differ slightly in tokens (steps * batch_tokens rounds down per batch
# size), so tokens within this relative tolerance of each other belong to one cell.
TOKENS_REL_TOL = 0.05
# Losses of one cell that differ by less than this (relative) are one value: a cell whose every setting
# gave it says nothing about where the optimum lies.
FLAT_REL_TOL = 1e-12
# Columns whose several values mean several setups pooled into one fit, by the warning that says so.
SETUP_COLUMNS = {"data_id": "mixed_data", "tokenizer": "mixed_data", "source": "mixed_sources",
                 "code_version": "mixed_code_versions", "parameterization": "mixed_architectures",
                 "architecture": "mixed_architectures"}
SHAPE_COLUMNS = ("n_layer", "d_model", "n_head", "d_ff")
ABLATED_COLUMN = "ablated"  # coordinate-descent tables: the setting a row changed (empty: the tuned run)
PROFILE_ABLATIONS = ("lr", "batch_seqs", "batch_tokens")  # the rows on a cell's LR and batch profiles


class FitInputError(ValueError):
    """The table cannot be fitted (missing columns, nothing usable, fewer than two sizes...)."""


@dataclass(frozen=True)
class ColumnMap:
    """Which table column holds each quantity. batch_unit: 'tokens' or 'sequences'."""

    n_params: str = "n_params"
    tokens: str = "tokens"
    lr: str = "lr"
    batch: str | None = None  # default: batch_tokens, or batch_seqs when batch_unit is sequences
    loss: str = "loss"
    batch_unit: str = "tokens"
    seq_len: int | None = None  # for batch_unit 'sequences' when the table has no seq_len column

    def batch_column(self) -> str:
        if self.batch:
            return self.batch
        return "batch_seqs" if self.batch_unit == "sequences" else "batch_tokens"


@dataclass
class Cell:
    """The trials of one (N, D) cell: log LR, log batch (tokens) and loss, one entry per trial."""

    n_params: float
    tokens: float
    log_lr: np.ndarray
    log_batch: np.ndarray
    loss: np.ndarray
    trial_ids: list = field(default_factory=list)
    # log LR and log batch of the cell's diverged trials (no loss): they bracket the LR optimum from above
    diverged_log_lr: np.ndarray = field(default_factory=lambda: np.empty(0))
    diverged_log_batch: np.ndarray = field(default_factory=lambda: np.empty(0))
    # coordinate-descent cells: log LR and log batch of the tuned run, where the two 1-D profiles cross
    profile_centre: tuple[float, float] | None = None

    @property
    def flops(self) -> float:
        return 6.0 * self.n_params * self.tokens

    @property
    def n_trials(self) -> int:
        return len(self.loss)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet trial table; errors become FitInputError with a one-line reason."""
    path = Path(path)
    if not path.is_file():
        raise FitInputError(f"table not found: {path}")
    try:
        return read_table_file(path)  # bounded, duplicate names refused, a cut-short last line counted
    except TableReadError as exc:
        raise FitInputError(str(exc)) from None


def prepare_trials(df: pd.DataFrame, cols: ColumnMap = ColumnMap()) -> tuple[pd.DataFrame, dict]:
    """Map columns to canonical names, drop unusable rows, assign cells.

    Returns (trials, excluded): `excluded` counts rows dropped as exact duplicates, by status (not `ok`),
    with NaN or non-positive values, out of range (C = 6ND overflows) and in cells whose every loss is the
    same (`flat_cell`). Raises FitInputError when nothing usable is left.
    """
    wanted = _wanted_columns(df, cols)
    truncated = int(df.attrs.get(TRUNCATED_KEY, 0))
    df, duplicates = drop_duplicate_trials(df.iloc[:len(df) - truncated])
    excluded: dict[str, int] = {"duplicate": duplicates, "diverged": 0, "pruned": 0, "failed": 0,
                                TRUNCATED_KEY: truncated}
    if ABLATED_COLUMN in df.columns:
        df, excluded["other_ablation"] = profile_rows(df)
    if "status" in df.columns:
        status = df["status"].fillna("").astype(str).str.strip()
        for s, count in status[status != "ok"].value_counts().items():
            excluded[str(s) or "empty_status"] = int(count)
        df = df[status == "ok"]
    out = _canonical(df, cols, wanted)
    values = out.to_numpy(dtype=float)
    good = np.isfinite(values).all(axis=1) & (values > 0).all(axis=1)
    excluded["nonpositive_or_nan"] = int((~good).sum())
    with np.errstate(over="ignore"):
        in_range = good & np.isfinite(6.0 * out["n_params"].to_numpy(float) * out["tokens"].to_numpy(float))
    excluded["out_of_range"] = int((good & ~in_range).sum())
    out = out[in_range].copy()
    if "trial_id" in df.columns:
        out["trial_id"] = df.loc[out.index, "trial_id"].astype(str)
    if ABLATED_COLUMN in df.columns:
        out["tuned"] = _is_tuned(df.loc[out.index, ABLATED_COLUMN])
    if out.empty:
        raise FitInputError(f"no usable trials left (excluded: {_fmt_counts(excluded)})")
    mistake = implausible_units(out)
    if mistake:
        raise FitInputError(f"the table's units look wrong: {mistake}")
    out["cell"] = _assign_cells(out["n_params"].to_numpy(), out["tokens"].to_numpy())
    flat = _in_flat_cell(out)
    excluded["flat_cell"] = int(flat.sum())
    if flat.all():
        raise FitInputError("every (N, D) cell gave one and the same loss at every LR and batch: the table "
                            "holds no information on where the optimum lies")
    return out[~flat].reset_index(drop=True), excluded


def profile_rows(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows of a coordinate-descent table on its cells' LR and batch profiles (the tuned run and its LR
    and batch ablations), and how many other ablations were left out."""
    ablated = df[ABLATED_COLUMN]
    on_profile = (_is_tuned(ablated) | ablated.astype(str).str.strip().isin(PROFILE_ABLATIONS).to_numpy())
    return df[on_profile], int((~on_profile).sum())


def _is_tuned(ablated: pd.Series) -> np.ndarray:
    """Per row: it changed nothing (an empty `ablated`), so it is its cell's tuned run."""
    return (ablated.isna() | (ablated.astype(str).str.strip() == "")).to_numpy()


# columns that record when and where a run ran, not what it measured: a row exported twice may differ there
RUN_CIRCUMSTANCES = ("finished_at", "wall_s", "train_s", "device", "origin")


def drop_duplicate_trials(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The table without repeated trials, and how many were dropped: rows with one `trial_id`, or rows equal
    in every measured column (numbers to 9 significant digits, so that a CSV round trip still matches; the
    run's time and place ignored), e.g. a table concatenated with itself. A repeated row is not a new
    measurement, and counting it twice would narrow every interval."""
    key = df.drop(columns=[c for c in RUN_CIRCUMSTANCES if c in df.columns])
    key = key.apply(lambda col: col.map(_rounded) if col.dtype.kind == "f" else col.astype(str))
    repeated = key.duplicated(keep="first").to_numpy().copy()
    if "trial_id" in df.columns:
        ids = df["trial_id"]
        repeated |= (ids.notna() & ids.duplicated(keep="first")).to_numpy()
    return df[~repeated], int(repeated.sum())


def _rounded(x: float) -> str:
    return f"{x:.9g}"


def _in_flat_cell(trials: pd.DataFrame) -> np.ndarray:
    """Per trial: its cell tried several settings and every loss came out the same (no information)."""
    grouped = trials.groupby("cell")
    spread = grouped["loss"].transform("max") - grouped["loss"].transform("min")
    settings = grouped["lr"].transform("nunique") + grouped["batch_tokens"].transform("nunique")
    return ((spread <= FLAT_REL_TOL * trials["loss"].abs()) & (settings > 2)).to_numpy()


def check_one_optimizer(df: pd.DataFrame) -> None:
    """A law is one optimizer's: a table whose `optimizer` column holds several (AdamW and Muon LRs differ
    in meaning and in value) is refused, never pooled silently."""
    if "optimizer" not in df.columns:
        return
    counts = df["optimizer"].fillna("adamw").astype(str).value_counts()  # an empty cell is AdamW (contract 1)
    if len(counts) > 1:
        found = ", ".join(f"{v} ({n} rows)" for v, n in counts.items())
        raise FitInputError(f"the table mixes optimizers ({found}): one law is one optimizer's; "
                            "fit each optimizer's rows on their own")


def mixed_setups(df: pd.DataFrame) -> dict[str, list[str]]:
    """What the table pools that the fit treats as one setup: warning code -> descriptions, e.g.
    {"mixed_code_versions": ["code_version: 0.1.0+gabc 481, 0.1.0+gdef 243"]}. Looks at the rows a fit
    reads (status ok or diverged): several data sources, code versions, architecture labels, or several
    shapes (n_layer, d_model, n_head, d_ff) at one size."""
    df = drop_duplicate_trials(df)[0]
    if "status" in df.columns:
        df = df[df["status"].astype(str).isin(["ok", "diverged"])]
    found: dict[str, list[str]] = {}
    for col, code in SETUP_COLUMNS.items():
        counts = df[col].dropna().astype(str).value_counts() if col in df.columns else pd.Series(dtype=int)
        if len(counts) > 1:
            found.setdefault(code, []).append(f"{col}: " + ", ".join(f"{v} ({n})" for v, n in counts.items()))
    shape_cols = [c for c in SHAPE_COLUMNS if c in df.columns]
    if "n_params" in df.columns and shape_cols:
        shapes = df.drop_duplicates(["n_params", *shape_cols]).groupby("n_params").size()
        several = shapes[shapes > 1]
        if len(several):
            found.setdefault("mixed_architectures", []).append(
                f"{len(several)} size(s) with several shapes ({', '.join(shape_cols)}), e.g. N = {several.index[0]}")
    return found


def diverged_trials(df: pd.DataFrame, cols: ColumnMap = ColumnMap()) -> pd.DataFrame:
    """Canonical n_params, tokens, lr, batch_tokens of the rows whose status is `diverged` (their loss
    is not needed); empty for a table without a status column (external sweeps: no change)."""
    wanted = _wanted_columns(df, cols)
    del wanted["loss"]
    if "status" not in df.columns:
        return pd.DataFrame(columns=["n_params", "tokens", "lr", "batch_tokens"], dtype=float)
    df = drop_duplicate_trials(df)[0]
    if ABLATED_COLUMN in df.columns:  # a run diverged by another setting (e.g. a short warmup) bounds no LR
        df = profile_rows(df)[0]
    df = df[df["status"].astype(str) == "diverged"]
    out = _canonical(df, cols, wanted)
    values = out.to_numpy(dtype=float)
    return out[np.isfinite(values).all(axis=1) & (values > 0).all(axis=1)].reset_index(drop=True)


def _wanted_columns(df: pd.DataFrame, cols: ColumnMap) -> dict[str, str]:
    """Canonical name -> table column; FitInputError for a bad batch unit or missing columns."""
    if cols.batch_unit not in ("tokens", "sequences"):
        raise FitInputError(f"batch unit must be 'tokens' or 'sequences', got {cols.batch_unit!r}")
    wanted = {"n_params": cols.n_params, "tokens": cols.tokens, "lr": cols.lr,
              "batch": cols.batch_column(), "loss": cols.loss}
    missing = [f"{src!r} (for {name})" for name, src in wanted.items() if src not in df.columns]
    if missing:
        raise FitInputError(f"table lacks column(s) {', '.join(missing)}; "
                            f"it has: {', '.join(map(str, df.columns[:20]))}")
    return wanted


def _canonical(df: pd.DataFrame, cols: ColumnMap, wanted: dict[str, str]) -> pd.DataFrame:
    """The wanted columns under canonical names, numeric, batch in tokens (as batch_tokens)."""
    out = pd.DataFrame({name: pd.to_numeric(df[src], errors="coerce") for name, src in wanted.items()},
                       index=df.index)
    if cols.batch_unit == "sequences":
        out["batch"] = out["batch"] * _seq_len(df, cols)
    return out.rename(columns={"batch": "batch_tokens"})


def _seq_len(df: pd.DataFrame, cols: ColumnMap):
    if cols.seq_len:
        return float(cols.seq_len)
    if "seq_len" in df.columns:
        return pd.to_numeric(df["seq_len"], errors="coerce")
    raise FitInputError("batch unit is sequences but the table has no seq_len column: pass --seq-len")


def _assign_cells(n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Cell index per trial: same N, tokens within TOKENS_REL_TOL of the previous sorted value."""
    cell = np.empty(len(n), dtype=int)
    next_id = 0
    for size in np.unique(n):
        idx = np.flatnonzero(n == size)
        order = idx[np.argsort(d[idx])]
        logs = np.log(d[order])
        starts = np.concatenate([[True], np.diff(logs) > np.log1p(TOKENS_REL_TOL)])
        cell[order] = next_id + np.cumsum(starts) - 1
        next_id += int(starts.sum())
    return cell


def build_cells(trials: pd.DataFrame, diverged: pd.DataFrame | None = None) -> list[Cell]:
    """Cells ordered by (N, D); D of a cell is the median tokens of its trials. `diverged` (from
    diverged_trials): each row joins the cell of its N whose trials' tokens lie within TOKENS_REL_TOL."""
    cells, log_tokens = [], []
    for _, g in trials.groupby("cell", sort=False):
        cells.append(Cell(
            n_params=float(g["n_params"].iloc[0]), tokens=float(np.median(g["tokens"])),
            log_lr=np.log(g["lr"].to_numpy(float)), log_batch=np.log(g["batch_tokens"].to_numpy(float)),
            loss=g["loss"].to_numpy(float),
            trial_ids=list(g["trial_id"]) if "trial_id" in g else [],
            profile_centre=_profile_centre(g) if "tuned" in g else None,
        ))
        log_tokens.append(np.log(g["tokens"].to_numpy(float)))
    if diverged is not None and len(diverged):
        _attach_diverged(cells, log_tokens, diverged)
    order = sorted(range(len(cells)), key=lambda j: (cells[j].n_params, cells[j].tokens))
    return [cells[j] for j in order]


def _profile_centre(g: pd.DataFrame) -> tuple[float, float]:
    """Log LR and log batch of a coordinate-descent cell's tuned run; where it has no usable loss, the
    LR and batch most of the cell's runs share (the two profiles cross there)."""
    tuned = g[g["tuned"].astype(bool)]
    if len(tuned):
        return float(np.log(tuned["lr"].iloc[0])), float(np.log(tuned["batch_tokens"].iloc[0]))
    return float(np.log(g["lr"].mode().iloc[0])), float(np.log(g["batch_tokens"].mode().iloc[0]))


def _attach_diverged(cells: list[Cell], log_tokens: list[np.ndarray], diverged: pd.DataFrame) -> None:
    """Give each cell the log LR and log batch of its diverged trials (rows matching no cell are left)."""
    n_cells = np.array([c.n_params for c in cells])
    owner = np.full(len(diverged), -1)
    sizes, log_t = diverged["n_params"].to_numpy(float), np.log(diverged["tokens"].to_numpy(float))
    for i, (n, t) in enumerate(zip(sizes, log_t)):
        candidates = np.flatnonzero(n_cells == n)
        if candidates.size:
            gaps = np.array([np.abs(log_tokens[j] - t).min() for j in candidates])
            if gaps.min() <= np.log1p(TOKENS_REL_TOL):
                owner[i] = candidates[np.argmin(gaps)]
    log_lr, log_b = np.log(diverged["lr"].to_numpy(float)), np.log(diverged["batch_tokens"].to_numpy(float))
    for j, cell in enumerate(cells):
        mine = owner == j
        cell.diverged_log_lr, cell.diverged_log_batch = log_lr[mine], log_b[mine]


def _fmt_counts(counts: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items() if v) or "none"
