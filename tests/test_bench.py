"""`advisor bench`: figures are produced and consistent; bad options are one-line errors (exit 2)."""
import dataclasses
import json

import pytest
from click.testing import CliRunner

from calibration.cli.bench import bench
from calibration.proxy.bench import bench_results, parse_sizes, peak_flops
from calibration.proxy.model import RUNGS, count_params, flops_per_token


pytestmark = pytest.mark.usefixtures("one_thread")


def test_peak_table():
    assert peak_flops("NVIDIA H200", "bf16") == 989e12
    assert peak_flops("NVIDIA H100 PCIe", "bf16") == 756e12
    assert peak_flops("NVIDIA A100-SXM4-80GB", "fp32") == 19.5e12
    assert peak_flops("cpu", "fp32") is None


def test_parse_sizes():
    (a, shape_a), (b, shape_b) = parse_sizes("xs, 1M")
    assert (a, shape_a) == ("xs", RUNGS["xs"]) and b == "1M" and count_params(shape_b)[0] > 5e5


def test_bench_results_on_cpu():
    res = bench_results("xxs", steps=2, ks=(2,), device="cpu", batch_seqs=4, seq_len=32, layout=False)
    [row] = res["sizes"]
    assert row["tokens_per_s"] > 0 and row["mfu"] is None and res["peak_flops"] is None
    shape = dataclasses.replace(RUNGS["xxs"], seq_len=32)
    assert row["flops_per_s"] == pytest.approx(row["tokens_per_s"] * flops_per_token(shape, include_head=True))
    [vec] = res["vectorized"]
    assert vec["k"] == 2 and vec["speedup"] == pytest.approx(vec["sequential_s"] / vec["vectorized_s"])
    assert res["worker_layout"] == []


def test_bench_command_json_and_errors():
    runner = CliRunner()
    out = runner.invoke(bench, ["--sizes", "xxs", "--steps", "1", "--k", "2", "--device", "cpu",
                                "--batch-seqs", "2", "--seq-len", "16", "--no-layout", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["sizes"][0]["size"] == "xxs"
    for args, fragment in ((["--sizes", "huge"], "huge"), (["--k", "0"], "K must be"),
                           (["--device", "tpu"], "unknown device"), (["--steps", "0"], "steps")):
        bad = runner.invoke(bench, args)
        assert bad.exit_code == 2 and fragment in bad.output, (args, bad.output)
        assert "Traceback" not in bad.output


@pytest.mark.slow
def test_worker_layout_runs():
    res = bench_results("xxs", steps=2, ks=(), device="cpu", batch_seqs=4, seq_len=32, layout=True)
    if res["cores"] > 1:
        [layout] = res["worker_layout"]
        assert layout["speedup"] > 0
