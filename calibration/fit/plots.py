"""The figures' shared helpers (matplotlib, Agg): a grid of panels, log-axis ticks, and saving a figure.
Used by the fit report (report.py) and the penalty model's figure (penalty_report.py)."""
from __future__ import annotations

import math
from pathlib import Path

from advisor.outputs import save_figure


def panel_grid(n: int, max_cols: int = 3, **kw):
    """A figure of n panels, at most max_cols a row (the unused ones hidden); returns (fig, axes as a list)."""
    import matplotlib.pyplot as plt

    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False, **kw)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def log_ticks(axis) -> None:
    """Ticks at 1, 2, 5 x 10^k with short labels: readable on narrow and wide log ranges alike."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    axis.set_minor_formatter(NullFormatter())


def save_plot(fig, path: Path) -> Path:
    """Lay the figure out, write it (advisor.outputs.save_figure, 110 dpi) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path
