"""The fit report: PNG plots (matplotlib, Agg) and a Markdown report with the tables.

Figures: loss against LR per size with the fitted optimum; optimal LR and batch against compute with
the law, its 90% band and the extrapolation, next to predicted-vs-measured; LR x batch loss heatmaps
per cell; the loss surface against N. Reads a fitted ScaleLawFitter: its artifact (advisor/artifact.py
types) and its cell table.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from advisor.artifact import CellEntry, FittedModelArtifact, HeldOutSummary, LawEntry, LossEntry, Validation
from advisor.artifact_text import coverage_lines, excluded_text
from advisor.laws import INPUT_SYMBOLS
from advisor.outputs import save_figure, write_text
from calibration.fit.laws import LawForm, predict
from calibration.fit.penalty_report import penalty_md, plot_penalty
from calibration.fit.plots import log_ticks, panel_grid, save_plot

EXTRAPOLATE = 100.0  # draw the laws out to this factor beyond the largest fitted compute
HEATMAP_CELLS_PER_FIGURE = 12
HEATMAP_PCT = (0.1, 30.0)  # colour range of the heatmaps: from flat synthetic bowls to steep real ones


# ------------------------------------------------------------------ text helpers (also used by the CLI)

def coef_table_rows(law: LawEntry) -> list[tuple[str, float, float | None, float | None]]:
    """(name, point, 5th pct, 95th pct) for the prefactor and each exponent of a power law."""
    coef = np.asarray(law.log_coef, float)
    samples = np.asarray(law.samples or [], float)
    names = ["prefactor"] + [f"exp({INPUT_SYMBOLS.get(i, i)})" for i in law.inputs]
    rows = []
    for k, name in enumerate(names):
        point = math.exp(coef[k]) if k == 0 else coef[k]
        lo = hi = None
        if samples.ndim == 2 and len(samples) >= 10:
            col = np.exp(samples[:, 0]) if k == 0 else samples[:, k]
            lo, hi = (float(v) for v in np.percentile(col, [5, 95]))
        rows.append((name, float(point), lo, hi))
    return rows


def law_equation(law: LawEntry, key: str) -> str:
    """The law as an equation, e.g. "lr = 0.31 * N^-0.250 * D^0.120   [a*N^alpha*D^beta]"; key: which law
    it is ("lr" or "batch", as the artifact's laws name them), not guessed from the form's name."""
    y = {"lr": "lr", "batch": "B"}[key]
    terms = " * ".join(f"{INPUT_SYMBOLS.get(n, n)}^{c:.3f}" for n, c in zip(law.inputs, law.log_coef[1:]))
    return f"{y} = {math.exp(law.log_coef[0]):.4g} * {terms}   [{law.form}]"


# ------------------------------------------------------------------ entry point

def build_report(fitter, out_dir: str | Path) -> Path:
    """Write all figures and report.md into out_dir (created) for a fitted ScaleLawFitter; returns the
    report path."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = {"Loss against LR per size": plot_loss_vs_lr(fitter, out / "loss_vs_lr.png")}
    for key, title in (("lr", "LR law"), ("batch", "Batch law")):
        if _law_of(fitter, key) is not None:
            figures[title] = plot_law(fitter, key, out / f"law_{key}.png")
    if fitter.loss_law_ is not None:
        figures["Loss surface"] = plot_loss_surface(fitter, out / "loss_surface.png")
    for k, path in enumerate(plot_heatmaps(fitter, out)):
        figures[f"LR x batch heatmaps ({k + 1})"] = path
    if fitter.penalty_ is not None:
        figures["Penalty per cell: measured runs against the model"] = plot_penalty(fitter, out / "penalty.png")
    path = out / "report.md"
    write_text(path, markdown(fitter.artifact_, {t: p.name for t, p in figures.items()}))
    return path


def _law_of(fitter, key: str) -> LawEntry | None:
    return fitter.lr_law_ if key == "lr" else fitter.batch_law_


# ------------------------------------------------------------------ figures

def plot_loss_vs_lr(fitter, path: Path) -> Path:
    """Per size: measured loss against LR at each cell's optimal batch, the smooth fit, the optimum."""
    import matplotlib.pyplot as plt

    from calibration.fit.optimum import read_loss

    table = fitter.table_
    sizes = sorted({c.n_params for c in table.cells})
    fig, axes = panel_grid(len(sizes))
    for ax, size in zip(axes, sizes):
        members = [(c, o) for c, o in zip(table.cells, table.optima) if c.n_params == size]
        colors = plt.cm.viridis(np.linspace(0, 0.85, len(members)))
        lo_all, hi_all = np.inf, 0.0
        for (cell, opt), color in zip(members, colors):
            ub = np.unique(np.round(cell.log_batch, 9))
            b = ub[np.argmin(np.abs(ub - opt.log_batch))]
            at = np.isclose(cell.log_batch, b)
            xs = np.unique(np.round(cell.log_lr[at], 9))
            means = np.array([cell.loss[at][np.isclose(cell.log_lr[at], x)].mean() for x in xs])
            label = f"D={cell.tokens:.2g}, B={math.exp(b):.0f}"
            ax.plot(np.exp(xs), means, "o:", color=color, ms=4, lw=0.7, label=label)
            # the local fit, drawn only where it reads the landscape (within the trials it used)
            fine = np.linspace(xs.min(), xs.max(), 60)
            reads = [read_loss(cell, opt, x, b) for x in fine]
            fitted = np.array([r[0] if r[2] else np.nan for r in reads])
            ax.plot(np.exp(fine), fitted, "-", color=color, lw=1.4)
            edge = "lr_on_grid_edge" in opt.flags
            ax.plot(math.exp(opt.log_lr), opt.loss, "*", ms=13, color=color, mec="red" if edge else "k")
            lo_all, hi_all = min(lo_all, means.min()), max(hi_all, means.min())
        ax.set_xscale("log")
        log_ticks(ax.xaxis)
        ax.set_ylim(lo_all * 0.995, hi_all * 1.06)  # the bowl, not the divergence side
        ax.set_title(f"N = {size:.3g}")
        ax.set_xlabel("peak LR")
        ax.set_ylabel("final val loss (nats/token)")
        ax.legend(fontsize=7)
    fig.suptitle("Loss against LR at each cell's optimal batch (dots: runs; solid: local fit; "
                 "star: fitted optimum, red edge: on the grid edge)", fontsize=10)
    return save_plot(fig, path)


def plot_law(fitter, key: str, path: Path) -> Path:
    """Two panels: the law against compute (left) and its predictions against the measured optima (right)."""
    import matplotlib.pyplot as plt

    fig, (ax_compute, ax_check) = plt.subplots(1, 2, figsize=(12, 4.8))
    _plot_law_against_compute(ax_compute, fitter, key)
    _plot_predicted_against_measured(ax_check, fitter, key)
    return save_plot(fig, path)


def _plot_law_against_compute(ax, fitter, key: str) -> None:
    """Cell optima against C (with their 90% intervals) and the law along each D/N ratio or budget D,
    its 90% band shaded and its extrapolation dashed."""
    import matplotlib.pyplot as plt

    law, table = _law_of(fitter, key), fitter.table_
    n, d, c = (table.inputs[k] for k in ("n_params", "tokens", "flops"))
    y, w = np.exp(table.y(key)), table.w(key)
    paths, group = _law_paths(n, d)
    colors = plt.cm.plasma(np.linspace(0, 0.85, len(paths)))
    sizes = np.unique(n)
    markers = "os^Dvp<>h*"
    # points and lines share one colour per budget (or D/N ratio): a cell is read against its own line;
    # the marker tells the sizes apart
    for k, size in enumerate(sizes):
        for j in np.flatnonzero(n == size):
            ci = fitter.cells_[j].lr_opt_ci90 if key == "lr" else fitter.cells_[j].batch_opt_ci90
            yerr = None if ci is None else [[max(y[j] - ci[0], 0)], [max(ci[1] - y[j], 0)]]
            color = colors[group[j]]
            ax.errorbar(c[j], y[j], yerr=yerr, fmt=markers[k % len(markers)] if w[j] > 0 else "x", color=color,
                        ms=5, mfc=color if w[j] >= 0.99 else "none", capsize=2)
        ax.plot([], [], markers[k % len(markers)], color="grey", label=f"N={size:.2g}")
    cmax = c[w > 0].max()
    for (label, path_nd), color in zip(paths, colors):
        cc = np.geomspace(c[w > 0].min(), cmax * EXTRAPOLATE, 80)
        nn, dd = path_nd(cc)
        _plot_law_line(ax, law, {"n_params": nn, "tokens": dd, "flops": cc}, cc <= cmax, label,
                       color if set(law.inputs) & {"n_params", "tokens"} else "black")
        if not set(law.inputs) & {"n_params", "tokens"}:
            break  # a law in C alone: one line is the whole law
    ax.axvline(cmax, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute C = 6ND (FLOPs)")
    ax.set_ylabel("optimal peak LR" if key == "lr" else "optimal batch (tokens)")
    ax.set_title(f"{law.form}: 90% band shaded, dashed = extrapolation")
    ax.legend(fontsize=7, ncol=2)


def _plot_law_line(ax, law: LawEntry, grid: dict, inside: np.ndarray, label: str, color=None) -> None:
    """The law along one path through (N, D, C): solid inside the fitted compute, dashed beyond, with the
    90% band of its bootstrap draws."""
    form = LawForm(law.form, law.inputs)
    cc = grid["flops"]
    pred = np.exp(predict(np.asarray(law.log_coef), form, grid))
    line, = ax.plot(cc[inside], pred[inside], "-", lw=1.2, color=color,
                    label="law" if law.inputs == ("flops",) else f"law, {label}")
    ax.plot(cc[~inside], pred[~inside], "--", lw=1.2, color=line.get_color())
    if law.samples:
        lo, hi = np.percentile(np.exp(predict(np.asarray(law.samples), form, grid)), [5, 95], axis=0)
        ax.fill_between(cc, lo, hi, color=line.get_color(), alpha=0.15, lw=0)


def _plot_predicted_against_measured(ax, fitter, key: str) -> None:
    """The law's prediction at each cell against the cell's measured optimum; the largest size marked,
    and its cells as predicted by the refit without it (held-out validation)."""
    law, table = _law_of(fitter, key), fitter.table_
    y, w, n = np.exp(table.y(key)), table.w(key), table.inputs["n_params"]
    pred = np.exp(predict(np.asarray(law.log_coef), LawForm(law.form, law.inputs), table.inputs))
    largest = n == n[w > 0].max()
    ax.scatter(y[~largest & (w > 0)], pred[~largest & (w > 0)], c="C0", s=20, label="fitted cells")
    ax.scatter(y[largest & (w > 0)], pred[largest & (w > 0)], c="C3", s=30, label="largest N (fitted)")
    held_x, held_y = _held_out_predictions(fitter.validation_.held_out_largest, key)
    if held_x:
        ax.scatter(held_x, held_y, marker="D", facecolors="none", edgecolors="C3", s=50,
                   label="largest N held out (refit without it)")
    if (w == 0).any():
        ax.scatter(y[w == 0], pred[w == 0], marker="x", c="grey", s=20, label="dropped cells")
    shown = np.concatenate([y, pred, held_x, held_y])
    lims = np.array([shown.min() / 1.5, shown.max() * 1.5])
    ax.plot(lims, lims, "k-", lw=0.8)
    ax.plot(lims, lims * 2, "k:", lw=0.6)
    ax.plot(lims, lims / 2, "k:", lw=0.6, label="factor 2")
    ax.set_xscale("log")
    ax.set_yscale("log")
    log_ticks(ax.xaxis)
    log_ticks(ax.yaxis)
    ax.set_xlim(lims)
    ax.set_ylim(lims)
    ax.set_xlabel("measured optimum (local fit)")
    ax.set_ylabel("law prediction")
    ax.legend(fontsize=7)


def _held_out_predictions(held: HeldOutSummary, key: str) -> tuple[list[float], list[float]]:
    """(measured optima, refit predictions) of the held-out largest size's cells for one law."""
    cells = [h for h in held.cells or [] if key == "lr" or h.batch_predicted]
    if key == "lr":
        return [h.lr_opt for h in cells], [h.lr_pred for h in cells]
    return [h.batch_opt for h in cells], [h.batch_pred for h in cells]


def _law_paths(n: np.ndarray, d: np.ndarray):
    """(lines to draw a law along, C -> (N, D); each cell's line): at fixed token budgets when the sweep used
    few budgets, else at the sweep's tokens-per-parameter ratios; a cell belongs to the nearest in log."""
    by_budget = len(np.unique(np.round(np.log(d), 1))) <= len(np.unique(np.round(np.log(d / n), 1)))
    values = d if by_budget else d / n
    centres = _ratio_groups(values)
    group = np.abs(np.log(values)[:, None] - np.log(np.asarray(centres))[None, :]).argmin(axis=1)
    if by_budget:
        return [(f"D={b:.3g}", lambda cc, b=b: (cc / (6 * b), np.full_like(cc, b))) for b in centres], group
    return [(f"D/N={r:.3g}", lambda cc, r=r: (np.sqrt(cc / (6 * r)), np.sqrt(cc / (6 * r)) * r))
            for r in centres], group


def _ratio_groups(ratio: np.ndarray, max_groups: int = 4) -> list[float]:
    """Distinct values (within 20%) of a positive quantity, e.g. D/N or D; at most max_groups of them."""
    groups = []
    for r in np.sort(ratio):
        if not groups or r > groups[-1][-1] * 1.2:
            groups.append([r])
        else:
            groups[-1].append(r)
    centres = [float(np.exp(np.log(g).mean())) for g in groups]
    if len(centres) > max_groups:
        centres = [centres[int(i)] for i in np.linspace(0, len(centres) - 1, max_groups).round()]
    return centres


def plot_loss_surface(fitter, path: Path) -> Path:
    """Cells' optimal loss against N with the fitted L(N, D) at each budget D (or D/N ratio)."""
    import matplotlib.pyplot as plt

    from calibration.fit.loss_surface import pack, surface

    values = np.asarray(fitter.loss_law_.values)
    inputs = fitter.table_.inputs
    n, d = inputs["n_params"], inputs["tokens"]
    loss = np.array([o.loss for o in fitter.table_.optima])
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    budgets, ratios = _ratio_groups(d, max_groups=6), _ratio_groups(d / n, max_groups=6)
    by_budget = len(budgets) <= len(ratios)  # a sweep at fixed budgets: one line per D
    nn = np.geomspace(n.min(), n.max() * 10, 60)
    for g in budgets if by_budget else ratios:
        key = d if by_budget else d / n
        m = np.abs(np.log(key / g)) < np.log(1.2)
        line, = ax.plot(n[m], loss[m], "o", ms=5, label=f"D={g:.3g}" if by_budget else f"D/N={g:.3g}")
        dd = np.full_like(nn, g) if by_budget else nn * g
        ax.plot(nn, surface(pack(values), nn, dd), "-", lw=1, color=line.get_color())
    e, a, alpha, b, beta = values
    if e > 0.3 * loss.min():  # else the line would squash the data into a strip
        ax.axhline(e, color="grey", ls=":", lw=0.8, label=f"E = {e:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("N (non-embedding parameters)")
    ax.set_ylabel("optimal loss (nats/token)")
    ax.set_title(f"L = {e:.3f} + {a:.3g}/N^{alpha:.3f} + {b:.3g}/D^{beta:.3f}", fontsize=9)
    ax.legend(fontsize=7)
    return save_plot(fig, path)


def plot_heatmaps(fitter, out: Path) -> list[Path]:
    """LR x batch maps of each cell's loss above its best (percent), fitted optimum starred."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    table = fitter.table_
    paths = []
    pairs = list(zip(table.cells, table.optima))
    for start in range(0, len(pairs), HEATMAP_CELLS_PER_FIGURE):
        chunk = pairs[start:start + HEATMAP_CELLS_PER_FIGURE]
        fig, axes = panel_grid(len(chunk), max_cols=4, layout="constrained")
        for ax, (cell, opt) in zip(axes, chunk):
            pts = np.round(np.stack([cell.log_lr, cell.log_batch], 1), 9)
            uniq, inv = np.unique(pts, axis=0, return_inverse=True)
            means = np.bincount(inv.ravel(), weights=cell.loss) / np.bincount(inv.ravel())
            rel = np.clip(100 * (means / means.min() - 1), HEATMAP_PCT[0], HEATMAP_PCT[1])
            sc = ax.scatter(np.exp(uniq[:, 0]), np.exp(uniq[:, 1]), c=rel, cmap="viridis_r", marker="s",
                            s=90, norm=LogNorm(*HEATMAP_PCT))
            best = np.argmin(means)
            ax.plot(np.exp(uniq[best, 0]), np.exp(uniq[best, 1]), "x", color="red", ms=8, label="best run")
            ax.plot(math.exp(opt.log_lr), math.exp(opt.log_batch), "*", color="white", mec="k", ms=14,
                    label="fitted optimum")
            ax.set_xscale("log")
            log_ticks(ax.xaxis)
            ax.set_yscale("log", base=2)
            flags = ", ".join(f.split(":")[0] for f in opt.flags)
            ax.set_title(f"N={cell.n_params:.3g} D={cell.tokens:.3g}\n{flags}", fontsize=8)
            ax.set_xlabel("peak LR", fontsize=8)
            ax.set_ylabel("batch (tokens)", fontsize=8)
            ax.tick_params(labelsize=7)
        fig.colorbar(sc, ax=axes[: len(chunk)], shrink=0.8,
                     label=f"loss above the cell's best run, % (log scale, clipped to {HEATMAP_PCT})")
        axes[0].legend(fontsize=6, loc="lower left")
        path = out / f"heatmaps_{start // HEATMAP_CELLS_PER_FIGURE + 1:02d}.png"
        save_figure(fig, path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


# ------------------------------------------------------------------ markdown

def _g(v, fmt: str = ".4g") -> str:
    return "n/a" if v is None else format(v, fmt)


def markdown(art: FittedModelArtifact, figures: dict[str, str]) -> str:
    """The report: provenance, warnings, laws, loss surface, validation, cells, figures."""
    prov = art.provenance
    excluded = excluded_text(prov.n_excluded)
    lines = ["# Fit report", "",
             f"Table `{prov.table}` ({prov.source}), {prov.n_trials_used} of {prov.n_trials} trials "
             f"used in {prov.n_cells} cells; excluded: {excluded}. Bootstrap: {prov.bootstrap} resamples "
             f"(loss surface: {prov.loss_bootstrap}). Written {art.created_at} by {prov.code_version}.", ""]
    if art.warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in art.warnings] + [""]
    lines += ["## Laws", "", "Coefficients with 90% bootstrap intervals; the form of each law is chosen by "
              "leave-one-size-out (LOSO) |log2 error|.", ""]
    lines += _law_md("lr", art.laws.lr) + _law_md("batch", art.laws.batch)
    from calibration.fit.joint_record import markdown as joint_md  # a joint fit's section (else nothing)

    lines += joint_md(prov.joint)
    from calibration.fit.cross_record import markdown as cross_md  # a cross-setup fit's section (else nothing)

    lines += cross_md(prov.cross_setup)
    lines += _surface_md(art.laws.loss) + _validation_md(art.validation) + penalty_md(art.penalty) + _targets_md(art)
    lines += _cells_md(art.cells)
    lines += ["## Figures", ""]
    for title, name in figures.items():
        lines += [f"### {title}", "", f"![{title}]({name})", ""]
    return "\n".join(lines)


def _law_md(key: str, law: LawEntry | None) -> list[str]:
    if law is None:
        return [f"### {key}: not fitted", ""]
    lines = [f"### {'Learning rate' if key == 'lr' else 'Batch size (tokens)'}", "",
             "| form | chosen | LOSO \\|log2 err\\| | residual sd (log) | cells | coefficients (90% CI) |",
             "|---|---|---|---|---|---|"]
    for k, f in enumerate(law.forms):
        coefs = "; ".join(f"{nm} {p:.4g}" + (f" [{lo:.4g}, {hi:.4g}]" if lo is not None else "")
                          for nm, p, lo, hi in coef_table_rows(f))
        lines.append(f"| {f.form} | {'yes' if k == 0 else ''} | {_g(f.cv_log2_error, '.3f')} | "
                     f"{f.residual_sd:.3f} | {f.n_cells} | {coefs} |")
    for s in law.skipped:
        lines.append(f"| {s.form} | skipped: {s.reason} | | | | |")
    bound = law.bound_reason("LR" if key == "lr" else "batch")
    if bound:
        lines += ["", f"**{bound[0].upper()}{bound[1:]}.**"]
    return lines + [""]


def _surface_md(loss: LossEntry | None) -> list[str]:
    if not loss:
        return []
    samples = np.asarray(loss.samples or [], float)
    lines = ["### Loss surface L = E + A/N^alpha + B/D^beta", "", "| parameter | value | 90% CI |", "|---|---|---|"]
    for k, (name, value) in enumerate(loss.by_name().items()):
        ci = (f"[{np.percentile(samples[:, k], 5):.4g}, {np.percentile(samples[:, k], 95):.4g}]"
              if samples.ndim == 2 and len(samples) >= 10 else "n/a")
        lines.append(f"| {name} | {value:.4g} | {ci} |")
    return lines + ["", f"Residual sd {loss.residual_sd:.4f} nats over {loss.n_cells} cells.", ""]


REFERENCE_TARGETS = (("7B", "2T"), ("70B", "2T"))  # total parameters, tokens


def _targets_md(art: FittedModelArtifact) -> list[str]:
    """The advisor's 90% intervals at reference targets, component by component (advisor/intervals.py)."""
    from advisor.model import FittedModel, ModelError
    from advisor.errors import AdvisorError
    from advisor.recipe import recommend

    lines = ["## Intervals at reference targets", "",
             "What `advisor recommend` gives with this model (Llama-style shape, vocabulary 32,000, seq_len "
             "4096): the 90% interval and each of its components on its own. The setup component is "
             + ("absent: the model was fitted on the target's own setup." if art.provenance.same_setup_as_target
                else "the spread of independent published laws at the target."), "",
             "| target | quantity | point | sampling | law form | setup | total (width) |", "|---|---|---|---|---|---|---|"]
    for params, tokens in REFERENCE_TARGETS:
        try:
            rec = recommend(params, tokens, model=FittedModel.from_artifact(art))
        except (ModelError, AdvisorError) as exc:
            lines.append(f"| {params}, {tokens} | — | {exc} | | | | |")
            continue
        for label, value, parts in (("peak LR", rec.lr, rec.lr_interval),
                                    ("batch (tokens)", rec.batch_tokens, rec.batch_interval)):
            if label.startswith("batch") and rec.batch_source != "model":
                lines.append(f"| {params}, {tokens} | {label} | {value:.3g} | from {rec.batch_source[4:]}'s "
                             "published point law: this model has no usable batch law | | | |")
                continue
            cols = [f"{b[0]:.3g}–{b[1]:.3g}" for b in (parts.sampling, parts.law_form, parts.setup)]
            lo, hi = parts.total
            lines.append(f"| {params}, {tokens} | {label} | {value:.3g} | {' | '.join(cols)} | "
                         f"{lo:.3g}–{hi:.3g} ({hi / lo:.3g}×) |")
    return lines + [""]


def _cells_md(cells: list[CellEntry]) -> list[str]:
    lines = ["## Cells", "", "| N | D | lr_opt | batch_opt | loss_opt | trials | method | weight (lr/batch) | "
             "near-optimal LR | flags |", "|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        lines.append(f"| {c.n_params:.3g} | {c.tokens:.3g} | {c.lr_opt:.3g} | {c.batch_opt:.4g} | "
                     f"{c.loss_opt:.4f} | {c.n_trials} | {c.method} | "
                     f"{c.weight:.2g}/{c.weight_batch:.2g} | "
                     f"{c.near_optimal_lr[0]:.3g}-{c.near_optimal_lr[1]:.3g} | {'; '.join(c.flags)} |")
    return lines + [""]


def _published_reference(held: HeldOutSummary) -> str:
    ref = [c.published_law_nearest_run_regret_pct for c in held.cells or []
           if c.published_law_nearest_run_regret_pct is not None]
    return (" For reference, the source authors' own published law (fitted on every size, the held-out one "
            f"included) gets {', '.join(f'{r:.3f}%' for r in ref)} at its nearest measured runs.") if ref else ""


def _validation_md(val: Validation) -> list[str]:
    held = val.held_out_largest
    lines = ["## Held-out validation", ""]
    if held.skipped:
        return lines + [f"Held-out largest size: skipped ({held.skipped}).", ""]
    lines += [f"Refit without the largest size N = {held.n_params:.3g} (forms chosen again: "
              f"{held.forms.lr}, {held.forms.batch}) and predicted its cells: mean |log2 error| "
              f"LR {held.lr_log2_error:.3f}, batch {_g(held.batch_log2_error, '.3f')}, loss regret "
              f"{held.loss_regret_pct:.3f}% (the measured run nearest to the prediction: "
              f"{_g(held.nearest_run_regret_pct, '.3f')}%)." + _published_reference(held), "",
              "| D | lr pred | lr opt | batch pred | batch opt | loss at pred | loss opt | regret % | nearest run % |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c in held.cells:
        lines.append(f"| {c.tokens:.3g} | {c.lr_pred:.3g} | {c.lr_opt:.3g} | {c.batch_pred:.4g} | "
                     f"{c.batch_opt:.4g} | {c.loss_at_pred:.4f} | {c.loss_opt:.4f} | {c.regret_pct:.3f}"
                     f"{' (outside grid)' if c.outside_grid else ''} | {_g(c.nearest_run_regret_pct, '.3f')} |")
    lines += _leave_one_cell_out_md(val.leave_one_cell_out)
    cov = coverage_lines(val.coverage)
    if cov:
        lines += ["", "Interval coverage: the held-out optima against the 90% intervals the refit predicts for "
                  "them (sampling and law-form components, computed by the advisor's own interval code; no "
                  "setup component, since train and test share a setup):", ""] + [f"- {c}" for c in cov]
    return lines + [""]


def _leave_one_cell_out_md(loco: HeldOutSummary) -> list[str]:
    if loco.skipped:
        return ["", f"Leave-one-cell-out: skipped ({loco.skipped})."]
    return ["", f"Leave-one-cell-out ({loco.n_cells} cells): mean |log2 error| LR "
            f"{loco.lr_log2_error:.3f}, batch {_g(loco.batch_log2_error, '.3f')}, "
            f"loss regret {loco.loss_regret_pct:.3f}% (nearest measured run: "
            f"{_g(loco.nearest_run_regret_pct, '.3f')}%)."]
