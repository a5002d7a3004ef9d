"""Benchmark (issue 25, item 8): `advisor check --configs` on 10,000 candidates (target: <= 10 s).

Writes a candidates CSV (LRs and batches within 4x of the shipped model's optimum for 7B / 2T), runs the
command as a user would and prints its wall time. Run: python benchmarks/bench_check_configs.py [--rows 10000]
"""
from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "candidates.csv"
        lines = ["name,lr,batch_tokens"] + [f"c{i},{3e-4 * 2 ** rng.uniform(-2, 2):.4g},{int(4e6 * 2 ** rng.uniform(-2, 2))}"
                                            for i in range(args.rows)]
        path.write_text("\n".join(lines) + "\n")
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "advisor.cli", "check", "--params", "7B", "--tokens", "2T",
                               "--configs", str(path)], capture_output=True, text=True)
        wall = time.perf_counter() - start
    print(f"rows: {args.rows:,}  exit code: {done.returncode}  wall: {wall:.1f} s  "
          f"({1e3 * wall / args.rows:.2f} ms a row, start-up included)")


if __name__ == "__main__":
    main()
