"""The predicted penalty map over LR × batch at a target, with contours at 0.25% and 1% and chosen points
marked (`advisor check --plot`, `advisor recommend --plot`). matplotlib is imported here only, on use."""
from __future__ import annotations

from pathlib import Path

from advisor.penalty import CAP_PCT, TOLERANCE_PCTS, PenaltyModel

SPAN_LOG2 = 3.0  # the map covers 8× either side of the optimum
STEPS = 81


def plot_penalty_map(penalty: PenaltyModel, n_params: float, tokens: float, lr_opt: float, batch_opt: float,
                     points: dict[str, tuple[float, float]], path: str | Path, title: str) -> Path:
    """Write the map as PNG; `points` maps a label to (lr, batch_tokens)."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offsets = [-SPAN_LOG2 + 2 * SPAN_LOG2 * k / (STEPS - 1) for k in range(STEPS)]
    lrs = [lr_opt * 2.0 ** u for u in offsets]
    batches = [batch_opt * 2.0 ** v for v in offsets]
    grid = [[penalty.point(n_params, tokens, u, v) for u in offsets] for v in offsets]
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    mesh = ax.pcolormesh(lrs, batches, grid, shading="auto", cmap="viridis_r", vmin=0, vmax=min(CAP_PCT, 5.0))
    contours = ax.contour(lrs, batches, grid, levels=list(TOLERANCE_PCTS), colors=["white", "orange"])
    ax.clabel(contours, fmt=lambda v: f"{v:g}%")
    ax.plot([lr_opt], [batch_opt], marker="*", color="white", markeredgecolor="black", markersize=14, linestyle="none",
            label="optimum")
    for label, (lr, batch) in points.items():
        ax.plot([lr], [batch], marker="o", markersize=8, linestyle="none", label=label)
    ax.set(xscale="log", yscale="log", xlabel="peak LR", ylabel="batch (tokens)", title=title)
    for axis in (ax.xaxis, ax.yaxis):  # decade labels only: minor labels collide on a log axis
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    fig.colorbar(mesh, ax=ax, label="predicted loss penalty (%), capped at 5")
    ax.legend(loc="upper left", bbox_to_anchor=(1.25, 1.0), fontsize=8, frameon=False)
    from advisor.outputs import save_figure

    path = save_figure(fig, path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
