"""The source authors' own law, for a shipped source whose authors published one from the same runs
(Step Law's): scored on our cell optima, it becomes another candidate form at the target (the advisor's
law-form component), and its regret at the held-out size is a reference for ours."""
from __future__ import annotations

import numpy as np
import pandas as pd

from advisor.artifact import FittedModelArtifact, PublishedScore
from calibration.fit.optimum import nearest_run_regret
from calibration.fit.provenance import seq_len_of, shipped_source, unique_value
from calibration.fit.validate import CellTable


def published_law_key(raw: pd.DataFrame) -> str | None:
    """The published law (advisor.laws.HYPERPARAMETER_LAWS key) of the table's shipped source, or None."""
    from advisor.laws import HYPERPARAMETER_LAWS

    entry = shipped_source(unique_value(raw, "source"))
    key = entry.get("published_law") if entry else None
    return key if isinstance(key, str) and key in HYPERPARAMETER_LAWS else None


def record_published_law(artifact: FittedModelArtifact, key: str, raw: pd.DataFrame, table: CellTable) -> None:
    """Per law, the published law's mean |log2 error| over our cell optima; per held-out cell, its regret
    at the nearest measured run; and its name in the provenance."""
    from advisor.laws import HYPERPARAMETER_LAWS

    values = _published_optima(HYPERPARAMETER_LAWS[key], table, seq_len_of(raw))
    for entry, law, logs in ((artifact.laws.lr, "lr", values[0]), (artifact.laws.batch, "batch", values[1])):
        w = table.w(law)
        use = (w > 0) & np.isfinite(logs)
        if entry is None or not use.any():
            continue
        err = np.abs(logs[use] - table.y(law)[use]).mean() / np.log(2)
        entry.published = PublishedScore(key, float(err), int(use.sum()))
    artifact.provenance.published_law = key
    held = artifact.validation.held_out_largest
    for cell in (held.cells or []) if held else []:
        i = next(j for j, c in enumerate(table.cells) if c.n_params == cell.n_params and c.tokens == cell.tokens)
        cell.published_law_nearest_run_regret_pct = nearest_run_regret(table.cells[i], values[0][i], values[1][i])


def _published_optima(law, table: CellTable, seq: int) -> tuple[np.ndarray, np.ndarray]:
    """A published law's log LR and log batch at every cell (NaN where it gives none)."""
    from advisor.laws import Target
    from advisor.shape import from_nonembedding

    answers = [law.evaluate(Target(c.n_params, c.tokens, seq, s.n_layer, s.d_model))
               for c in table.cells for s in [from_nonembedding(c.n_params, 32000)]]
    return tuple(np.log(np.array([getattr(a, attr) or np.nan for a in answers], float))
                 for attr in ("lr", "batch_tokens"))
