"""The artifact's entries (advisor/artifact.py types) from a fit's numpy state, and the JSON file."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from advisor.artifact import CellEntry, FittedModelArtifact, LawEntry, LossEntry, ProfileRecord, SkippedForm
from advisor.outputs import write_atomic
from calibration.fit.laws import LawFit
from calibration.fit.loss_surface import SurfaceFit
from calibration.fit.table import FitInputError
from calibration.fit.validate import CellTable


def law_entry(fits: list[LawFit], skipped: list[SkippedForm], table: CellTable, law: str) -> LawEntry | None:
    """The chosen form (fits[0]) with the others as alternatives; None when no form could be fitted."""
    if not fits:
        return None
    entry = fits[0].to_entry()
    entry.alternatives = [f.to_entry() for f in fits[1:]]
    entry.skipped = list(skipped)
    entry.n_edge_cells = count_edge_cells(table, law)
    return entry


def count_edge_cells(table: CellTable, law: str) -> int:
    """Cells in the law's fit (weight > 0) whose optimum for it sits on the grid edge."""
    return int(sum(f"{law}_on_grid_edge" in o.flags and w > 0 for o, w in zip(table.optima, table.w(law))))


def loss_entry(fit: SurfaceFit | None) -> LossEntry | None:
    if fit is None:
        return None
    samples = _rounded(fit.samples) if fit.samples is not None else []
    return LossEntry(tuple(float(v) for v in fit.values), samples, float(fit.residual_sd), int(fit.n_cells))


def cell_entries(table: CellTable, samples: dict) -> list[CellEntry]:
    """Each cell's optimum, flags and weights; with a bootstrap, the 90% interval of its LR and batch optima."""
    out = []
    for j, (c, o) in enumerate(zip(table.cells, table.optima)):
        entry = CellEntry(
            n_params=c.n_params, tokens=c.tokens, flops=c.flops, lr_opt=math.exp(o.log_lr),
            batch_opt=math.exp(o.log_batch), loss_opt=o.loss, best_loss=o.best_loss, n_trials=c.n_trials,
            method=o.method.label, weight=o.weight_lr, weight_batch=o.weight_batch, flags=list(o.flags),
            near_optimal_lr=tuple(o.near_optimal_lr), near_optimal_batch=tuple(o.near_optimal_batch),
            lr_profile=ProfileRecord.from_json(o.lr_profile.to_json()) if o.lr_profile else None,
            batch_profile=ProfileRecord.from_json(o.batch_profile.to_json()) if o.batch_profile else None)
        if samples:
            entry.lr_opt_ci90 = tuple(np.exp(np.percentile(samples["lr"][:, j], [5, 95])).tolist())
            entry.batch_opt_ci90 = tuple(np.exp(np.percentile(samples["batch"][:, j], [5, 95])).tolist())
        out.append(entry)
    return out


def fit_range(table: CellTable, trials: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """[min, max] of N, D and C over the cells with a usable LR optimum, and of LR and batch over their
    sizes' trials."""
    used = table.w("lr") > 0
    ranges = {k: (float(v[used].min()), float(v[used].max())) for k, v in table.inputs.items()}
    keep = trials["n_params"].isin(table.sizes[used])
    for col in ("lr", "batch_tokens"):
        ranges[col] = (float(trials.loc[keep, col].min()), float(trials.loc[keep, col].max()))
    return ranges


def write_artifact(artifact: FittedModelArtifact | dict, path: str | Path, force: bool = False) -> Path:
    """Write the artifact (or its JSON) as strict JSON; refuses to overwrite unless force, and refuses
    (FitInputError, nothing written) a document the advisor could not read back (`readable_text`). Writes
    to a temp file, then renames; a failed write (read-only folder, full disk) leaves no temp file behind."""
    if Path(path).exists() and not force:
        raise FitInputError(f"{path} exists; pass --force to overwrite it")
    doc = artifact.to_json() if isinstance(artifact, FittedModelArtifact) else artifact
    return write_text(readable_text(doc), path, force)


def write_text(text: str, path: str | Path, force: bool = False) -> Path:
    """Write an artifact's checked JSON text (`readable_text`) through advisor/outputs.py's writer."""
    path = Path(path)
    if path.exists() and not force:
        raise FitInputError(f"{path} exists; pass --force to overwrite it")
    blocker = next((p for p in path.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise FitInputError(f"cannot write {path}: {blocker} is a file, not a folder")
    try:
        write_atomic(path, lambda f: f.write(text))  # a fresh temp file (O_EXCL), renamed over path
    except OSError as exc:
        raise FitInputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def readable_text(doc: dict) -> str:
    """The artifact's strict JSON, after checking that the advisor reads it back and predicts a finite LR
    and batch inside its fit range; FitInputError (one line) when it would not: numbers out of range."""
    from advisor.model import FittedModel, ModelError

    text = json.dumps(_finite(doc), indent=1, allow_nan=False) + "\n"
    try:
        model = FittedModel.from_dict(json.loads(text))
        centre = {k: math.sqrt(lo * hi) for k, (lo, hi) in model.fit_range_.items() if k in ("n_params", "tokens")}
        predictions = [model.predict_lr(centre["n_params"], centre["tokens"]).value]
        if model.batch_ is not None:
            predictions.append(model.predict_batch(centre["n_params"], centre["tokens"]).value)
    except (ModelError, KeyError, OverflowError, ValueError) as exc:
        raise FitInputError(f"the fit gave a model the advisor cannot read ({exc}): numbers out of range? "
                            "nothing written") from None
    if not all(math.isfinite(p) and p > 0 for p in predictions):
        raise FitInputError("the fit gave a model whose predictions inside its own fit range are not finite "
                            "(numbers out of range?): nothing written")
    return text


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


def _rounded(a, digits: int = 6) -> list[tuple[float, ...]]:
    return [tuple(float(f"{v:.{digits}g}") for v in row) for row in np.asarray(a)]
