"""The penalty model in the fit report: per cell, the measured penalty of its runs near the optimal batch
against the model's curve, and the leave-one-cell-out figures beside the naive quadratic."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from advisor.penalty import validation_lines
from calibration.fit.penalty import run_offsets
from calibration.fit.plots import panel_grid, save_plot

NEAR_BATCH_LOG2 = 0.5  # runs within √2 of the optimal batch are drawn against the curve at v = 0
Y_MAX_PCT = 5.0


def plot_penalty(fitter, path: Path) -> Path:
    """One panel per cell: penalty (%) against log2(LR / LR*), measured runs and the fitted curve."""
    runs, model = run_offsets(fitter.table_), fitter.penalty_
    cells = [int(c) for c in np.unique(runs["cell"])]
    fig, axes = panel_grid(len(cells), max_cols=4, sharey=True)
    u_line = np.linspace(-3, 3, 121)
    for ax, j in zip(axes, cells):
        cell = fitter.table_.cells[j]
        mine = (runs["cell"] == j) & (np.abs(runs["v"]) <= NEAR_BATCH_LOG2)
        ax.scatter(runs["u"][mine], np.minimum(runs["pct"][mine], Y_MAX_PCT), s=10, color="tab:blue",
                   label="runs near the optimal batch")
        ax.plot(u_line, [model.point(cell.n_params, cell.tokens, u, 0.0) for u in u_line], color="tab:red",
                label="model at the optimal batch")
        ax.set(xlim=(-3, 3), ylim=(0, Y_MAX_PCT), title=f"N={cell.n_params:.3g}, D={cell.tokens:.3g}")
        ax.title.set_fontsize(8)
    for ax in axes[len(cells):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.supxlabel("log2(LR / optimal LR)")
    fig.supylabel(f"loss penalty over the optimum (%), capped at {Y_MAX_PCT:g}")
    return save_plot(fig, path)


def penalty_md(penalty) -> list[str]:
    lines = ["## The cost of being off (penalty model)", "",
             "The loss penalty of a run over its cell's optimum, against its LR and batch offsets (advisor/"
             "penalty.py); checked by leaving one cell out, beside a symmetric quadratic pooled over the same "
             "runs (the naive baseline). A run counts as flagged when its predicted 90% upper bound reaches 3%.", ""]
    return lines + [f"- {line.strip()}" for line in validation_lines(penalty)] + [""]
