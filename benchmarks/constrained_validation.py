"""Leave-one-cell-out validation of the constrained answers and of a plan's cost on Step Law's dense grids
(calibration/fit/constrained_validate.py), as tables:

1. the plan's cost end to end (refit without the cell, `check` each of its runs against the predicted optimum,
   measured excess over the cell's best run, capped at 20%) beside the shape-only validation (the penalty
   around each cell's own measured optimum), with issue 21's goals;
2. the best LR at a fixed batch: the surface (advisor/constrained.py) beside the √ rule, the linear rule and a
   constant LR, anchored at the predicted joint optimum (left-out cell) and, for scale, at the in-sample one;
   rows within 2× and 4× of the cell's optimal batch; the error of the constraint's predicted cost;
3. which rule the data favour and how it moves with N and D: per cell, the slope of the rows' best log LR
   against log batch (rows within 4× of the optimal batch; √ rule 0.5, linear 1, constant 0).

Run: OMP_NUM_THREADS=1 python benchmarks/constrained_validation.py [--write data/models/steplaw-dense/model.json]
(--write stores the end-to-end figures in that model's penalty.validation.end_to_end, nothing else).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from advisor.catalog import resolve_source  # noqa: E402
from advisor.constrained import RULES, best_offset  # noqa: E402
from calibration.fit import ScaleLawFitter  # noqa: E402
from calibration.fit.fitter import E2E_BOOT  # noqa: E402
from calibration.fit.constrained_validate import LN2, end_to_end, row_optima  # noqa: E402
from calibration.fit.laws import predict  # noqa: E402
from calibration.fit.writer import readable_text  # noqa: E402

GOALS = {"within_2x": "≤ 0.10", "within_4x": "≤ 0.20 (mean ≤ 0.5)"}
NAMES = ("surface", "sqrt", "linear", "constant")


def plan_table(shape: dict, e2e: dict) -> list[str]:
    plan = e2e["plan_cost"]
    lines = ["1. the cost of a plan: |predicted − measured| penalty in pp (capped at 20%), median / mean",
             f"{'runs of the held-out cell':<28} {'end to end (check)':>22} {'shape only':>16} {'goal (median)':>22}"]
    for span in ("within_2x", "within_4x"):
        p, s = plan[span], shape["model"][span]
        lines.append(f"{span.replace('_', ' ') + f' ({p[chr(110)]})':<28} {p['median_abs_pp']:>10.3f} / {p['mean_abs_pp']:.3f}"
                     f"   {s['median_abs_pp']:>7.3f} / {s['mean_abs_pp']:.3f} {GOALS[span]:>22}")
    lines.append(f"runs costing > 3% within 4×, flagged risky: end to end {plan['costly_flagged']} of {plan['costly_runs']}; "
                 f"shape only {shape['costly_flagged']} of {shape['costly_runs']}")
    return lines


def rows_table(title: str, summary: dict) -> list[str]:
    lines = [title, f"{'rows':<22} {'surface':>8} {'√ rule':>8} {'linear':>8} {'constant':>9} {'cost |err| pp':>14}"]
    for span in ("within_2x", "within_4x"):
        r = summary[span]
        lines.append(f"{span.replace('_', ' ') + f' ({r[chr(110)]})':<22} " + " ".join(
            f"{r[f'median_log2_{k}']:>8.3f}" for k in NAMES) + f" {r['median_cost_error_pp']:>9.3f}")
    return lines


def in_sample(fitter) -> dict:
    """The same rows, anchored at the full fit's joint optimum, read with the full penalty model."""
    table, pm = fitter.table_, fitter.penalty_
    out = {2: [], 4: []}
    lr_law, b_law = fitter.lr_fits_[0], fitter.batch_fits_[0]
    for i, (cell, opt) in enumerate(zip(table.cells, table.optima)):
        one = {k: v[i:i + 1] for k, v in table.inputs.items()}
        log_lr = float(predict(lr_law.log_coef, lr_law.form, one)[0])
        log_b = float(predict(b_law.log_coef, b_law.form, one)[0])
        ln_n, ln_d, _ = pm._shape_point(cell.n_params, cell.tokens)
        for r in row_optima(cell):
            v = (r["log_batch"] - log_b) / LN2
            preds = {"surface": best_offset(pm.coef, ln_n, ln_d, "batch", v), **{k: s * v for k, s in RULES.items()}}
            err = {k: abs(log_lr / LN2 + p - r["log_lr"] / LN2) for k, p in preds.items()}
            for span in out:
                if abs(r["log_batch"] - opt.log_batch) / LN2 <= np.log2(span):
                    out[span].append(err)
    return {f"within_{s}x": {"n": len(e), **{f"median_log2_{k}": float(np.median([x[k] for x in e])) for k in NAMES},
                             "median_cost_error_pp": float("nan")} for s, e in out.items()}


def slopes(fitter) -> list[str]:
    lines = ["3. per cell: slope of the rows' best log LR against log batch (rows within 4× of the optimal batch)",
             f"{'N':>10} {'D':>8} {'rows':>5} {'slope':>7}   nearest rule"]
    seen = []
    for cell, opt in sorted(zip(fitter.table_.cells, fitter.table_.optima), key=lambda c: (c[0].n_params, c[0].tokens)):
        rows = [r for r in row_optima(cell) if abs(r["log_batch"] - opt.log_batch) / LN2 <= 2]
        if len(rows) < 3:
            continue
        slope = float(np.polyfit([r["log_batch"] for r in rows], [r["log_lr"] for r in rows], 1)[0])
        rule = min(RULES, key=lambda k: abs(RULES[k] - slope))
        lines.append(f"{cell.n_params:>10.3g} {cell.tokens:>8.3g} {len(rows):>5} {slope:>7.2f}   {rule}")
        seen.append((np.log(cell.n_params), np.log(cell.tokens), slope))
    ln_n, ln_d, k = (np.array(c) for c in zip(*seen))
    fit = np.linalg.lstsq(np.column_stack([np.ones_like(k), ln_n - ln_n.mean(), ln_d - ln_d.mean()]), k, rcond=None)[0]
    lines.append(f"median slope {np.median(k):.2f} (quartiles {np.percentile(k, 25):.2f}–{np.percentile(k, 75):.2f}); "
                 f"regressed on ln N and ln D: {fit[0]:.2f} {fit[1]:+.3f}·ln(N/N̄) {fit[2]:+.3f}·ln(D/D̄) per e-fold; "
                 f"correlation with ln N {np.corrcoef(ln_n, k)[0, 1]:+.2f}, ln D {np.corrcoef(ln_d, k)[0, 1]:+.2f}")
    return lines


def full_check(path: Path) -> list[str]:
    """The plan's cost through the shipped code itself: the whole fit (forms chosen again) without each cell,
    then `advisor.check` of each of its runs (seq_len 2048, Step Law's); slow (17 fits)."""
    import pandas as pd

    from advisor.checking import check
    from advisor.model import FittedModel

    df = pd.read_csv(path)
    full = ScaleLawFitter(n_boot=0, loss_surface=False).fit(df)
    errs = {2: [], 4: []}
    for cell, opt in zip(full.table_.cells, full.table_.optima):
        rest = df[~((df["n_params"] == cell.n_params) & ((df["tokens"] / cell.tokens - 1).abs() < 0.05))]
        fitted = FittedModel.from_dict(ScaleLawFitter(n_boot=0, loss_surface=False).fit(rest).artifact_.to_json())
        best = float(cell.loss.min())
        for lr, b, loss in zip(np.exp(cell.log_lr), np.exp(cell.log_batch), cell.loss):
            c = check(n_params_nonembedding=cell.n_params, tokens=cell.tokens, lr=float(lr), batch=float(b),
                      seq_len=2048, model=fitted)
            du, dv = abs(np.log(lr) - opt.log_lr) / LN2, abs(np.log(b) - opt.log_batch) / LN2
            for span in errs:
                if du <= np.log2(span) and dv <= np.log2(span):
                    errs[span].append(abs(c.penalty_pct - min(100 * (loss / best - 1), 20.0)))
    return [f"   through advisor.check itself (whole fit without the cell): runs within {s}× ({len(e)}): median "
            f"{np.median(e):.3f} pp, mean {np.mean(e):.3f} pp" for s, e in errs.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", metavar="MODEL.json", help="store the end-to-end figures in this model's penalty.validation")
    ap.add_argument("--full-check", action="store_true", help="also run the plan's cost through advisor.check "
                    "with the whole fit redone without each cell (17 fits: minutes)")
    args = ap.parse_args()
    fitter = ScaleLawFitter(n_boot=0, loss_surface=False).fit(str(resolve_source("steplaw-dense")))
    # as `advisor fit` (seed 0) stores it: E2E_BOOT refits per left-out cell flag the costly runs
    e2e = end_to_end(fitter.table_, fitter.lr_fits_[0].form, fitter.batch_fits_[0].form, fitter.penalty_,
                     np.random.default_rng(3), n_boot=E2E_BOOT)
    print("Step Law dense (17 cells, 1,911 runs): each cell left out, laws and penalty model refitted on the others\n")
    print("\n".join(plan_table(fitter.penalty_.validation, e2e)))
    if args.full_check:
        print("\n".join(full_check(resolve_source("steplaw-dense"))))
    print()
    print("\n".join(rows_table("2. best LR at a fixed batch, median |log2| error; anchored at the left-out cell's predicted "
                               "joint optimum", e2e["constrained"])), "\n")
    print("\n".join(rows_table("   for scale, anchored at the in-sample joint optimum (full fit; no cost column)",
                               in_sample(fitter))), "\n")
    print("\n".join(slopes(fitter)))
    if args.write:
        path = Path(args.write)
        model = json.loads(path.read_text())
        model["penalty"]["validation"]["end_to_end"] = e2e
        path.write_text(readable_text(model), encoding="utf-8")
        print(f"\nwrote penalty.validation.end_to_end to {path}")


if __name__ == "__main__":
    main()
