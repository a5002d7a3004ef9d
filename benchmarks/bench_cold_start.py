"""Cold start of `advisor recommend` against bare Python, side by side in one run.

Each repetition runs, in random order, `python -c pass` and `python -m advisor.cli recommend ...` (same
interpreter, fresh process), once with the repository's synthetic model written to a temp file and once
with the shipped default model (the main job, `advisor recommend --params 7B --tokens 2T`), and the figure is the
median over repetitions of the per-repetition ratio (interleaving cancels drift in machine load). Also
shown: the console script `advisor` (its launcher may add a shim, e.g. pyenv's), and `import numpy` for scale.

Run: python benchmarks/bench_cold_start.py [--reps 30] [--also-model steplaw-dense]      goal: ratio ≤ 3×
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


# An installed package has its bytecode compiled (pip does it); a shell with PYTHONDONTWRITEBYTECODE set
# would make every run recompile every module, which no user pays. Measure the installed case.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=ENV)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--also-model", action="append", default=[], metavar="NAME",
                        help="also time recommend with this shipped model (e.g. steplaw-dense, the default before "
                             "the cross-setup one), interleaved with the rest: before/after in one run")
    args = parser.parse_args()

    from advisor_fixtures import write_model

    with tempfile.TemporaryDirectory() as tmp:
        model = str(write_model(Path(tmp) / "model.json"))
        rec_args = ["recommend", "--params", "7B", "--tokens", "2T", "--model", model]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -m advisor.cli recommend": [sys.executable, "-m", "advisor.cli", *rec_args],
            "... recommend (shipped default model)": [sys.executable, "-m", "advisor.cli", *rec_args[:-2]],
            "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
        }
        for name in args.also_model:
            commands[f"... recommend --model {name}"] = [sys.executable, "-m", "advisor.cli", *rec_args[:-1], name]
        script = shutil.which("advisor")
        if script:
            commands["advisor recommend (console script)"] = [script, *rec_args]
        for cmd in commands.values():  # warm the file cache and any .pyc compilation
            wall(cmd)
        rng = random.Random(args.seed)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.reps):
            order = list(commands)
            rng.shuffle(order)
            for name in order:
                times[name].append(wall(commands[name]))

    base = times["python -c pass"]
    print(f"cold start, {args.reps} interleaved repetitions, {sys.executable}")
    print(f"{'command':<38} {'median ms':>10} {'ratio to bare (median of per-rep ratios)':>42}")
    for name, ts in times.items():
        ratio = statistics.median(t / b for t, b in zip(ts, base))
        print(f"{name:<38} {1000 * statistics.median(ts):>10.1f} {ratio:>42.2f}")
    for name in ("python -m advisor.cli recommend", "... recommend (shipped default model)"):
        ratio = statistics.median(t / b for t, b in zip(times[name], base))
        print(f"RATIO {name} / bare = {ratio:.2f}x (goal <= 3x)")


if __name__ == "__main__":
    main()
