"""Muon beside AdamW on the `quick` preset's cells (CPU): the ratio of their optimal LRs, cell by cell.

    OMP_NUM_THREADS=1 nice -n 10 python3 benchmarks/muon_vs_adamw_cpu.py --out /tmp/muon-vs-adamw

Both sweeps use the quick preset's 12 cells (4 tiny proxies x 3 token budgets), its LR grid (with the
adaptive grid's extensions) at one batch (8 sequences, to stay within about 10 minutes of one CPU core), and
the same cosine schedule; only the optimizer differs: AdamW, or Muon on the hidden matrices (momentum 0.95,
original LR convention, AdamW on the rest at 0.3 x the LR, Marin's tuned muon_to_adam_lr). Each cell's
optimal LR is the fitter's estimate (calibration/fit/optimum.py fit_cell); the ratio Muon/AdamW is printed
per cell with its geometric mean, beside Marin's ratio of tuned LRs (arXiv 2509.02046; their Muon LR is
in the same original convention) when the marin-muon and marin-adamw sources are shipped.
Resumable: trials already in --out are kept.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from advisor.muon_lr import convert_lr  # noqa: E402
from calibration.sweep.spec import PRESET_DIR, parse_spec  # noqa: E402

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

BATCH_SEQS = 8
MUON_TRIAL = {"optimizer": "muon", "momentum": 0.95, "adam_lr_ratio": 0.3}


def spec_for(optimizer: str):
    """The quick preset at one batch size, with the optimizer's [trial] keys."""
    raw = tomllib.loads((PRESET_DIR / "quick.toml").read_text(encoding="utf-8"))
    raw["name"] = f"quick-{optimizer}-b{BATCH_SEQS}"
    raw["batch"] = {"seqs": [BATCH_SEQS]}
    raw["trial"].update(MUON_TRIAL if optimizer == "muon" else {})
    return parse_spec(raw)


def cell_optima(table) -> dict:
    """{(n_params, tokens): (optimal LR, flags)} from a trial table."""
    from calibration.fit.cell_fit import fit_cell
    from calibration.fit.table import build_cells, diverged_trials, prepare_trials

    trials, _ = prepare_trials(table)
    widths = dict(zip(table["n_params"], table["d_model"]))
    out = {}
    for cell in build_cells(trials, diverged_trials(table)):
        opt = fit_cell(cell)
        out[(cell.n_params, cell.tokens)] = (math.exp(opt.log_lr), opt.flags, int(widths[cell.n_params]))
    return out


def run(out: Path) -> dict:
    from calibration.sweep.export import trial_table
    from calibration.sweep.run import run_sweep
    from calibration.sweep.store import TrialStore

    optima = {}
    for optimizer in ("adamw", "muon"):
        folder = out / optimizer
        run_sweep(spec_for(optimizer), folder, workers=1, device="cpu", progress=False)
        with TrialStore.open(folder, readonly=True) as store:
            table = trial_table(store)
        table.to_csv(folder / "trials.csv", index=False)
        optima[optimizer] = cell_optima(table)
    return optima


def marin_ratios() -> list[float]:
    """Marin's tuned Muon LR / tuned AdamW LR per shared cell, from the shipped sources (empty when absent)."""
    try:
        from advisor.optimizers import tuned_lr_ratio
    except ImportError:
        return []
    return tuned_lr_ratio("muon", "adamw")


def report(optima: dict) -> None:
    print(f"{'N':>9} {'D':>9} {'d_model':>7} {'AdamW LR*':>10} {'Muon LR*':>10} {'Muon/AdamW':>10} "
          f"{'(Moonlight)':>11}  flags")
    ratios, moon = [], []
    for key in sorted(optima["adamw"]):
        if key not in optima["muon"]:
            continue
        (a, fa, _), (m, fm, d) = optima["adamw"][key], optima["muon"][key]
        ratios.append(m / a)
        moon.append(convert_lr(m, d, d, "original", "match_rms_adamw") / a)
        flags = ",".join(sorted({f.split(":")[0] for f in set(fa) | set(fm)} - {"batch_not_swept"})) or "-"
        print(f"{key[0]:9.3g} {key[1]:9.3g} {d:7d} {a:10.3g} {m:10.3g} {m / a:10.2f} {moon[-1]:11.2f}  {flags}")
    geo = math.exp(sum(map(math.log, ratios)) / len(ratios))
    print(f"geometric mean Muon/AdamW optimal-LR ratio over {len(ratios)} cells: {geo:.2f} "
          f"(range {min(ratios):.2f}-{max(ratios):.2f}; Muon LR in the original convention, as torch.optim.Muon's "
          f"default and Marin's; in Moonlight's RMS-matched convention: "
          f"{math.exp(sum(map(math.log, moon)) / len(moon)):.2f})")
    marin = marin_ratios()
    if marin:
        print(f"Marin (130M-1.2B, tuned LRs on 2x grids): ratio {', '.join(f'{r:g}' for r in marin)}; "
              f"geometric mean {math.exp(sum(map(math.log, marin)) / len(marin)):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/muon-vs-adamw", help="folder for the two sweeps' stores")
    report(run(Path(parser.parse_args().out)))


if __name__ == "__main__":
    main()
