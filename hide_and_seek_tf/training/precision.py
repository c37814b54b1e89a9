"""Which floating-point precision trains fastest on this machine (`TrainConfig.mixed_precision="auto"`)."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

# CPU flags (Linux /proc/cpuinfo) of units that run bfloat16 matrix products natively: oneDNN then
# runs bfloat16 convolutions and GEMMs 3-4x faster than float32 (docs/benchmarks.md).
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The first CPU's feature flags, or an empty set where /proc/cpuinfo does not exist."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def choose_precision(
    gpu_compute_capabilities: list[tuple[int, int]], flags: frozenset[str], backend: str
) -> tuple[str | bool, str]:
    """(`mixed_precision` value, reason) for the given hardware.

    GPUs: bfloat16 from compute capability 8.0 (Ampere), float16 from 7.0 (Volta, Turing), else
    float32. CPUs: bfloat16 where the CPU has AMX-BF16 or AVX512-BF16 and the backend is TensorFlow
    (whose oneDNN kernels use them), else float32.
    """
    if gpu_compute_capabilities:
        lowest = min(gpu_compute_capabilities)
        if lowest >= (8, 0):
            return (
                "bfloat16",
                f"GPU compute capability {lowest[0]}.{lowest[1]} runs bfloat16 natively",
            )
        if lowest >= (7, 0):
            return (
                "float16",
                f"GPU compute capability {lowest[0]}.{lowest[1]} has float16 tensor cores",
            )
        return (
            False,
            f"GPU compute capability {lowest[0]}.{lowest[1]} has no fast reduced precision",
        )
    native = [flag for flag in BF16_CPU_FLAGS if flag in flags]
    if native and backend == "tensorflow":
        return "bfloat16", f"CPU has {native[0].upper().replace('_', '-')}"
    if native:
        return False, f"float32 on the {backend} backend's CPU kernels"
    return False, "CPU without bfloat16 matrix units"


@functools.cache
def fastest_precision() -> tuple[str | bool, str]:
    """`choose_precision` for this process's devices and Keras backend."""
    # Deferred: TrainConfig imports this module, and `train.py --help` must not load TensorFlow.
    import keras
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        if "compute_capability" in details:
            capabilities.append(tuple(details["compute_capability"]))
    flags = cpu_flags() if platform.system() == "Linux" else frozenset()
    return choose_precision(capabilities, flags, keras.config.backend())


__all__ = ["BF16_CPU_FLAGS", "choose_precision", "cpu_flags", "fastest_precision"]
