"""Replay calibration designs on Step Law's dense sweep: law quality against the share of runs used.

    OMP_NUM_THREADS=1 nice python3 benchmarks/replay_laws.py            # 2 seeds per design, 100 bootstrap draws (~10 min)
    python3 benchmarks/replay_laws.py --seeds 1 --designs ends-coord12  # one design, quicker

Each design (calibration/studies/replay_law.py) trains some cells below Step Law's largest size (1.07B) with a
search of a few points per cell, replayed on the recorded runs; its fit predicts the largest size's cells
(LR and batch |log2| error against their full-grid optima) and the LR at 7B params / 2T tokens (90%
interval width over the full-data fit's). Each design runs alone and borrowing exponents from the MoE
sweep (`--with steplaw-moe`: another setup, as a user's own data would be). The goal (issue 22): a design
using <= 15% of the runs within 0.1 log2 of the full data's held-out LR error, its interval <= 1.3x wider.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibration.studies.replay_law import Design, load, reference, score_design  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "data" / "sources"
DESIGNS = {d.name: d for d in (
    Design("ends-coord12", None, "ends", "coord", 12),
    Design("all-coord12", None, "all", "coord", 12),
    Design("all-coord16", None, "all", "coord", 16),
    Design("ends-coord24", None, "ends", "coord", 24),
    Design("ends-coord32", None, "ends", "coord", 32),
    Design("3sizes-ends-coord32", (0, 2, 4), "ends", "coord", 32),
    Design("ends-tpe12", None, "ends", "tpe", 12),
    Design("ends-grid12", None, "ends", "grid", 12),
)}


def row(s, ref) -> str:
    lr_gap = s.lr_err - ref.lr_err
    ratio = s.width / ref.width
    ok = s.share <= 0.15 and lr_gap <= 0.1 and ratio <= 1.3
    return (f"| {s.design} | {s.borrow or '-'} | {s.runs} | {100 * s.share:.1f}% | {s.lr_err:.3f} ({lr_gap:+.3f}) | "
            f"{s.batch_err:.3f} | x{math.exp(s.width):.2f} ({ratio:.2f}x) | {'yes' if ok else 'no'} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--designs", default=",".join(DESIGNS))
    ap.add_argument("--n-boot", type=int, default=100)
    args = ap.parse_args(argv)
    t0 = time.time()
    table, cells = load(SOURCES / "steplaw-dense" / "trials.csv")
    print("| design | --with | runs | share | held-out LR err log2 (vs full) | batch err | LR interval at 7B/2T "
          "(width vs full) | goal |")
    print("|---|---|---|---|---|---|---|---|")
    for borrow in ((), (("steplaw-moe", str(SOURCES / "steplaw-moe" / "trials.csv")),)):
        ref = reference(table, cells, borrow, args.n_boot)
        print(row(ref, ref))
        for name in args.designs.split(","):
            print(row(score_design(table, cells, DESIGNS[name], range(args.seeds), borrow, args.n_boot), ref), flush=True)
    print(f"\n(seeds {args.seeds}, {args.n_boot} bootstrap draws per fit; {time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
