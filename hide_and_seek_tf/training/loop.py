"""`train(config)`: data -> dataset mean -> model -> fit, writing a resumable run directory."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hide_and_seek_tf._io import (
    DirectoryInUseError,
    save_model_atomic,
)
from hide_and_seek_tf.data import load_dataset, make_pipeline
from hide_and_seek_tf.dataset_mean import dataset_statistics
from hide_and_seek_tf.layers.hide_and_seek import HideAndSeek
from hide_and_seek_tf.models import build_model, check_model_choice
from hide_and_seek_tf.training.callbacks import EpochSummaries, RunRecorder, resumed_seed
from hide_and_seek_tf.training.config import TrainConfig
from hide_and_seek_tf.training.optimizers import make_optimizer
from hide_and_seek_tf.training.records import _run_record, write_run_start
from hide_and_seek_tf.training.run_dir import (
    LOGS_DIR,
    MODEL_FILE,
    _check_run_dir,
    epochs_done,
    locked_run,
    read_state,
    restore_state,
)
from hide_and_seek_tf.training.setup import (
    _all_agree,
    _dtype_policy,
    _is_multi_worker,
    _jit_compile,
    _resolve_precision,
    is_chief,
    make_strategy,
)

logger = logging.getLogger("hide_and_seek_tf.training")

_SHARD_OPTIONS = tf.data.Options()
# DATA sharding: every worker reads everything and keeps its slice of each global batch; the sources
# here are not file lists (synthetic data is rendered, Tiny ImageNet is one zip).
_SHARD_OPTIONS.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA


# === Data ===
def _load(config: TrainConfig, split: str, num_images: int | None):
    return load_dataset(
        config.data_spec,
        split,
        classes=list(config.classes) if isinstance(config.classes, tuple) else config.classes,
        max_per_class=config.max_per_class if split == config.train_split else None,
        num_images=num_images,
        image_size=config.image_size,
        seed=config.seed,
        strict_boxes=config.strict_boxes,
        skip_bad_images=config.skip_bad_images,
    )


def _count(ds: tf.data.Dataset) -> int:
    return int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1).numpy())


def _val_images(config: TrainConfig) -> int | None:
    # Synthetic validation scales with the training set (4:1, the demo's 4000:1000).
    if config.data_kind == "synthetic":
        return max(config.batch_size, config.num_images // 4)
    return None


# === Training ===
def train(config: TrainConfig, verbose: int | None = None) -> keras.Model:
    """Trains a CAM network with Hide-and-Seek as `config` says, writing a run directory.

    Writes `config.json` and `dataset_mean.json` before training, then per epoch `history.csv`, a
    checkpoint and the resumable state, and at the end `model.keras` (see `run_dir`). With
    `config.resume` the run continues from its last saved state, mid-epoch included: weights,
    optimizer state and step counter are restored exactly; the data order after a resume is a new
    draw (the input pipeline restarts with a seed derived from `seed` and the global step).

    Args:
        config: the settings; `None` fields are resolved and the result saved in config.json.
        verbose: Keras progress output, 0, 1 (bars) or 2 (a line per epoch); default: 1 when
            stdout is a terminal, else 2.

    Returns:
        The trained `keras.Model` (raw pixels in, logits out; no hiding inside).

    Raises:
        TypeError: `config` is not a `TrainConfig`.
        FileExistsError: a fresh run in a non-empty `run_dir` (nothing is written).
        FileNotFoundError: `resume` in a directory without config.json.
        DirectoryInUseError: another process holds the run directory's lock (trains, evaluates
            into or exports from it); nothing is written.
        ValueError: a resume whose settings differ from the saved config.json (it lists them;
            nothing is written), or settings the data cannot satisfy.

    Example:
        >>> model = train(TrainConfig(epochs=2, run_dir="runs/demo"))
        >>> model, config, mean = load_run("runs/demo")
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"`config` must be a TrainConfig. Received: config={config!r}")
    # Collective ops must be set up before any other TF work in the process.
    strategy = make_strategy(config.strategy)
    chief = is_chief(strategy)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    keras.utils.set_random_seed(config.seed)

    # Before the run directory is touched.
    check_model_choice(config.model, config.weights, arg="model")
    config, train_ds, info, num_train, validation = _resolve_with_data(config)
    run_dir = Path(config.run_dir)
    error = None
    with contextlib.ExitStack() as held:
        if chief:
            try:
                _check_run_dir(config)  # refused before the lock creates the directory
                # Held until training ends; stale temporary files of killed saves go.
                held.enter_context(locked_run(run_dir, "train"))
                _check_run_dir(config)  # again, now that no other process can write it
            except (FileExistsError, FileNotFoundError, ValueError, DirectoryInUseError) as e:
                error = e
        if not _all_agree(strategy, error is None):  # a refusal by the chief stops every worker
            raise error or RuntimeError("The chief worker refused to start; see its error message.")
        if config.resume and read_state(run_dir) is None and (run_dir / MODEL_FILE).is_file():
            logger.info("Run %s is already complete; loading its model.", run_dir)
            return keras.models.load_model(run_dir / MODEL_FILE, safe_mode=True)

        # Only the chief writes the run directory; other workers write to a throw-away one.
        write_dir = run_dir if chief else Path(tempfile.mkdtemp(prefix="hide_and_seek_worker_"))
        try:
            return _train_into(
                config, strategy, chief, write_dir, train_ds, info, num_train, validation, verbose
            )
        finally:
            if not chief:
                shutil.rmtree(write_dir, ignore_errors=True)


def _resolve_with_data(
    config: TrainConfig,
) -> tuple[TrainConfig, tf.data.Dataset, Any, int, tuple[tf.data.Dataset, Any] | None]:
    """Loads the training split (and the validation split, when validating) and resolves the
    settings that depend on them: (config, train elements, train info, train images, validation
    (elements, info) or None)."""
    config = _resolve_precision(config)
    if config.data_kind == "synthetic":
        config = config.resolve()  # the demo's image size and image count
    train_ds, info = _load(config, config.train_split, config.num_images)
    num_train = info.num_examples if info.num_examples is not None else _count(train_ds)
    config = config.resolve(image_size=info.image_size, num_train=num_train)
    val_split = config.data_spec.validation_split
    validation = None
    if config.validation and val_split is not None:
        # Loaded (its headers and boxes checked) now, before anything is written, and once.
        validation = _load(config, val_split, _val_images(config))
    return config, train_ds, info, num_train, validation


def cache_fits(num_images: int, image_size: tuple[int, int], fraction: float = 0.5) -> bool:
    """Whether `num_images` decoded uint8 images take at most `fraction` of the available memory
    (always True where the OS does not say how much is available)."""
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return True
    return num_images * image_size[0] * image_size[1] * 3 <= fraction * available


def _input_pipelines(
    config: TrainConfig,
    train_ds: tf.data.Dataset,
    mean: list[float],
    seed: int,
    multi_worker: bool,
    num_train: int,
    validation: tuple[tf.data.Dataset, Any] | None,
) -> tuple[tf.data.Dataset, tf.data.Dataset | None, int | None]:
    """(endless training batches, validation batches or None, validation steps or None)."""
    # Decoded images stay in memory after the first epoch when they fit (Tiny ImageNet: 0.5 GB);
    # else every epoch decodes again (ImageNet at 224 px would need 190 GB).
    in_memory = cache_fits(num_train, config.image_size)
    if not in_memory:
        logger.warning(
            "%d decoded images of %dx%d do not fit in half the free memory: decoding every epoch.",
            num_train, *config.image_size,
        )  # fmt: skip
    train_batches = make_pipeline(
        train_ds,
        training=True,
        batch_size=config.batch_size,
        image_size=config.image_size,
        hide_patch_sizes=config.hide_patch_sizes if config.hide_in == "data" else (),
        hide_prob=config.hide_prob,
        fill_value=mean,
        seed=seed,
        augment=config.augment,
        cache=in_memory,
        drop_remainder=True,
    )
    train_batches = train_batches.repeat().with_options(_SHARD_OPTIONS)
    val_split = config.data_spec.validation_split
    if not config.validation:
        return train_batches, None, None
    if val_split is None:
        logger.warning("%s has no validation split: no validation.", config.data)
        return train_batches, None, None
    val_ds, val_info = validation
    val_batches = make_pipeline(
        val_ds,
        training=False,
        batch_size=config.batch_size,
        image_size=config.image_size,
        drop_remainder=multi_worker,
    ).map(_image_and_label)
    val_steps = None
    if multi_worker:  # every worker must run the same number of steps
        num_val = val_info.num_examples if val_info.num_examples is not None else _count(val_ds)
        val_steps = num_val // config.batch_size
        if not val_steps:
            logger.warning("Fewer validation images than one global batch: no validation.")
            return train_batches, None, None
        val_batches = val_batches.repeat()
    return train_batches, val_batches.with_options(_SHARD_OPTIONS), val_steps


def _image_and_label(batch: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
    return batch["image"], batch["label"]


def _train_into(
    config: TrainConfig,
    strategy: tf.distribute.Strategy,
    chief: bool,
    write_dir: Path,
    train_ds: tf.data.Dataset,
    info: Any,
    num_train: int,
    validation: tuple[tf.data.Dataset, Any] | None,
    verbose: int,
) -> keras.Model:
    run_dir, steps = Path(config.run_dir), config.steps_per_epoch
    multi_worker = _is_multi_worker(strategy)
    # Every worker resumes from the chief's state (a filesystem shared by the workers).
    state = read_state(run_dir) if config.resume else None
    start_epoch, start_step = epochs_done(state, steps)
    global_step = start_epoch * steps + start_step
    history = state["history"] if state else []

    stats = dataset_statistics(
        config, lambda: _load(config, config.train_split, config.num_images)[0]
    )
    mean, std = stats["mean"], stats["std"]

    # A resumed run's iterator restarts: a seed derived from the global step gives it a new data
    # order and new hiding masks instead of repeating those of the first epochs.
    seed = resumed_seed(config.seed, global_step)
    train_batches, val_batches, val_steps = _input_pipelines(
        config, train_ds, mean, seed, multi_worker, num_train, validation
    )

    with _dtype_policy(config.mixed_precision), strategy.scope():
        # Pretrained weights bring their own normalization; hiding still fills with `mean`.
        model = build_model(
            config.model,
            info.num_classes,
            input_shape=(*config.image_size, 3),
            pooling=config.pooling,
            mean=None if config.weights else mean,
            std=None if config.weights else std,
            weights=config.weights,
        )
        # The model that is saved; `fit` may train it behind a hiding layer.
        trained = model
        if config.hide_in == "model" and config.hides:
            model = _behind_hiding_layer(model, config, mean, seed)
        model.compile(
            optimizer=make_optimizer(config, config.epochs * steps),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile=_jit_compile(config.jit_compile),
        )
        model.optimizer.build(model.trainable_variables)
        if state:
            restore_state(model, run_dir)
            logger.info(
                "Resuming %s at epoch %d, step %d of %d (global step %d).",
                run_dir, start_epoch + 1, start_step, steps, global_step,
            )  # fmt: skip
        if chief:  # the first bytes of a new run: data and model have loaded and built
            record = _run_record(config, info, strategy)
            write_run_start(write_dir, record, stats, history if config.resume else None)
        logger.info(
            "Training %s on %s (%d classes, %d images of %dx%d) for %d epochs of %d steps "
            "on %d replica(s); run directory: %s",
            config.model, config.data, info.num_classes, num_train, *config.image_size,
            config.epochs, steps, strategy.num_replicas_in_sync, run_dir,
        )  # fmt: skip

        recorder = RunRecorder(
            write_dir, steps, config.backup_every, global_step, history, saved_model=trained
        )
        callbacks = [recorder, EpochSummaries(write_dir / LOGS_DIR)]
        fit_args = {
            "callbacks": callbacks,
            "verbose": verbose if chief else 0,
            "validation_data": val_batches,
            "validation_steps": val_steps,
        }
        if multi_worker:
            _fit_custom_loop(
                model, strategy, train_batches, config, start_epoch, start_step, **fit_args
            )
        else:
            fit_resuming(
                model, train_batches, start_epoch, start_step, config.epochs, steps, **fit_args
            )
        # The final model first, then the state it supersedes.
        save_model_atomic(trained, write_dir / MODEL_FILE)
        recorder.remove_state()
    return trained


def _behind_hiding_layer(
    model: keras.Model, config: TrainConfig, mean: list[float], seed: int
) -> keras.Model:
    """`model` with a `HideAndSeek` layer in front: the hiding runs inside the training step (on the
    accelerator), the identity outside training. The layer computes in float32 so that raw pixels
    and the mean fill stay exact under mixed precision."""
    inputs = keras.Input(model.input_shape[1:], name="images")
    hidden = HideAndSeek(
        patch_sizes=config.hide_patch_sizes,
        hide_prob=config.hide_prob,
        fill_value=mean,
        seed=seed,
        dtype="float32",
        name="hide_and_seek",
    )(inputs)
    return keras.Model(inputs, model(hidden), name=f"{model.name}_hiding")


class _StopAtEpochEnd(keras.callbacks.Callback):
    """Ends `fit` after its first epoch (the rest of an interrupted one)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.model.stop_training = True


def fit_resuming(
    model: keras.Model,
    batches: tf.data.Dataset,
    start_epoch: int,
    start_step: int,
    epochs: int,
    steps_per_epoch: int,
    *,
    callbacks: list[keras.callbacks.Callback],
    **fit_args: Any,
) -> None:
    """`model.fit` on endless `batches` from `start_epoch`, step `start_step` (a resumed run's
    position, `epochs_done`) to `epochs`: the rest of an interrupted epoch first, then whole ones."""
    if start_step:  # finish the interrupted epoch first, then stop
        model.fit(
            batches,
            initial_epoch=start_epoch,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch - start_step,
            shuffle=False,
            callbacks=[*callbacks, _StopAtEpochEnd()],
            **fit_args,
        )
        start_epoch += 1
    if start_epoch < epochs:
        model.fit(
            batches,
            initial_epoch=start_epoch,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            shuffle=False,  # the pipeline shuffles
            callbacks=callbacks,
            **fit_args,
        )


def _fit_custom_loop(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    train_batches: tf.data.Dataset,
    config: TrainConfig,
    start_epoch: int,
    start_step: int,
    *,
    callbacks: list[keras.callbacks.Callback],
    verbose: int,
    validation_data: tf.data.Dataset | None,
    validation_steps: int | None,
) -> None:
    """`fit` for MultiWorkerMirroredStrategy, driving the same Keras callbacks.

    Keras 3's `Model.fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585): it reduces
    the input batch and the metrics with collectives the strategy does not support. This loop runs
    the same optimisation with `strategy.run` and sums loss and accuracy over all replicas.
    """
    steps = config.steps_per_epoch
    global_batch = config.batch_size
    optimizer = model.optimizer
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    scales_loss = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def sums(labels: tf.Tensor, logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        per_example = loss_fn(labels, logits)
        predicted = tf.argmax(logits, axis=-1, output_type=labels.dtype)
        correct = tf.reduce_sum(tf.cast(tf.equal(predicted, labels), tf.float32))
        return per_example, correct, tf.cast(tf.size(labels), tf.float32)

    def replica_train_step(images: tf.Tensor, labels: tf.Tensor):
        with tf.GradientTape() as tape:
            logits = tf.cast(model(images, training=True), tf.float32)
            per_example, correct, count = sums(labels, logits)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled = optimizer.scale_loss(loss) if scales_loss else loss
        grads = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return tf.reduce_sum(per_example), correct, count

    def replica_eval_step(images: tf.Tensor, labels: tf.Tensor):
        logits = tf.cast(model(images, training=False), tf.float32)
        per_example, correct, count = sums(labels, logits)
        return tf.reduce_sum(per_example), correct, count

    def reduced(values):
        return [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in values]

    @tf.function(jit_compile=config.jit_compile)
    def train_step(iterator):
        return reduced(strategy.run(replica_train_step, args=next(iterator)))

    @tf.function
    def eval_step(iterator):
        return reduced(strategy.run(replica_eval_step, args=next(iterator)))

    callback_list = keras.callbacks.CallbackList(
        callbacks,
        add_history=True,
        add_progbar=verbose != 0,
        verbose=verbose,
        epochs=config.epochs,
        steps=steps,
        model=model,
    )
    iterator = iter(strategy.experimental_distribute_dataset(train_batches))
    val_iterator = (
        iter(strategy.experimental_distribute_dataset(validation_data)) if validation_data else None
    )
    callback_list.on_train_begin()
    for epoch in range(start_epoch, config.epochs):
        callback_list.on_epoch_begin(epoch)
        total = np.zeros(3)
        first = start_step if epoch == start_epoch else 0
        for step in range(first, steps):
            callback_list.on_train_batch_begin(step)
            total += [float(v) for v in train_step(iterator)]
            logs = {"loss": total[0] / total[2], "accuracy": total[1] / total[2]}
            callback_list.on_train_batch_end(step, logs)
        epoch_logs = dict(logs)
        if val_iterator is not None:
            val_total = np.zeros(3)
            for _ in range(validation_steps):
                val_total += [float(v) for v in eval_step(val_iterator)]
            epoch_logs["val_loss"] = val_total[0] / val_total[2]
            epoch_logs["val_accuracy"] = val_total[1] / val_total[2]
        callback_list.on_epoch_end(epoch, epoch_logs)
    callback_list.on_train_end()


__all__ = ["fit_resuming", "train"]
