"""Where and how a run computes: the `tf.distribute` strategy and its devices, the precision, XLA."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import keras
import tensorflow as tf

from hide_and_seek_tf._checks import positive_int
from hide_and_seek_tf.training.config import AUTO_PRECISION, MIXED_PRECISION, TrainConfig
from hide_and_seek_tf.training.precision import fastest_precision
from hide_and_seek_tf.training.run_dir import CONFIG_FILE, read_json

logger = logging.getLogger("hide_and_seek_tf.training")


# === Devices and strategies ===
def configure_cpu_devices(count: int) -> None:
    """Splits the first physical CPU into `count` logical devices (to try MirroredStrategy on a CPU).

    Must run before TensorFlow initialises its devices, i.e. before any other TF op in the process.

    Raises:
        TypeError / ValueError: `count` is not a positive int.
        RuntimeError: TensorFlow's devices are already initialised.
    """
    positive_int(count, "count")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError as e:
        raise RuntimeError(
            f"Cannot split the CPU into {count} logical devices: TensorFlow is already initialised "
            "in this process. Do it first thing (train.py --cpu-devices N)."
        ) from e


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The `tf.distribute` strategy for `TrainConfig.strategy`.

    "mirrored" replicates over every GPU, or over every logical CPU device when there is no GPU.
    "multi-worker" reads the cluster from the `TF_CONFIG` environment variable.

    Raises:
        ValueError: an unknown name, or "multi-worker" without `TF_CONFIG`.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if keras.config.backend() != "tensorflow":
        raise ValueError(
            f"`strategy`={name!r} is a tf.distribute strategy: it needs the TensorFlow backend. "
            f"Received: KERAS_BACKEND={keras.config.backend()!r}"
        )
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi-worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "`strategy`='multi-worker' needs the cluster in the TF_CONFIG environment variable, "
                'e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", '
                '"index": 0}}. Received: TF_CONFIG unset'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"Unknown `strategy`. Received: strategy={name!r}")


def _is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the worker that writes the run directory (the chief, else worker 0)."""
    if not _is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def _all_agree(strategy: tf.distribute.Strategy, ok: bool) -> bool:
    """True when every worker passes `ok=True` (a collective, so one worker's failure stops all)."""
    if not _is_multi_worker(strategy):
        return ok

    @tf.function
    def failures(flag: tf.Tensor) -> tf.Tensor:
        per_replica = strategy.run(lambda: tf.identity(flag))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return float(failures(tf.constant(0.0 if ok else 1.0))) == 0.0


# === Precision and compilation ===
def _resolve_precision(config: TrainConfig) -> TrainConfig:
    """Resolves `mixed_precision="auto"` (a resumed run keeps the precision it started with) and
    says which precision trains."""
    if config.mixed_precision == AUTO_PRECISION:
        saved = Path(config.run_dir or "", CONFIG_FILE)
        if config.resume and saved.is_file():
            chosen = read_json(saved, "run config to resume").get("mixed_precision", False)
            reason = "kept from the run being resumed"
        else:
            chosen, reason = fastest_precision()
        config = config.replace(mixed_precision=chosen)
        logger.info("Precision: %s (auto: %s).", MIXED_PRECISION[chosen], reason)
    else:
        logger.info("Precision: %s (as configured).", MIXED_PRECISION[config.mixed_precision])
    return config


@contextlib.contextmanager
def _dtype_policy(mixed_precision: bool | str) -> Iterator[None]:
    """Sets the global Keras dtype policy for the block and restores the previous one."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(MIXED_PRECISION[mixed_precision])
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _jit_compile(requested: bool) -> bool | str:
    """`compile`'s jit_compile: as asked under TensorFlow (XLA); elsewhere True, or Keras's "auto"
    when not asked (JAX then jits, as it must to be fast; PyTorch runs eagerly)."""
    if keras.config.backend() == "tensorflow":
        return requested
    return True if requested else "auto"


__all__ = ["configure_cpu_devices", "is_chief", "make_strategy"]
