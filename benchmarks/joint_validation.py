"""Validation of the joint fit (`advisor fit MINE --with SOURCE`, calibration/fit/joint.py), as tables.

1. synthetic: a five-size source and a two-size "mine" with its own prefactors; mine's optimum predicted at
   333x its largest size (|log2| error, inside the 90% interval, interval width), with the source's
   exponents and with an LR N exponent 0.15 higher (which the fit must flag); one row per seed.
2. real, MoE: three of Step Law's MoE cells (N = active parameters) as "mine", the dense source as --with;
   the other 13 MoE cells predicted, beside the dense source alone, the three MoE cells alone and a fit of
   all 16 MoE cells (in-sample: the best case).
3. real, CPU: the shipped cpu-default calibration (byte-level proxies, 12k-390k parameters) as "mine" with
   the dense source: the consistency tests, and the model written for `advisor recommend --model`.

Run: python benchmarks/joint_validation.py [--boot 200] [--seeds 8] [--out DIR]
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from advisor.catalog import resolve_source  # noqa: E402
from advisor.model import FittedModel  # noqa: E402
from calibration.fit import ColumnMap, ScaleLawFitter  # noqa: E402
from calibration.fit.joint import WithSources  # noqa: E402
from calibration.fit.joint_record import summary_lines  # noqa: E402
from calibration.fit.cell_fit import fit_cell  # noqa: E402
from calibration.fit.optimum import nearest_run_regret  # noqa: E402
from calibration.fit.synthetic import SyntheticTruth, synthetic_trials  # noqa: E402
from calibration.fit.table import build_cells, prepare_trials, read_table  # noqa: E402

MOE_COLUMNS = ColumnMap(n_params="n_params_active")
MOE_MINE = ((187973632, 2e9), (187973632, 8e9), (590436352, 4e9))  # (active N, D) of the "mine" cells


def synthetic(seeds: int, boot: int, tmp: Path) -> None:
    print("## 1. synthetic: mine (2 sizes, 1e4 and 3e4) predicted at N=1e7, D=2e8 (333x its largest size)\n")
    print("| mine's LR N exponent | seed | LR |log2 err| | inside | width | batch |log2 err| | inside | width | flagged |")
    print("|---|---|---|---|---|---|---|---|---|")
    big = SyntheticTruth()
    a, en, ed = big.lr_log_coef
    b, bn, bd = big.batch_log_coef
    n, d = 1e7, 2e8
    for shift in (0.0, 0.15):
        truth = SyntheticTruth(lr_log_coef=(a + math.log(0.3) - shift * math.log(3e4), en + shift, ed),
                               batch_log_coef=(b + math.log(2.0), bn, bd))
        for seed in range(seeds):
            src = tmp / f"src{seed}.csv"
            synthetic_trials(big, sizes=(2e5, 5e5, 1.2e6, 3e6, 8e6), tokens_per_param=(10, 20, 40),
                             seed=100 + seed).to_csv(src, index=False)
            mine = synthetic_trials(truth, sizes=(1e4, 3e4), tokens=(3e5, 1.2e6), seed=seed)
            fit = ScaleLawFitter(n_boot=boot, seed=seed, loss_surface=False,
                                 setups=WithSources([("big", str(src))])).fit(mine)
            model = FittedModel.from_artifact(fit.artifact_)
            cols = []
            for pred, true in ((model.predict_lr(n, d), truth.lr_opt(n, d)), (model.predict_batch(n, d), truth.batch_opt(n, d))):
                cols += [f"{abs(math.log2(pred.value / float(true))):.3f}", "yes" if pred.low <= true <= pred.high else "NO",
                         f"{pred.ratio:.2f}x"]
            flagged = [f"{law} {name}" for law, rec in fit.joint_["laws"].items()
                       for name, e in rec["exponents"].items() if e["status"] == "own"]
            print(f"| {en + shift:.3f} (source {en:.3f}) | {seed} | " + " | ".join(cols) + f" | {', '.join(flagged) or '—'} |")
    print()


def moe_cells():
    raw = read_table(resolve_source("steplaw-moe"))
    trials, _ = prepare_trials(raw, MOE_COLUMNS)
    cells = build_cells(trials)
    return raw, trials, cells, [fit_cell(c) for c in cells]


def score(model: FittedModel, cells, optima, held) -> str:
    """Median and mean nearest-run regret, mean |log2| LR and batch error over the held-out cells."""
    regret, e_lr, e_b = [], [], []
    for i in held:
        c, o = cells[i], optima[i]
        lr = model.predict_lr(c.n_params, c.tokens).value
        bt = model.predict_batch(c.n_params, c.tokens).value
        regret.append(nearest_run_regret(c, math.log(lr), math.log(bt)))
        e_lr.append(abs(math.log2(lr) - o.log_lr / math.log(2)))
        if o.weight_batch > 0:
            e_b.append(abs(math.log2(bt) - o.log_batch / math.log(2)))
    batch = f"{np.mean(e_b):.3f} ({len(e_b)})" if e_b else "n/a"
    return f"{np.median(regret):.3f}% | {np.mean(regret):.3f}% | {np.mean(e_lr):.3f} | {batch}"


def moe(boot: int) -> None:
    print("## 2. real, MoE: 3 of Step Law's MoE cells as mine (N = active parameters), 13 cells predicted\n")
    raw, trials, cells, optima = moe_cells()
    mine_ids = [i for i, c in enumerate(cells) if (round(c.n_params), c.tokens) in {(n, d) for n, d in MOE_MINE}]
    held = [i for i in range(len(cells)) if i not in mine_ids]
    mine_rows = raw[trials_cell_mask(raw, MOE_MINE)]
    dense = str(resolve_source("steplaw-dense"))
    fits = {
        "joint: 3 MoE cells + dense (--with steplaw-dense)": ScaleLawFitter(
            n_boot=boot, loss_surface=False, setups=WithSources([("steplaw-dense", dense)])).fit(mine_rows, MOE_COLUMNS),
        "dense source alone": ScaleLawFitter(n_boot=boot, loss_surface=False).fit(dense),
        "the 3 MoE cells alone": ScaleLawFitter(n_boot=boot, loss_surface=False).fit(mine_rows, MOE_COLUMNS),
        "all 16 MoE cells (in-sample, best case)": ScaleLawFitter(n_boot=boot, loss_surface=False).fit(raw, MOE_COLUMNS),
    }
    print("mine: " + ", ".join(f"N_active {n / 1e6:.0f}M D {d / 1e9:.0f}B" for n, d in MOE_MINE) + "\n")
    print("| fit | median nearest-run regret | mean | mean LR |log2 err| | mean batch |log2 err| (cells) |")
    print("|---|---|---|---|---|")
    for name, fit in fits.items():
        print(f"| {name} | {score(FittedModel.from_artifact(fit.artifact_), cells, optima, held)} |")
    print()
    joint = fits["joint: 3 MoE cells + dense (--with steplaw-dense)"]
    print("\n".join(summary_lines(joint.joint_)))
    print("\njoint warnings: " + "; ".join(f"[{w.code}] {w}" for w in joint.warnings_ if w.code.startswith("joint_")))
    print()


def trials_cell_mask(raw, pairs):
    n, d = raw["n_params_active"].to_numpy(), raw["tokens"].to_numpy()
    return np.any([(n == a) & np.isclose(d, b, rtol=0.05) for a, b in pairs], axis=0)


def cpu(boot: int, out: Path) -> None:
    print("## 3. real, CPU: the shipped cpu-default calibration as mine, with the dense source\n")
    mine = ROOT / "data" / "models" / "cpu-default" / "trials.csv"
    fit = ScaleLawFitter(n_boot=boot, setups=WithSources([("steplaw-dense", str(resolve_source("steplaw-dense")))])).fit(mine)
    path = fit.write(out / "cpu-default+steplaw-dense.json", force=True)
    print("\n".join(summary_lines(fit.joint_)))
    print("\nwarnings: " + "; ".join(f"[{w.code}] {w}" for w in fit.warnings_))
    print(f"\nwrote {path}; then: python3 -m advisor.cli recommend --params 7B --tokens 2T --model {path}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boot", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--out", type=Path, default=None, help="where to write the cpu-default joint model")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        synthetic(args.seeds, args.boot, Path(tmp))
        moe(args.boot)
        cpu(args.boot, out)


if __name__ == "__main__":
    main()
