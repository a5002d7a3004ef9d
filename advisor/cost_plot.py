"""The predicted penalty map over LR × batch at a target, with contours at 0.25% and 1% and chosen points
marked (`advisor check --plot`, `advisor recommend --plot`). matplotlib is imported here only, on use."""
from __future__ import annotations

from pathlib import Path

from advisor.penalty import CAP_PCT, TOLERANCE_PCTS, PenaltyModel
from advisor.units import format_count

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
    # both contours dark on the light low-penalty colours, labelled on a white box so "1%" reads anywhere
    contours = ax.contour(lrs, batches, grid, levels=list(TOLERANCE_PCTS), colors="black",
                          linestyles=["--", "-"], linewidths=1.2)
    for text in ax.clabel(contours, fmt=lambda v: f"{v:g}%", fontsize=9, inline=True):
        text.set_bbox({"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    ax.plot([lr_opt], [batch_opt], marker="*", color="white", markeredgecolor="black", markersize=14, linestyle="none",
            label="optimum")
    for label, (lr, batch) in points.items():
        ax.plot([lr], [batch], marker="o", markersize=8, markeredgecolor="black", linestyle="none", label=label)
    ax.set(xscale="log", yscale="log", xlabel="peak LR", ylabel="batch (tokens)", title=title)
    _log_ticks(ax.xaxis, lambda x: f"{x:.0e}".replace("e-0", "e-"))
    _log_ticks(ax.yaxis, format_count)
    fig.colorbar(mesh, ax=ax, label="predicted loss penalty (%), capped at 5")
    ax.legend(loc="lower left", fontsize=8, framealpha=0.85)  # inside the map: no empty margin
    from advisor.outputs import save_figure

    path = save_figure(fig, path, dpi=120, bbox_inches="tight")  # a fresh temp file, renamed into place
    plt.close(fig)
    return path


def _log_ticks(axis, label) -> None:
    """Ticks at 1, 2 and 5 per decade, labelled in plain units: the map spans under two decades, where
    decade ticks alone leave one label or none."""
    import matplotlib.ticker

    axis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: label(x)))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
