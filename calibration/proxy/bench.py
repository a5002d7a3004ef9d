"""`advisor bench`: proxy training throughput on this device, for planning sweeps and laying out workers.

Measures, per proxy size: training tokens/s (one process, random tokens, AdamW steps after a warm-up; the
median step time, which shrugs off bursts of other load),
achieved FLOP/s and MFU where the chip's peak is known; the vectorized speedup (K members in one batched
step vs the same K proxies trained one after another, both timed in this run); and on the CPU the
worker-layout speedup (one single-threaded process per core vs one process using every core, same total
work, processes started with multiprocessing's spawn). torch is imported inside the functions, so that
`advisor bench --help` stays fast.
"""
from __future__ import annotations

import os
import time

import click

from advisor.hardware import gpu_for_device
from advisor.units import UnitError, parse_quantity

DEFAULT_SIZES = {"cpu": "xxs,s,l", "cuda": "s,l,2xl,3xl", "mps": "xs,m,l"}


DEFAULT_BATCH_SEQS = {"cpu": 32, "cuda": 128, "mps": 32}


def device_peak_flops(dev) -> float | None:
    """A CUDA device's dense BF16 peak FLOP/s from advisor.hardware's table, or None where unknown.

    Bench trains in bf16 autocast on CUDA and in fp32 elsewhere, where no peak is known (CPUs, MPS).
    """
    if dev.type != "cuda":
        return None
    import torch

    gpu = gpu_for_device(torch.cuda.get_device_name(dev))
    return gpu.peak_flops if gpu else None


def parse_sizes(text: str) -> list[tuple[str, object]]:
    """'xs,s,1M' -> [(label, ProxyShape)]: rung names or non-embedding parameter counts."""
    from calibration.proxy.shape import RUNGS, shape_for_params

    sizes = []
    for item in (s.strip() for s in text.split(",")):
        if item in RUNGS:
            sizes.append((item, RUNGS[item]))
            continue
        try:
            sizes.append((item, shape_for_params(parse_quantity(item, "--sizes"))))
        except (UnitError, ValueError):
            raise click.BadParameter(
                f"{item!r} is neither a rung ({', '.join(RUNGS)}) nor a parameter count such as 1M",
                param_hint="--sizes") from None
    if not sizes:
        raise click.BadParameter("give at least one size", param_hint="--sizes")
    return sizes


def _config(shape, batch_seqs: int, lr: float = 3e-3):
    from calibration.record.trial import TrialConfig

    return TrialConfig(n_layer=shape.n_layer, d_model=shape.d_model, n_head=shape.n_head, d_ff=shape.d_ff,
                       vocab_size=shape.vocab_size, seq_len=shape.seq_len, batch_seqs=batch_seqs,
                       tokens=batch_seqs * shape.seq_len, lr=lr)


def _random_batch(cfg, dev):
    import torch

    from calibration.proxy.train import split_batch

    gen = torch.Generator().manual_seed(0)
    return split_batch(torch.randint(0, cfg.vocab_size, (cfg.batch_seqs, cfg.seq_len + 1), generator=gen), dev)


def _median_step_times(step_fns, dev, steps: int) -> list[float]:
    """Median seconds per step of each function, run interleaved (one step of each per round).

    Interleaving puts the things compared side by side under the same load, and the median shrugs off
    bursts of other work on a shared machine.
    """
    import statistics

    from calibration.proxy.train import synchronize

    times = [[] for _ in step_fns]
    for _ in range(steps):
        for fn, record in zip(step_fns, times):
            synchronize(dev)
            t0 = time.perf_counter()
            fn()
            synchronize(dev)
            record.append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def _sequential_step(cfg, dev, compile: bool):
    """A ready-to-time training step of one proxy (built and warmed up)."""
    import torch

    from calibration.proxy.train import build_model, make_optimizer, train_step

    model = build_model(cfg, dev)
    forward = torch.compile(model) if compile else model
    optimizer = make_optimizer(model, cfg, dev)
    x, y = _random_batch(cfg, dev)

    def step():
        train_step(model, forward, optimizer, x, y, cfg.lr, cfg, dev)

    for _ in range(2 if compile else 1):
        step()
    return step


def _vectorized_step(cfgs, dev):
    """A ready-to-time vectorized step of all configs together (built and warmed up)."""
    import torch

    from calibration.proxy.vectorized import StackedProxies

    stack = StackedProxies(cfgs, dev)
    x, y = _random_batch(cfgs[0], dev)
    lrs = torch.tensor([c.lr for c in cfgs], device=dev)

    def step():
        stack.train_step(x, y, lrs)

    step()
    return step


def _layout_worker(shape_dict: dict, batch_seqs: int, steps: int, units: int, threads: int, barrier, queue):
    """One process of the worker-layout test: `units` trainings of `steps` steps on `threads` threads."""
    import torch

    from calibration.proxy.shape import ProxyShape

    torch.set_num_threads(threads)
    cfg = _config(ProxyShape(**shape_dict), batch_seqs)
    dev = torch.device("cpu")
    step = _sequential_step(cfg, dev, False)
    barrier.wait()
    [median] = _median_step_times([step], dev, units * steps)
    queue.put(units * steps * median)


def worker_layout_speedup(shape, batch_seqs: int, steps: int, cores: int) -> dict:
    """Wall time of `cores` trainings: one process on `cores` threads vs `cores` single-thread processes."""
    import dataclasses
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    shape_dict = dataclasses.asdict(shape)

    def run(n_procs: int, threads: int, units: int) -> float:
        barrier, queue = ctx.Barrier(n_procs), ctx.Queue()
        procs = [ctx.Process(target=_layout_worker, args=(shape_dict, batch_seqs, steps, units, threads,
                                                           barrier, queue)) for _ in range(n_procs)]
        for p in procs:
            p.start()
        times = [queue.get(timeout=3600) for _ in procs]
        for p in procs:
            p.join()
        return max(times)

    one_process = run(1, cores, cores)
    per_core = run(cores, 1, 1)
    return {"cores": cores, "one_process_s": one_process, "per_core_s": per_core,
            "speedup": one_process / per_core}


def bench_results(sizes: str | None = None, steps: int = 10, ks: tuple[int, ...] = (4, 8), device: str = "auto",
                  batch_seqs: int | None = None, seq_len: int = 128, layout: bool = True,
                  compile: bool = False, progress: bool = False, threads: int | None = None) -> dict:
    """Run the benchmark and return its figures (what `advisor bench --json` prints).

    threads: torch threads for the in-process measurements (default: leave torch's setting), restored after.
    """
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _bench(sizes, steps, ks, device, batch_seqs, seq_len, layout, compile, progress)
    finally:
        torch.set_num_threads(before)


def _bench(sizes, steps, ks, device, batch_seqs, seq_len, layout, compile, progress) -> dict:
    import dataclasses

    import torch
    from tqdm import tqdm

    from calibration.proxy.memory import check_fits
    from calibration.proxy.train import device_label, prepare_device, resolve_device

    dev = resolve_device(device)
    prepare_device(dev)
    parsed = parse_sizes(sizes or DEFAULT_SIZES[dev.type])
    batch_seqs = batch_seqs or DEFAULT_BATCH_SEQS[dev.type]
    peak = device_peak_flops(dev)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    do_layout = layout and dev.type == "cpu" and cores > 1
    for _, shape in parsed:  # every size before any is built: the vectorized test holds 2*K proxies at once
        check_fits(dataclasses.replace(shape, seq_len=seq_len), batch_seqs, str(dev), copies=2 * max(ks, default=1))
    bar = tqdm(total=len(parsed) * (1 + len(ks) + do_layout), desc="bench", disable=not progress, file=None)

    rows, vectorized, layouts = [], [], []
    for label, shape in parsed:
        shape = dataclasses.replace(shape, seq_len=seq_len)
        cfg = _config(shape, batch_seqs)
        bar.set_postfix_str(f"{label}: tokens/s")
        rows.append(_throughput(label, shape, cfg, dev, steps, compile, peak))
        bar.update()
        for k in ks:
            bar.set_postfix_str(f"{label}: K={k}")
            vectorized.append(_vectorized_speedup(label, cfg, k, dev, steps, compile))
            bar.update()
        if do_layout:
            bar.set_postfix_str(f"{label}: worker layout")
            layouts.append({"size": label, **worker_layout_speedup(shape, batch_seqs, steps, cores)})
            bar.update()
    bar.close()
    return {
        "device": device_label(dev), "precision": "bf16" if dev.type == "cuda" else "fp32", "peak_flops": peak,
        "threads": torch.get_num_threads(), "cores": cores, "batch_seqs": batch_seqs, "seq_len": seq_len,
        "steps": steps, "compile": compile,
        "flops_formula": "6N + 6*d_model*vocab + 6*n_layer*seq_len*d_model per token (causal attention)",
        "sizes": rows, "vectorized": vectorized, "worker_layout": layouts,
    }


def _throughput(label, shape, cfg, dev, steps: int, compile: bool, peak: float | None) -> dict:
    """One size's training tokens/s, FLOP/s and MFU (against `peak`, where known) from its median step."""
    from calibration.proxy.shape import count_params, flops_per_token

    [seconds] = _median_step_times([_sequential_step(cfg, dev, compile)], dev, steps)
    tok_s = cfg.batch_tokens / seconds
    flops_s = tok_s * flops_per_token(shape, include_head=True)
    return {"size": label, "n_params": count_params(shape)[0], "n_layer": shape.n_layer, "d_model": shape.d_model,
            "tokens_per_s": tok_s, "flops_per_s": flops_s, "mfu": flops_s / peak if peak else None}


def _vectorized_speedup(label, cfg, k: int, dev, steps: int, compile: bool) -> dict:
    """K proxies (LRs a factor 2 apart) one after another vs the same K as one vectorized group."""
    members = [cfg.replace(lr=cfg.lr * 2 ** (i - k / 2)) for i in range(k)]
    fns = [_sequential_step(c, dev, compile) for c in members] + [_vectorized_step(members, dev)]
    medians = _median_step_times(fns, dev, steps)
    seq_s, vec_s = steps * sum(medians[:-1]), steps * medians[-1]
    return {"size": label, "k": k, "sequential_s": seq_s, "vectorized_s": vec_s, "speedup": seq_s / vec_s}
