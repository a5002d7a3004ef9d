"""Will a proxy fit in memory? Arithmetic from its shape, before anything is allocated.

A proxy far too large for the machine must be refused with a message, not built: building it gets the
process killed by the kernel's OOM killer (no message, and on a shared machine other work dies too).

    need = training_bytes(shape, batch_seqs=32)      # a low estimate of what training needs
    check_fits(shape, 32, "cpu")                      # ValueError (one line) when it surely cannot fit

The estimate is deliberately low (it counts what training must hold and nothing of the framework's own
overhead), so that only proxies that surely do not fit are refused: fp32 weights, gradients and AdamW's
two moments (16 bytes per parameter, embeddings included), the activations kept for the backward pass
(about 8·d_model + 3·d_ff values per token and layer) and the logits with their gradient (2·vocab per
token). CUDA trains under bf16 autocast, which the fp32 count overstates by less than 2x for activations;
the parameter term, which dominates large proxies, is exact.
"""
from __future__ import annotations

import os

from calibration.proxy.shape import ProxyShape, count_params

BYTES_PER_PARAM = 16  # fp32 weight + gradient + AdamW exp_avg + exp_avg_sq
BYTES_PER_VALUE = 4  # fp32 activations
# The most memory one accelerator had when this was written (B200: 192 GB; H200: 141 GB): the bound for a GPU
# spec planned on a machine without one, where the GPUs that will run it cannot be asked
LARGEST_GPU_BYTES = 192 * 10**9


def training_bytes(shape: ProxyShape, batch_seqs: int, copies: int = 1) -> int:
    """A low estimate of the memory that training `copies` proxies of `shape` at batch_seqs needs."""
    _, n_total = count_params(shape)
    tokens = batch_seqs * shape.seq_len
    activations = tokens * shape.n_layer * (8 * shape.d_model + 3 * shape.d_ff)
    logits = tokens * 2 * shape.vocab_size
    return copies * (n_total * BYTES_PER_PARAM + (activations + logits) * BYTES_PER_VALUE)


def host_memory_bytes() -> int | None:
    """This machine's physical memory, or None where the platform does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def device_memory_bytes(device: str | None = None) -> int | None:
    """Memory of a device ("cpu", "mps": the host's; "cuda[:N]": the GPU's). None (the default): the
    largest memory any device of this machine has. None where it cannot be told."""
    if device is None:
        sizes = [host_memory_bytes()] + [device_memory_bytes(f"cuda:{i}") for i in range(_cuda_count())]
        sizes = [s for s in sizes if s]
        return max(sizes) if sizes else None
    if not str(device).startswith("cuda"):
        return host_memory_bytes()
    import torch

    index = int(str(device)[5:]) if ":" in str(device) else torch.cuda.current_device()
    return torch.cuda.get_device_properties(index).total_memory


def check_fits(shape: ProxyShape, batch_seqs: int, device: str | None = None, copies: int = 1,
               remote_gpu: bool = False) -> None:
    """Raise ValueError (one line) when training the proxy surely does not fit the device's memory (None:
    the largest memory of this machine; remote_gpu: at least the largest GPU there is, for a GPU spec
    planned on a machine that has none)."""
    need = training_bytes(shape, batch_seqs, copies)
    have = device_memory_bytes(device)
    if remote_gpu and device is None and _cuda_count() == 0:
        have, device = max(have or 0, LARGEST_GPU_BYTES), "the largest GPU there is"
    if have is not None and need > have:
        n, _ = count_params(shape)
        where = "any device of this machine" if device is None else f"{device}"
        raise ValueError(
            f"a proxy of N={n:.3g} (n_layer {shape.n_layer}, d_model {shape.d_model}, vocab {shape.vocab_size}) "
            f"needs at least {_gib(need)} to train at batch {batch_seqs} x {shape.seq_len}"
            + (f" ({copies} at once)" if copies > 1 else "")
            + f", more than the {_gib(have)} of {where}: choose smaller sizes or batches"
        )


def _cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _gib(n: float) -> str:
    return f"{n / 2**40:,.1f} TiB" if n >= 2**40 else f"{n / 2**30:,.1f} GiB"
