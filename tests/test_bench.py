"""`advisor bench`: its figures follow from the measured step times and an independent FLOP count; device
names find the planner's GPU table; bad options are one-line errors (exit 2)."""
import dataclasses
import itertools
import json
import math
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

import calibration.proxy.bench as bench_module
from advisor.hardware import GPUS, gpu_for_device
from calibration.cli.bench import bench
from calibration.proxy.bench import bench_results, parse_sizes
from calibration.proxy.shape import RUNGS, count_params
from flop_count import counted_flops_per_token

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("device_name, key", [
    ("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA H100 PCIe", "h100-pcie"), ("NVIDIA H200", "h200"),
    ("NVIDIA A100-SXM4-80GB", "a100"), ("NVIDIA A100-SXM4-40GB", "a100-40gb"), ("NVIDIA A100-PCIE-40GB", "a100-40gb"),
    ("Tesla V100-SXM2-32GB", "v100"), ("NVIDIA L40S", "l40s"), ("AMD Instinct MI300X", "mi300x"),
    ("NVIDIA L40", None), ("NVIDIA GeForce RTX 4090", None), ("cpu", None),
])
def test_device_names_find_the_planners_gpu(device_name, key):
    assert gpu_for_device(device_name) is (GPUS[key] if key else None)


def test_every_gpu_in_the_table_is_found_by_its_own_name():
    assert all(gpu_for_device(gpu.name) is gpu for gpu in GPUS.values())


def test_parse_sizes():
    (a, shape_a), (b, shape_b) = parse_sizes("xs, 1M")
    assert (a, shape_a) == ("xs", RUNGS["xs"]) and b == "1M" and 5e5 < count_params(shape_b)[0] < 2e6


def test_figures_follow_from_the_step_times_and_the_counted_flops(monkeypatch):
    """On a clock that ticks one second per reading, every timed step takes exactly one second."""
    monkeypatch.setattr(bench_module, "time", SimpleNamespace(perf_counter=itertools.count().__next__))
    monkeypatch.setattr(bench_module, "device_peak_flops", lambda dev: 1e6)
    steps, batch_seqs, seq_len = 3, 4, 32
    res = bench_results("xxs", steps=steps, ks=(2, 3), device="cpu", batch_seqs=batch_seqs, seq_len=seq_len,
                        layout=False)
    [row] = res["sizes"]
    tokens_per_step = batch_seqs * seq_len
    assert row["tokens_per_s"] == tokens_per_step
    flops = counted_flops_per_token(dataclasses.replace(RUNGS["xxs"], seq_len=seq_len))
    assert row["flops_per_s"] == pytest.approx(tokens_per_step * flops, rel=1e-9)
    assert row["mfu"] == pytest.approx(tokens_per_step * flops / 1e6, rel=1e-9)
    for vec, k in zip(res["vectorized"], (2, 3)):  # K one-second steps one after another vs one
        assert (vec["k"], vec["sequential_s"], vec["vectorized_s"]) == (k, steps * k, steps)
        assert vec["speedup"] == k


def test_bench_results_on_cpu():
    res = bench_results("xxs", steps=2, ks=(2,), device="cpu", batch_seqs=4, seq_len=32, layout=False)
    [row] = res["sizes"]
    assert res["peak_flops"] is None and row["mfu"] is None  # no peak is known for a CPU
    assert res["precision"] == "fp32" and res["worker_layout"] == []
    assert math.isfinite(row["tokens_per_s"]) and row["tokens_per_s"] > 0
    [vec] = res["vectorized"]
    assert all(math.isfinite(vec[key]) and vec[key] > 0 for key in ("sequential_s", "vectorized_s", "speedup"))


def test_bench_command_json_and_errors():
    runner = CliRunner()
    out = runner.invoke(bench, ["--sizes", "xxs", "--steps", "1", "--k", "2", "--device", "cpu",
                                "--batch-seqs", "2", "--seq-len", "16", "--no-layout", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["sizes"][0]["size"] == "xxs"
    for args, fragment in ((["--sizes", "huge"], "huge"), (["--k", "0"], "K must be"),
                           (["--device", "tpu"], "--device: must be auto, cpu"), (["--steps", "0"], "steps")):
        bad = runner.invoke(bench, args)
        assert bad.exit_code == 2 and fragment in bad.output, (args, bad.output)
        assert "Traceback" not in bad.output


@pytest.mark.slow
def test_worker_layout_runs():
    res = bench_results("xxs", steps=2, ks=(), device="cpu", batch_seqs=4, seq_len=32, layout=True)
    if res["cores"] > 1:
        [layout] = res["worker_layout"]
        assert layout["cores"] == res["cores"]
        assert all(math.isfinite(layout[key]) and layout[key] > 0 for key in ("one_process_s", "per_core_s", "speedup"))
