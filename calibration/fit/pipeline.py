"""Fitting orchestration: trial table -> cell optima -> laws -> bootstrap -> validation -> artifact.

The artifact is the fitted-model JSON of docs/fitted-model.md (schema scaling-advisor/fitted-model,
version 1), which advisor/model.py reads.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from calibration.fit.bootstrap import bootstrap_law, resample_optima
from calibration.fit.coverage import interval_coverage
from calibration.fit.table import (ColumnMap, FitInputError, build_cells, diverged_trials, prepare_trials,
                                  read_table)
from calibration.fit.laws import BATCH_FORMS, LR_FORMS, LawFit, design, fit_forms
from calibration.fit.loss_surface import PARAM_NAMES, SurfaceFit, at_bounds, bootstrap_surface, fit_surface
from calibration.fit.optimum import BELOW_DIVERGENCE_WEIGHT, fit_cell, nearest_run_regret
from calibration.sweep.trial import code_version
from calibration.fit.validate import CellTable, held_out_largest, leave_one_cell_out

SCHEMA = "scaling-advisor/fitted-model"
FEW_SIZES = 4  # fewer sizes than this: exponents are weakly determined
WIDE_EXPONENT_CI = 0.2  # 90% interval of an exponent wider than this: flagged
HELD_OUT_LR_WARN = 0.5  # |log2 error| above this (a factor 1.4): flagged
HELD_OUT_REGRET_WARN = 1.0  # percent
CONTRACT_COLUMNS = {"trial_id", "status", "data_id", "code_version"}


@dataclass
class FitOptions:
    n_boot: int = 1000  # bootstrap resamples of the whole chain (0: none)
    # Whether the table comes from the setup (data, tokenizer, architecture) the user will train: then the
    # advisor's intervals carry no setup component. None: true for our calibrations, false for external tables.
    same_setup: bool | None = None
    seed: int = 0
    near_optimal: float = 0.0025  # near-optimal band: runs within this fraction of the best loss
    loss_boot_max: int | None = None  # cap on the loss-surface resamples (None: all of them)
    loss_surface: bool = True  # fit L(N, D) (the slowest step; tests of the other laws turn it off)
    progress: bool = False


@dataclass
class FitResult:
    artifact: dict
    trials: pd.DataFrame  # canonical columns, usable rows only
    table: CellTable  # cells and their optima
    lr_fits: list[LawFit]
    batch_fits: list[LawFit]
    surface: SurfaceFit | None
    optima_samples: dict = field(default_factory=dict)  # "lr", "batch", "loss": (R, m) arrays


def fit_file(path: str | Path, cols: ColumnMap = ColumnMap(), opts: FitOptions = FitOptions(),
             table_name: str | None = None) -> FitResult:
    """Fit a table file; `table_name` is what provenance records (default: the path as given)."""
    raw = read_table(path)
    sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return fit_trials(raw, cols, opts, table_name=table_name or str(path), table_sha256=sha)


def fit_trials(raw: pd.DataFrame, cols: ColumnMap = ColumnMap(), opts: FitOptions = FitOptions(),
               table_name: str = "", table_sha256: str = "") -> FitResult:
    """Fit everything; raises FitInputError when the table cannot support the LR law."""
    trials, excluded = prepare_trials(raw, cols)
    table = _cell_table(trials, diverged_trials(raw, cols), opts)
    lr_fits, lr_skipped = fit_forms(LR_FORMS, table.inputs, table.y("lr"), table.w("lr"), table.sizes)
    if not lr_fits:
        reasons = "; ".join(f"{s['form']}: {s['reason']}" for s in lr_skipped)
        raise FitInputError(f"no LR law form can be fitted ({reasons})")
    batch_fits, batch_skipped = fit_forms(BATCH_FORMS, table.inputs, table.y("batch"), table.w("batch"),
                                          table.sizes)
    loss_opt = np.array([o.loss for o in table.optima])
    surface, surface_skip = (fit_surface(table.inputs["n_params"], table.inputs["tokens"], loss_opt,
                                         table.w("lr")) if opts.loss_surface else (None, "not requested"))
    samples = _bootstrap(table, lr_fits + batch_fits, surface, opts) if opts.n_boot > 0 else {}
    validation = {
        "held_out_largest": held_out_largest(table),
        "leave_one_cell_out": leave_one_cell_out(table, lr_fits[0].form,
                                                 batch_fits[0].form if batch_fits else None),
    }
    if samples:
        validation["coverage"] = interval_coverage(table, samples, np.random.default_rng(opts.seed + 1))
    artifact = {
        "schema": SCHEMA, "version": 1,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "flops_formula": "6ND",
        "provenance": _provenance(raw, trials, cols, excluded, len(table.cells), opts, table_name,
                                  table_sha256, surface),
        "fit_range": _fit_range(table, trials),
        "laws": {
            "lr": _law_json(lr_fits, lr_skipped, _n_edge(table, "lr")),
            "batch": _law_json(batch_fits, batch_skipped, _n_edge(table, "batch")) if batch_fits else None,
            "loss": _surface_json(surface, surface_skip),
        },
        "validation": validation,
        "cells": _cells_json(table, samples),
    }
    _record_decay_timescale(artifact["provenance"]["optimizer"], table)
    _record_published_law(artifact, raw, table)
    artifact["warnings"] = _warnings(artifact, table, lr_fits, batch_fits, batch_skipped, surface_skip, opts)
    return FitResult(artifact, trials, table, lr_fits, batch_fits, surface, samples)


def _record_decay_timescale(optimizer: dict, table: CellTable) -> None:
    """The AdamW timescale τ = 1/(η·λ) as a fraction of training at the cells' optima (range over cells
    with a usable LR optimum): the regime in which the LR law was measured, which the advisor reports."""
    wd = optimizer.get("weight_decay")
    if not isinstance(wd, (int, float)) or wd <= 0:
        return
    used = [(c, o) for c, o in zip(table.cells, table.optima) if o.weight_lr > 0]
    taus = [math.exp(o.log_batch) / (math.exp(o.log_lr) * wd * c.tokens) for c, o in used]
    if taus:
        optimizer["tau_frac_at_optima"] = [round(min(taus), 4), round(max(taus), 4)]


def _record_published_law(artifact: dict, raw: pd.DataFrame, table: CellTable) -> None:
    """A shipped source whose authors published their own law from the same runs: record, per law, its
    mean |log2 error| over our cell optima (the advisor counts it as another candidate form), and, as a
    reference for our held-out figures, its regret at the held-out largest size's nearest measured runs."""
    from advisor.laws import HYPERPARAMETER_LAWS

    key = _source_published_law(_unique(raw, "source"))
    if key not in HYPERPARAMETER_LAWS:
        return
    seq = _unique(raw, "seq_len")
    values = _published_optima(HYPERPARAMETER_LAWS[key], table,
                               int(seq) if isinstance(seq, (int, float)) and seq > 0 else 2048)
    for law, logs in zip(("lr", "batch"), values):
        entry, w = artifact["laws"][law], table.w(law)
        use = (w > 0) & np.isfinite(logs)
        if entry is None or not use.any():
            continue
        err = np.abs(logs[use] - table.y(law)[use]).mean() / np.log(2)
        entry["published"] = {"law": key, "log2_error": float(err), "n_cells": int(use.sum())}
    artifact["provenance"]["published_law"] = key
    held = artifact["validation"]["held_out_largest"]
    for cell in held.get("cells", []):
        i = next(j for j, c in enumerate(table.cells) if c.n_params == cell["n_params"] and c.tokens == cell["tokens"])
        cell["published_law_nearest_run_regret_pct"] = nearest_run_regret(table.cells[i], values[0][i], values[1][i])


def _published_optima(law, table: CellTable, seq: int) -> tuple[np.ndarray, np.ndarray]:
    """A published law's log LR and log batch at every cell (NaN where it gives none)."""
    from advisor.laws import Target
    from advisor.shape import from_nonembedding

    answers = [law.evaluate(Target(c.n_params, c.tokens, seq, s.n_layer, s.d_model))
               for c in table.cells for s in [from_nonembedding(c.n_params, 32000)]]
    return tuple(np.log(np.array([getattr(a, attr) or np.nan for a in answers], float))
                 for attr in ("lr", "batch_tokens"))


def _source_published_law(source) -> str | None:
    """The published law of a shipped source (catalog), or None."""
    entry = _shipped_source(source)
    key = entry.get("published_law") if entry else None
    return key if isinstance(key, str) else None


def _shipped_source(source) -> dict | None:
    """The catalog entry of a shipped source named in the table's `source` column, or None."""
    if not isinstance(source, str):
        return None
    from advisor.catalog import CatalogError, entry

    try:
        return entry(source, "source")
    except CatalogError:
        return None


def _cell_table(trials: pd.DataFrame, diverged: pd.DataFrame, opts: FitOptions) -> CellTable:
    """Cells (with their diverged LRs) and their optima; at least two sizes with a usable LR optimum,
    or FitInputError."""
    cells = build_cells(trials, diverged)
    sizes = np.unique([c.n_params for c in cells])
    if len(sizes) < 2:
        raise FitInputError(f"need at least two model sizes (N) to fit a law, the table has {len(sizes)}")
    table = CellTable(cells, [fit_cell(c, opts.near_optimal) for c in cells])
    usable_sizes = np.unique(table.sizes[table.w("lr") > 0])
    if len(usable_sizes) < 2:
        raise FitInputError(f"need at least two sizes with a usable LR optimum, have {len(usable_sizes)} "
                            "(cells need 3 or more LR values)")
    return table


def _bootstrap(table: CellTable, law_fits: list[LawFit], surface: SurfaceFit | None, opts: FitOptions) -> dict:
    """Resample trials within cells, re-estimate the optima, refit every law form and the loss surface
    (filling their .samples); returns the optima samples by law."""
    rng = np.random.default_rng(opts.seed)
    s_lr, s_b, s_loss = resample_optima(table.cells, table.optima, opts.n_boot, rng, opts.progress)
    samples = {"lr": s_lr, "batch": s_b, "loss": s_loss}
    for f in law_fits:
        law = "lr" if f.form in LR_FORMS else "batch"
        bootstrap_law(f, design(f.form, table.inputs), table.y(law), table.w(law), samples[law], rng)
    if surface is not None:
        surface.samples = bootstrap_surface(surface, table.inputs["n_params"], table.inputs["tokens"],
                                            s_loss[: opts.loss_boot_max], table.w("lr"))
    return samples


def write_artifact(artifact: dict, path: str | Path, force: bool = False) -> Path:
    """Write the JSON; refuses to overwrite unless force. Writes to a temp file, then renames."""
    path = Path(path)
    if path.exists() and not force:
        raise FitInputError(f"{path} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_finite(artifact), indent=1, allow_nan=False) + "\n")
    tmp.replace(path)
    return path


def _n_edge(table: CellTable, law: str) -> int:
    return int(sum(f"{law}_on_grid_edge" in o.flags and w > 0 for o, w in zip(table.optima, table.w(law))))


def _finite(obj):
    """JSON-safe copy: numpy to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def _round(a, digits: int = 6):
    return [[float(f"{v:.{digits}g}") for v in row] for row in np.asarray(a)]


def _law_json(fits: list[LawFit], skipped: list[dict], n_edge_cells: int) -> dict:
    out = fits[0].to_json()
    out["alternatives"] = [f.to_json() for f in fits[1:]]
    out["skipped"] = skipped
    out["n_edge_cells"] = n_edge_cells  # cells whose optimum for this law sits on the grid edge
    return out


def _surface_json(fit: SurfaceFit | None, skip: str | None) -> dict | None:
    if fit is None:
        return None
    return {"form": "E+A/N^alpha+B/D^beta", "param_names": list(PARAM_NAMES),
            "values": [float(v) for v in fit.values],
            "samples": _round(fit.samples) if fit.samples is not None else [],
            "residual_sd": fit.residual_sd, "n_cells": fit.n_cells}


def _cells_json(table: CellTable, samples: dict) -> list[dict]:
    out = []
    for j, (c, o) in enumerate(zip(table.cells, table.optima)):
        row = {"n_params": c.n_params, "tokens": c.tokens, "flops": c.flops,
               "lr_opt": math.exp(o.log_lr), "batch_opt": math.exp(o.log_batch), "loss_opt": o.loss,
               "best_loss": o.best_loss, "n_trials": c.n_trials, "method": o.method,
               "weight": o.weight_lr, "weight_batch": o.weight_batch, "flags": list(o.flags),
               "near_optimal_lr": list(o.near_optimal_lr), "near_optimal_batch": list(o.near_optimal_batch)}
        if samples:
            row["lr_opt_ci90"] = np.exp(np.percentile(samples["lr"][:, j], [5, 95])).tolist()
            row["batch_opt_ci90"] = np.exp(np.percentile(samples["batch"][:, j], [5, 95])).tolist()
        out.append(row)
    return out


def _fit_range(table: CellTable, trials: pd.DataFrame) -> dict:
    used = table.w("lr") > 0
    rng = {k: [float(v[used].min()), float(v[used].max())] for k, v in table.inputs.items()}
    keep = trials["n_params"].isin(table.sizes[used])  # trials of sizes with usable cells
    for col in ("lr", "batch_tokens"):
        rng[col] = [float(trials.loc[keep, col].min()), float(trials.loc[keep, col].max())]
    return rng


def _unique(raw: pd.DataFrame, col: str):
    if col not in raw.columns:
        return None
    vals = sorted({v for v in raw[col].dropna().tolist()}, key=str)
    return vals[0] if len(vals) == 1 else (vals or None)


def _provenance(raw, trials, cols, excluded, n_cells, opts, table_name, sha, surface) -> dict:
    source_name = _unique(raw, "source")
    shipped = _shipped_source(source_name) is not None
    ours = CONTRACT_COLUMNS <= set(raw.columns) and cols == ColumnMap() and not shipped
    data_id = _unique(raw, "data_id")
    same = opts.same_setup if opts.same_setup is not None else ours
    prov = {
        "source": "calibration" if ours else "external",
        "same_setup_as_target": bool(same),
        "source_name": source_name if isinstance(source_name, str) else None,
        "table": table_name, "table_sha256": sha,
        "data_id": (",".join(map(str, data_id)) if isinstance(data_id, list) else data_id) or "unknown",
        "tokenizer": _unique(raw, "tokenizer") or _tokenizer_from_data_id(data_id),
        "proxy": {"family": "llama-style, see calibration/proxy/model.py" if ours else "unknown",
                  "parameterization": _unique(raw, "parameterization") or ("sp" if ours else "unknown"),
                  "seq_len": _unique(raw, "seq_len"),
                  "sizes": sorted(float(s) for s in trials["n_params"].unique())},
        "optimizer": {"name": "adamw" if ours else "unknown",
                      **{k: _unique(raw, k) for k in ("beta1", "beta2", "weight_decay", "grad_clip")
                         if k in raw.columns}},
        "schedule": {"name": _unique(raw, "schedule") or "unknown",
                     **({"final_lr": final} if isinstance(final := _unique(raw, "final_lr"), float) else {})},
        "n_trials": int(len(raw)), "n_trials_used": int(len(trials)),
        "n_excluded": excluded, "n_cells": int(n_cells),
        "code_version": code_version(),
        "trials_code_version": _unique(raw, "code_version"),
        "bootstrap": int(opts.n_boot),
        "loss_bootstrap": len(surface.samples) if surface is not None and surface.samples is not None else 0,
        "seed": int(opts.seed), "near_optimal": opts.near_optimal,
        "columns": {"n_params": cols.n_params, "tokens": cols.tokens, "lr": cols.lr,
                    "batch": cols.batch_column(), "loss": cols.loss, "batch_unit": cols.batch_unit},
        "notes": [],
    }
    if {"warmup_steps", "steps"} <= set(raw.columns):
        frac = pd.to_numeric(raw["warmup_steps"], errors="coerce") / pd.to_numeric(raw["steps"], errors="coerce")
        if frac.notna().any():
            prov["schedule"]["warmup_frac"] = round(float(frac.median()), 4)
    return prov


def _tokenizer_from_data_id(data_id) -> str:
    """calibration/proxy/data.py names byte-level sources '<name>-bytes:<hash>'."""
    ids = data_id if isinstance(data_id, list) else [data_id]
    return "bytes-256" if ids and all(isinstance(i, str) and "-bytes:" in i for i in ids) else "unknown"


def _exponent_ci_width(f: LawFit) -> list[tuple[str, float]]:
    if f.samples is None or len(f.samples) < 10:
        return []
    lo, hi = np.percentile(f.samples[:, 1:], [5, 95], axis=0)
    return list(zip(f.form.inputs, hi - lo))


def _one_sequence_floor(art: dict, table: CellTable) -> str:
    """A batch edge at one sequence cannot be extended: say what can be changed instead."""
    seq_len = art["provenance"]["proxy"].get("seq_len")
    if not isinstance(seq_len, (int, float)):
        return ""
    floor = sum("batch_on_grid_edge" in o.flags and math.exp(c.log_batch.min()) <= 1.01 * seq_len
                and o.log_batch < (c.log_batch.min() + c.log_batch.max()) / 2  # the low edge
                for c, o in zip(table.cells, table.optima))
    return (f"; {floor} of them sit at one sequence ({seq_len:g} tokens), the smallest batch there is: a "
            "shorter seq_len or larger token budgets would bring them inside") if floor else ""


def _warnings(art, table, lr_fits, batch_fits, batch_skipped, surface_skip, opts) -> list[str]:
    warn = []
    sizes = np.unique(table.sizes[table.w("lr") > 0])
    if len(sizes) < FEW_SIZES:
        warn.append(f"only {len(sizes)} sizes: exponents are weakly determined")
    m = len(table.optima)
    for flag, what in (("lr_on_grid_edge", "LR"), ("batch_on_grid_edge", "batch")):
        k = sum(flag in o.flags for o in table.optima)
        if k:
            warn.append(f"{k} of {m} cells have the {what} optimum on the grid edge (down-weighted): "
                        f"extend the {what} grid and rerun" + (_one_sequence_floor(art, table) if what == "batch" else ""))
        if k > m / 2:
            warn.append(f"most cells' {what} optimum is on the grid edge: the {what} law describes the "
                        "grid's edge, not the optimum")
    below = sum("lr_below_divergence" in o.flags for o in table.optima)
    if below:  # bracketed by divergence: no grid to extend, only a note on the (small, low) bias
        warn.append(f"{below} of {m} cells have their best LR just below one that diverged: the LR optimum "
                    f"is bracketed by divergence, no grid to extend (weight {BELOW_DIVERGENCE_WEIGHT})")
    dropped = sum(o.weight_lr == 0 for o in table.optima)
    if dropped:
        warn.append(f"{dropped} of {m} cells dropped as too thinly sampled (fewer than 3 LR values)")
    fallback = sum(o.method == "argmin" for o in table.optima)
    if fallback:
        warn.append(f"{fallback} of {m} cells use the grid argmin (local fit rejected)")
    if lr_fits[0].cv_log2_error is None:
        warn.append("LR law form chosen without leave-one-size-out CV (too few sizes)")
    if not batch_fits:
        warn.append("no batch law: " + "; ".join(f"{s['form']}: {s['reason']}" for s in batch_skipped))
    if surface_skip:
        warn.append(f"no loss surface: {surface_skip}")
    elif art["laws"]["loss"] is not None:
        law = art["laws"]["loss"]
        bounds = at_bounds(np.asarray(law["values"]), np.asarray(law["samples"] or [], float),
                           min(o.loss for o in table.optima))
        if bounds:
            warn.append(f"loss surface weakly determined: {'; '.join(bounds)}")
    if opts.n_boot == 0:
        warn.append("no bootstrap: coefficients have no intervals")
    for law, fits in (("LR", lr_fits), ("batch", batch_fits)):
        for name, width in (_exponent_ci_width(fits[0]) if fits else []):
            if width > WIDE_EXPONENT_CI:
                warn.append(f"{law} law: the 90% interval of the {name} exponent is {width:.2f} wide")
    held = art["validation"]["held_out_largest"]
    if "skipped" in held:
        warn.append(f"held-out validation skipped: {held['skipped']}")
    else:
        if held["lr_log2_error"] > HELD_OUT_LR_WARN:
            warn.append(f"held-out largest size: LR off by a factor {2 ** held['lr_log2_error']:.2f} on average")
        if held["loss_regret_pct"] > HELD_OUT_REGRET_WARN:
            warn.append(f"held-out largest size: loss regret {held['loss_regret_pct']:.2f}% at the predicted setting")
        if held.get("any_outside_grid"):
            warn.append("held-out largest size: a prediction falls outside the measured grid (regret is a lower bound)")
    return warn
