"""Accelerator specs for planning: dense (no sparsity) BF16 tensor-core peak and memory per device.

Figures are the vendors' datasheet numbers for the SXM/OAM parts (NVIDIA H100/H200/H800/A100/B200/L40S/V100
datasheets, AMD MI300X/MI250X datasheets); V100 has no BF16, its FP16 tensor peak is listed. Real
throughput is peak × MFU (model FLOPs utilisation, 0.3–0.5 is typical for large dense LLM training).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GPU:
    name: str
    peak_flops: float  # dense BF16 FLOP/s
    memory_bytes: float

    @property
    def memory_gib(self) -> float:
        return self.memory_bytes / 2**30


GB = 1e9  # vendors quote decimal gigabytes

GPUS: dict[str, GPU] = {
    "b200": GPU("NVIDIA B200", 2.25e15, 180 * GB),
    "h200": GPU("NVIDIA H200 SXM", 989e12, 141 * GB),
    "h100": GPU("NVIDIA H100 SXM", 989e12, 80 * GB),
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
