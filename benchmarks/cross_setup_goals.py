"""Issue 19's goals for the cross-setup default (data/models/cross-setup), printed with their figures.

1. Leave one setup out (the shipped model's record: `advisor fit steplaw-dense --across marin-adamw`),
   unanchored and anchored on the held-out setup's smallest size: LR and batch median |log2| error (raw and
   with an error within half the cell's grid step counted as 0), coverage of the 90% intervals (half a step of
   tolerance), median widths. Goals: unanchored >= 80% covered; anchored LR median <= 0.3 (tolerance), >= 80%
   covered, batch median <= 0.5.
2. The default at published runs: DeepSeek LLM 7B and 67B inside (goal), the Llama-3-8B config at 15T tokens
   (goal: LR within 2x of Meta's 3e-4, or an interval and a warning that say why not), and the interval parts
   at 7B/2T and 70B/15T.
3. Synthetic: a clean power law (lr* = 0.3 N^-0.5 D^0.2, 10 cells, 770 trials) at 10x its largest N (goal LR
   within 0.15 log2, batch 0.2); a joint fit of two setups with shared exponents at 800x the own sweep's
   largest N (goal LR 0.25, batch 0.3); the own LR N exponent 0.15 off over a 4x span (goal: flagged).

Run: python benchmarks/cross_setup_goals.py [--seeds 3] [--boot 200]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from advisor.catalog import resolve_model  # noqa: E402
from advisor.recipe import recommend  # noqa: E402

LLAMA3_8B = dict(n_params_nonembedding=6.98e9, vocab_size=128256, seq_len=8192, tokens=15e12)  # Meta: 3e-4
MODES = ("unanchored", "anchored")


def leave_one_setup_out(model: str) -> None:
    cross = json.loads(resolve_model(model).read_text())["provenance"]["cross_setup"]
    print(f"## 1. leave one setup out ({model}; published setups in the setup part: "
          f"{', '.join(cross['leave_one_setup_out']['published_setups']) or 'none'})\n")
    print("| held out | fit | law | cells | median abs log2 | within half a step | bias | inside 90% | median width | "
          "width at 7B/2T | goal |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, row in cross["leave_one_setup_out"]["setups"].items():
        for mode in MODES:
            for law in ("lr", "batch"):
                sc = (row.get(mode) or {}).get(law)
                if not sc:
                    print(f"| {name} | {mode} | {law} | — | not measurable: too few interior optima left | | | | | | |")
                    continue
                cover = sc["inside"] / sc["n"]
                goal = f"covered {cover:.0%} {'>=' if cover >= 0.8 else '<'} 80%"
                if mode == "anchored":
                    limit = 0.3 if law == "lr" else 0.5
                    met = sc["median_abs_log2_tol"] <= limit
                    goal += f"; median {'<=' if met else '>'} {limit}"
                    if law == "lr":
                        goal += f"; 7B/2T width {'<=' if sc.get('width_at_7b_2t', 1e9) <= 3 else '>'} 3x"
                print(f"| {name} | {mode} | {law} | {sc['n']} | {sc['median_abs_log2']:.2f} | "
                      f"{sc['median_abs_log2_tol']:.2f} | {sc['mean_log2']:+.2f} | {sc['inside']}/{sc['n']} | "
                      f"{sc['median_width']:.3g}x | {sc.get('width_at_7b_2t', float('nan')):.3g}x | {goal} |")
    print()


def parts(rec) -> str:
    out = []
    for label, p in (("LR", rec.lr_interval), ("batch", rec.batch_interval)):
        bits = ", ".join(f"{k} {b / a:.3g}x" for k, (a, b) in p.components().items() if a < b)
        out.append(f"{label} {p.total[1] / p.total[0]:.3g}x ({bits})")
    return "; ".join(out)


def published(model: str | None) -> None:
    print(f"## 2. the default ({model or 'catalog default'}) at published runs\n")
    kw = {"model": model} if model else {}
    for name, params, tokens, lr, batch, vocab in (("DeepSeek LLM 7B", 7e9, 2e12, 4.2e-4, 9437184, 102400),
                                                   ("DeepSeek LLM 67B", 67e9, 2e12, 3.2e-4, 18874368, 102400)):
        rec = recommend(params, tokens, seq_len=4096, vocab_size=vocab, **kw)
        inside = rec.lr_low <= lr <= rec.lr_high and rec.batch_tokens_low <= batch <= rec.batch_tokens_high
        print(f"- {name}: LR {rec.lr:.3g} [{rec.lr_low:.3g}, {rec.lr_high:.3g}] (used {lr:g}); batch "
              f"{rec.batch_tokens:.3g} [{rec.batch_tokens_low:.3g}, {rec.batch_tokens_high:.3g}] (used {batch:.3g}): "
              f"{'both inside (goal met)' if inside else 'NOT both inside (goal missed)'}")
    rec = recommend(**LLAMA3_8B, **kw)
    within = abs(math.log2(rec.lr / 3e-4)) <= 1.0
    warned = [c for c in rec.warning_codes if c in ("far_extrapolation", "setup_exponent_differs", "setups_disagree")]
    print(f"- Llama-3-8B config at 15T: LR {rec.lr:.3g} [{rec.lr_low:.3g}, {rec.lr_high:.3g}] (Meta 3e-4, "
          f"log2 {math.log2(rec.lr / 3e-4):+.2f}); {'within 2x' if within else 'not within 2x'}; 3e-4 "
          f"{'inside' if rec.lr_low <= 3e-4 <= rec.lr_high else 'outside'} the interval; warnings {warned}; "
          f"setups here: {', '.join(f'{k} {v:.2g}' for k, v in (rec.setups or {}).get('lr_at_target', {}).items())}")
    for params, tokens in (("7B", "2T"), ("70B", "15T")):
        rec = recommend(params, tokens, **kw)
        print(f"- interval parts at {params}/{tokens}: LR {rec.lr:.3g}, batch {rec.batch_tokens:.3g}: {parts(rec)}")
    print()


def synthetic(seeds: int, boot: int) -> None:
    from advisor.model import FittedModel
    from calibration.fit import ScaleLawFitter
    from calibration.fit.joint import WithSources
    from calibration.fit.synthetic import SyntheticTruth, synthetic_trials

    print("## 3. synthetic\n")
    truth = SyntheticTruth(lr_log_coef=(math.log(0.3), -0.5, 0.2))
    n, d = 8e7, 1.6e9  # 10x the largest size, 20 tokens per parameter
    for seed in range(seeds):
        df = synthetic_trials(truth, sizes=(2e5, 5e5, 1.2e6, 3e6, 8e6), tokens_per_param=(10, 40), lr_points=11,
                              batch_points=7, seed=seed)
        model = FittedModel.from_artifact(ScaleLawFitter(n_boot=boot, seed=seed, loss_surface=False).fit(df).artifact_)
        e_lr = math.log2(model.predict_lr(n, d).value / float(truth.lr_opt(n, d)))
        e_b = math.log2(model.predict_batch(n, d).value / float(truth.batch_opt(n, d)))
        print(f"- clean law, seed {seed}, {len(df)} trials: at 10x the largest N, LR log2 error {e_lr:+.3f} "
              f"(goal 0.15), batch {e_b:+.3f} (goal 0.2)")
    big = SyntheticTruth()
    a, en, ed = big.lr_log_coef
    b, bn, bd = big.batch_log_coef
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for shift, sizes in ((0.0, (1e4, 3e4)), (0.15, (1e4, 4e4))):
            for seed in range(seeds):
                mine_truth = SyntheticTruth(lr_log_coef=(a + math.log(0.3) - shift * math.log(sizes[1]), en + shift, ed),
                                            batch_log_coef=(b + math.log(2.0), bn, bd))
                src = Path(tmp) / f"src{seed}.csv"
                synthetic_trials(big, sizes=(2e5, 5e5, 1.2e6, 3e6, 8e6), tokens_per_param=(10, 20, 40),
                                 seed=100 + seed).to_csv(src, index=False)
                mine = synthetic_trials(mine_truth, sizes=sizes, tokens=(3e5, 1.2e6), seed=seed)
                fit = ScaleLawFitter(n_boot=boot, seed=seed, loss_surface=False,
                                     setups=WithSources([("theirs", str(src))])).fit(mine)
                model = FittedModel.from_artifact(fit.artifact_)
                n8, d8 = 800 * sizes[1], 20 * 800 * sizes[1]
                lr, bt = model.predict_lr(n8, d8), model.predict_batch(n8, d8)
                flagged = [f"{law} {k}" for law, rec in fit.joint_["laws"].items()
                           for k, e in rec["exponents"].items() if e["status"] == "own"]
                t_lr, t_b = float(mine_truth.lr_opt(n8, d8)), float(mine_truth.batch_opt(n8, d8))
                print(f"- two setups, own LR N exponent {'shared' if not shift else f'{shift:+.2f} over 4x'}, seed "
                      f"{seed}: at 800x the own largest N, LR log2 error {math.log2(lr.value / t_lr):+.3f} "
                      f"({'inside' if lr.low <= t_lr <= lr.high else 'outside'}, {lr.ratio:.3g}x wide), batch "
                      f"{math.log2(bt.value / t_b):+.3f} ({'inside' if bt.low <= t_b <= bt.high else 'outside'}); "
                      f"flagged: {', '.join(flagged) or 'none'}")
    print()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cross-setup", help="a shipped cross-setup model")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--boot", type=int, default=200)
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args(argv)
    leave_one_setup_out(args.model)
    published(args.model)
    if not args.skip_synthetic:
        synthetic(args.seeds, args.boot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
