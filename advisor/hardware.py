"""Accelerator specs: dense (no sparsity) BF16 tensor-core peak and memory per device.

The one table of peak FLOP/s in the project: `advisor plan` costs runs with it and `advisor bench` computes
MFU with it (`gpu_for_device` maps a CUDA device name to its entry). Figures are the vendors' datasheet
numbers (NVIDIA H100/H200/H800/A100/B200/L40S/V100 datasheets, SXM parts unless named otherwise; AMD
MI300X/MI250X datasheets); V100 has no BF16, its FP16 tensor peak is listed. Real throughput is peak × MFU
(model FLOPs utilisation, 0.3–0.5 is typical for large dense LLM training).
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class GPU:
    """An accelerator's peak dense BF16 throughput and its memory."""

    name: str
    peak_flops: float  # dense BF16 FLOP/s
    memory_bytes: float


GB = 1e9  # vendors quote decimal gigabytes

GPUS: dict[str, GPU] = {
    "b200": GPU("NVIDIA B200", 2.25e15, 180 * GB),
    "h200": GPU("NVIDIA H200 SXM", 989e12, 141 * GB),
    "h100": GPU("NVIDIA H100 SXM", 989e12, 80 * GB),
    "h100-pcie": GPU("NVIDIA H100 PCIe", 756e12, 80 * GB),
    "h800": GPU("NVIDIA H800 SXM", 989e12, 80 * GB),
    "a100": GPU("NVIDIA A100 SXM 80GB", 312e12, 80 * GB),
    "a100-40gb": GPU("NVIDIA A100 SXM 40GB", 312e12, 40 * GB),
    "l40s": GPU("NVIDIA L40S", 362e12, 48 * GB),
    "v100": GPU("NVIDIA V100 SXM2 32GB (FP16)", 125e12, 32 * GB),
    "mi300x": GPU("AMD Instinct MI300X", 1307e12, 192 * GB),
    "mi250x": GPU("AMD Instinct MI250X", 383e12, 128 * GB),
}


def get_gpu(name: str) -> GPU:
    key = str(name).strip().lower().replace("_", "-")
    if key not in GPUS:
        raise KeyError(f"unknown GPU {name!r}; choose one of {', '.join(GPUS)}")
    return GPUS[key]


def gpu_for_device(device_name: str) -> GPU | None:
    """The table's GPU for a device name as torch reports it, or None (CPUs, GPUs not in the table).

    A key matches when each of its words ("h100", "pcie") is a word of the name; the key with the most
    words wins: "NVIDIA H100 PCIe" is h100-pcie, "NVIDIA H100 80GB HBM3" h100, "NVIDIA A100-SXM4-40GB"
    a100-40gb.
    """
    words = set(re.split(r"[\s\-_]+", device_name.strip().lower()))
    matches = [key for key in GPUS if set(key.split("-")) <= words]
    if not matches:
        return None
    return GPUS[max(matches, key=lambda key: len(key.split("-")))]
