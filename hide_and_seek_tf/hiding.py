"""Hide-and-Seek: hide random grid cells of images (or feature maps), or random segments of feature
sequences (videos), with a fill value.

References:
    Singh, Yu, Sarmasi, Pradeep, Lee. "Hide-and-Seek: A Data Augmentation Technique for Weakly-Supervised
    Localization and Beyond." arXiv:1811.02545 (extends Singh & Lee, ICCV 2017), sections 3.1 and 3.2.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

_INT32_MAX = 2**31 - 1
# Pinned: the default picks another algorithm under XLA, and a seed must mean the same masks everywhere.
_RNG = "philox"

PatchSizes = int | Sequence[int]


def validate_patch_sizes(patch_sizes: Any) -> tuple[int, ...]:
    """Returns `patch_sizes` as a tuple of non-negative ints (0 = no hiding).

    Raises:
        TypeError: an entry is not an integer.
        ValueError: the sequence is empty or an entry is negative.
    """
    if isinstance(patch_sizes, numbers.Integral) and not isinstance(patch_sizes, bool):
        sizes = (patch_sizes,)
    elif isinstance(patch_sizes, str) or not isinstance(patch_sizes, Sequence | np.ndarray):
        raise TypeError(
            "`patch_sizes` must be an int or a sequence of ints (cell sides in pixels, 0 = no hiding). "
            f"Received: patch_sizes={patch_sizes!r}"
        )
    else:
        sizes = tuple(patch_sizes)
    if not sizes:
        raise ValueError(
            f"`patch_sizes` must not be empty (use 0 for 'no hiding'). Received: patch_sizes={patch_sizes!r}"
        )
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise TypeError(
                f"`patch_sizes` entries must be integers. Received: patch_sizes={patch_sizes!r}"
            )
        if size < 0:
            raise ValueError(
                "`patch_sizes` entries must be >= 0 (0 = no hiding). "
                f"Received: patch_sizes={patch_sizes!r}"
            )
    return tuple(int(s) for s in sizes)


def validate_hide_prob(hide_prob: Any) -> float:
    """Returns `hide_prob` as a float in [0, 1]; raises otherwise."""
    if isinstance(hide_prob, bool) or not isinstance(hide_prob, numbers.Real):
        raise TypeError(
            f"`hide_prob` must be a number in [0, 1]. Received: hide_prob={hide_prob!r}"
        )
    if not 0.0 <= float(hide_prob) <= 1.0:
        raise ValueError(f"`hide_prob` must be in [0, 1]. Received: hide_prob={hide_prob!r}")
    return float(hide_prob)


def validate_fill_value(fill_value: Any) -> tuple[float, ...]:
    """Returns `fill_value` as a tuple of floats (length 1 = same value for every channel)."""
    values = np.asarray(fill_value, dtype=object).reshape(-1) if fill_value is not None else []
    if len(values) == 0 or np.ndim(fill_value) > 1:
        raise ValueError(
            "`fill_value` must be a scalar or one value per channel. "
            f"Received: fill_value={fill_value!r}"
        )
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(float(v)):
            raise TypeError(
                f"`fill_value` must hold finite numbers. Received: fill_value={fill_value!r}"
            )
        out.append(float(v))
    return tuple(out)


def fill_values(
    fill: tuple[float, ...], channels: int | None, dtype: Any, axis: str = "C=channel"
) -> np.ndarray:
    """The validated fill as float64 values, rounded to the nearest integer for integer `dtype`.

    One rule for every backend: 1 or C values, and integer inputs take the rounded value, which
    must fit the dtype. `axis` names the last axis in errors, "SYMBOL=word" ("C=channel" for
    images, "D=feature" for sequences).
    """
    symbol, word = axis.split("=")
    if channels is not None and len(fill) not in (1, channels):
        raise ValueError(
            f"`fill_value` must have 1 or {symbol}={channels} values (one per {word}). "
            f"Received: fill_value={list(fill)!r}"
        )
    dtype = tf.as_dtype(dtype)
    values = np.asarray(fill, np.float64)
    if dtype.is_integer:
        values = np.round(values)
        if values.min() < dtype.min or values.max() > dtype.max:
            raise ValueError(
                f"`fill_value` must be representable in the inputs' dtype {dtype.name} "
                f"[{dtype.min}, {dtype.max}]. Received: fill_value={list(fill)!r}"
            )
    return values


def _fill_tensor(
    fill: tuple[float, ...], channels: int | None, dtype: tf.DType, axis: str = "C=channel"
) -> tf.Tensor:
    """The fill as a broadcastable tensor in the inputs' dtype (rounded for integer inputs)."""
    values = fill_values(fill, channels, dtype, axis)
    return tf.cast(tf.constant(values, dtype=tf.float64), dtype)


def _check_images(images: Any) -> tf.Tensor:
    images = tf.convert_to_tensor(images)
    if not (images.dtype.is_floating or images.dtype.is_integer) or images.dtype == tf.bool:
        raise TypeError(
            "`images` must have a numeric dtype (uint8, float16, bfloat16, float32, ...). "
            f"Received: images.dtype={images.dtype.name}"
        )
    if images.shape.rank not in (3, 4):
        raise ValueError(
            "`images` must be one image (H, W, C) or a batch (B, H, W, C). "
            f"Received: images.shape={images.shape}"
        )
    return images


def _resolve_seed(seed: Any) -> tf.Tensor:
    """A [2] integer stateless seed: the given one, or a fresh draw from TF's (globally seedable) RNG."""
    if seed is None:
        return tf.random.uniform([2], maxval=_INT32_MAX, dtype=tf.int32)
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return tf.constant([0, int(seed)], dtype=tf.int64)
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer or seed.shape.rank != 1 or seed.shape[0] not in (None, 2):
        raise ValueError(
            "`seed` must be None, an int, or a stateless seed: an int tensor of shape [2]. "
            f"Received: seed={seed!r}"
        )
    return tf.cast(seed, tf.int64)


class _TFOps:
    """The few `keras.ops` functions `grid_mask` needs, as TensorFlow ops.

    `grid_mask` runs on `keras.ops` inside a model (any backend) and on these inside `tf.data`
    (always TensorFlow, whatever the Keras backend), like the backend switch of Keras's
    preprocessing layers, without their private classes. Dynamic shapes are fine here.
    """

    arange = staticmethod(tf.range)
    matmul = staticmethod(tf.matmul)
    take = staticmethod(tf.gather)
    where = staticmethod(tf.where)
    logical_and = staticmethod(tf.logical_and)
    cast = staticmethod(tf.cast)

    @staticmethod
    def one_hot(x, num_classes):
        return tf.one_hot(x, num_classes)

    @staticmethod
    def swapaxes(x, axis1, axis2):
        return tf.experimental.numpy.swapaxes(x, axis1, axis2)


TF_OPS = _TFOps()


def grid_geometry(sizes: tuple[int, ...], height: Any, width: Any) -> tuple[Any, Any] | None:
    """(grid_h, grid_w) of the random grid at the finest nonzero cell side; None if none hides."""
    nonzero = [s for s in sizes if s > 0]
    if not nonzero:
        return None
    smallest = min(nonzero)
    return (height + smallest - 1) // smallest, (width + smallest - 1) // smallest


def grid_mask(
    ops: Any,
    cell_hidden: Any,
    choice: Any,
    height: Any,
    width: Any,
    sizes: tuple[int, ...],
) -> Any:
    """The Hide-and-Seek pixel mask from its random draws: the one definition of the mask.

    Every backend and code path (`hide_patches`, the `HideAndSeek` layer under TensorFlow, JAX
    and PyTorch, in a model or in `tf.data`) computes its mask here; they differ only in how the
    draws are made.

    Args:
        ops: `keras.ops` (the active backend) or `TF_OPS` (TensorFlow, e.g. inside `tf.data`).
        cell_hidden: bool (B, grid_h, grid_w), whether each cell of the finest grid (the
            smallest nonzero side, see `grid_geometry`) is hidden; an image with coarser cells
            uses its first rows and columns.
        choice: int (B,) index into `sizes` of each image's side, or None when `sizes` has one
            entry.
        height, width: the images' size (ints, or scalar tensors for `TF_OPS`).
        sizes: validated cell sides, at least one nonzero.

    Returns:
        bool (B, height, width): True where a pixel is hidden.
    """
    grid_h, grid_w = grid_geometry(sizes, height, width)
    smallest = min(s for s in sizes if s > 0)
    # Pixel -> cell assignment as one-hot matrices; mask = rows @ cells @ cols^T is exactly 0/1. This beats
    # gathers and broadcast-reshapes on CPU, and XLA fuses it into a few small matmuls.
    if len(sizes) == 1:
        side = sizes[0]  # one assignment, broadcast over the batch by matmul
        hides = None
    else:
        side = ops.take(ops.cast(np.asarray(sizes, np.int32), "int32"), choice)  # (B,)
        hides = side > 0
        side = ops.where(hides, side, smallest)[:, None]  # any in-grid side; masked out below
    rows = ops.cast(ops.arange(height), "int32")[None, :] // side  # (B or 1, H)
    cols = ops.cast(ops.arange(width), "int32")[None, :] // side  # (B or 1, W)
    row_cells = ops.one_hot(rows, grid_h)  # (B or 1, H, grid_h)
    col_cells = ops.one_hot(cols, grid_w)  # (B or 1, W, grid_w)
    cells = ops.cast(cell_hidden, row_cells.dtype)
    mask = ops.matmul(ops.matmul(row_cells, cells), ops.swapaxes(col_cells, -1, -2)) > 0.5
    return mask if hides is None else ops.logical_and(mask, hides[:, None, None])


def hidden_cell_mask(
    batch_size: tf.Tensor,
    height: tf.Tensor,
    width: tf.Tensor,
    patch_sizes: PatchSizes = 16,
    hide_prob: float = 0.5,
    seed: Any = None,
) -> tf.Tensor:
    """Boolean hidden-pixel mask (B, H, W) of the Hide-and-Seek grid, one random grid per image.

    Each image draws its cell side N uniformly from `patch_sizes` (0 = nothing hidden); cells are N x N from the
    top-left corner, clipped at the right and bottom edges; each cell is hidden with probability `hide_prob`.
    The mask is a pure function of (shape, arguments, seed): TensorFlow's Philox generator, split
    into one stream for the sides and one for the cells.

    Args:
        batch_size, height, width: scalar int tensors (or ints).
        patch_sizes: an int or a sequence of ints, see `hide_patches`.
        hide_prob: probability of hiding each cell.
        seed: None, an int, or a [2] int stateless seed.

    Returns:
        A bool tensor (batch_size, height, width).
    """
    sizes = validate_patch_sizes(patch_sizes)
    hide_prob = validate_hide_prob(hide_prob)
    seed = _resolve_seed(seed)
    size_seed, cell_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2, alg=_RNG))
    geometry = grid_geometry(sizes, height, width)
    if geometry is None or hide_prob == 0.0:
        return tf.zeros([batch_size, height, width], dtype=tf.bool)
    grid_h, grid_w = geometry
    cell_hidden = (
        tf.random.stateless_uniform([batch_size, grid_h, grid_w], seed=cell_seed, alg=_RNG)
        < hide_prob
    )
    choice = None
    if len(sizes) > 1:
        choice = tf.random.stateless_uniform(
            [batch_size], seed=size_seed, minval=0, maxval=len(sizes), dtype=tf.int32, alg=_RNG
        )
    return grid_mask(TF_OPS, cell_hidden, choice, height, width, sizes)


def hide_patches(
    images: Any,
    patch_sizes: PatchSizes = 16,
    hide_prob: float = 0.5,
    fill_value: float | Sequence[float] = 0.0,
    seed: Any = None,
    return_mask: bool = False,
) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
    """Hides random grid cells of each image with `fill_value` (Hide-and-Seek, section 3.1).

    Every image gets its own random grid: its cell side N is drawn uniformly from `patch_sizes` and each N x N cell
    (from the top-left corner, clipped at the right/bottom edges; N larger than a side gives one cell) is hidden
    independently with probability `hide_prob`. Hidden pixels are set exactly to `fill_value` (rounded to the nearest
    integer for integer images); visible pixels are returned bit-identical. Works on feature maps too (any C): all
    channels of a cell are hidden together.

    Use it at training time only; the paper feeds full images at test time. For the paper's fill, pass the
    per-channel training-set mean in the images' own units (see `compute_dataset_mean`).

    Args:
        images: (H, W, C) or (B, H, W, C), any H, W and C >= 1, numeric dtype (uint8, float16, bfloat16,
            float32, ...).
        patch_sizes: cell side N in pixels, or a sequence of sides from which each image draws its own;
            0 means "no hiding" for the images that draw it (e.g. `(16, 32, 44, 56, 0)` is the paper's mixed
            setting at 224 px).
        hide_prob: probability of hiding each cell, in [0, 1].
        fill_value: scalar or one value per channel, in the images' own units.
        seed: None for fresh randomness on every call (drawn from TF's RNG, so `tf.random.set_seed` makes
            eager code reproducible), or a stateless seed (int, or int tensor of shape [2]): the output is
            then a pure function of (images, seed), whatever else runs before or around it. In a `tf.data`
            map with a global seed set, None replays the same draws on every new iterator (every epoch):
            pass per-batch seeds there, e.g. zipped from
            `tf.data.Dataset.random(seed, rerandomize_each_iteration=True).batch(2)`.
        return_mask: also return the boolean hidden-pixel mask, (B, H, W) or (H, W).

    Returns:
        The images with hidden cells, same shape and dtype; and the mask if `return_mask`.

    Raises:
        TypeError: non-numeric images, non-integer patch sizes, non-numeric fill or probability.
        ValueError: rank other than 3 or 4, `hide_prob` outside [0, 1], negative or empty `patch_sizes`,
            `fill_value` whose length is neither 1 nor C (or not representable in an integer dtype).

    Example:
        >>> images = tf.zeros([8, 64, 64, 3])
        >>> hidden = hide_patches(images, patch_sizes=(16, 32, 0), fill_value=[122.5, 114.2, 101.3],
        ...                       seed=[0, 42])
    """
    images = _check_images(images)
    fill = _fill_tensor(validate_fill_value(fill_value), images.shape[-1], images.dtype)
    return hide_with_fill(images, patch_sizes, hide_prob, fill, seed, return_mask)


def hide_with_fill(
    images: tf.Tensor,
    patch_sizes: PatchSizes,
    hide_prob: float,
    fill: tf.Tensor,
    seed: Any,
    return_mask: bool = False,
) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
    """`hide_patches` with the fill already a tensor in the images' dtype: a scalar or (C,).

    The `HideAndSeek` layer calls it under TensorFlow (and inside `tf.data`), where its fill may be
    a running mean.
    """
    single = images.shape.rank == 3
    batch = images[None] if single else images
    shape = tf.shape(batch)
    mask = hidden_cell_mask(shape[0], shape[1], shape[2], patch_sizes, hide_prob, seed)
    if len(fill.shape) and fill.shape[0] > 1:
        fill = tf.reshape(fill, [1, 1, 1, -1])
    hidden = tf.where(mask[..., None], fill, batch)
    if single:
        hidden, mask = hidden[0], mask[0]
    return (hidden, mask) if return_mask else hidden


# === Sequences (section 3.2) ===
def validate_segment_length(segment_length: Any) -> int:
    """Returns `segment_length` as an int >= 0 (steps per segment, 0 = no hiding).

    Raises:
        TypeError: not an integer.
        ValueError: negative.
    """
    if isinstance(segment_length, bool) or not isinstance(segment_length, numbers.Integral):
        raise TypeError(
            "`segment_length` must be an int (steps per segment, 0 = no hiding). "
            f"Received: segment_length={segment_length!r}"
        )
    if segment_length < 0:
        raise ValueError(
            "`segment_length` must be >= 0 (0 = no hiding). "
            f"Received: segment_length={segment_length!r}"
        )
    return int(segment_length)


def _check_sequences(sequences: Any) -> tf.Tensor:
    sequences = tf.convert_to_tensor(sequences)
    if (
        not (sequences.dtype.is_floating or sequences.dtype.is_integer)
        or sequences.dtype == tf.bool
    ):
        raise TypeError(
            "`sequences` must have a numeric dtype (float32, bfloat16, float16, ...). "
            f"Received: sequences.dtype={sequences.dtype.name}"
        )
    if sequences.shape.rank not in (2, 3):
        raise ValueError(
            "`sequences` must be one sequence (T, D) or a batch (B, T, D). "
            f"Received: sequences.shape={sequences.shape}"
        )
    return sequences


def hidden_segment_mask(
    batch_size: tf.Tensor,
    length: tf.Tensor,
    segment_length: int,
    hide_prob: float = 0.5,
    seed: Any = None,
) -> tf.Tensor:
    """Boolean hidden-step mask (B, T): consecutive segments from step 0, each hidden with `hide_prob`.

    Segments are `segment_length` steps from the start, the last one clipped at T; every sequence draws
    its own segments. The mask is a pure function of (shape, arguments, seed).

    Args:
        batch_size, length: scalar int tensors (or ints), B and T.
        segment_length: steps per segment; 0 hides nothing.
        hide_prob: probability of hiding each segment.
        seed: None, an int, or a [2] int stateless seed.

    Returns:
        A bool tensor (batch_size, length).
    """
    segment_length = validate_segment_length(segment_length)
    hide_prob = validate_hide_prob(hide_prob)
    seed = _resolve_seed(seed)
    if segment_length == 0 or hide_prob == 0.0:
        return tf.zeros([batch_size, length], dtype=tf.bool)
    num_segments = (length + segment_length - 1) // segment_length
    segment_hidden = (
        tf.random.stateless_uniform([batch_size, num_segments], seed=seed, alg=_RNG) < hide_prob
    )
    # Step -> segment index; one small gather builds the (B, T) mask.
    return tf.gather(segment_hidden, tf.range(length) // segment_length, axis=1)


def hide_segments(
    sequences: Any,
    segment_length: int,
    hide_prob: float = 0.5,
    fill_value: float | Sequence[float] = 0.0,
    seed: Any = None,
    return_mask: bool = False,
) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
    """Hides random temporal segments of each feature sequence with `fill_value` (section 3.2).

    The paper's video recipe: the F_total steps of a video are split into consecutive segments of
    F_segment = `segment_length` steps (from step 0; the last one is clipped when F_segment does not divide
    F_total) and each segment is hidden independently with probability `hide_prob`; every sequence draws
    its own segments. Hidden steps are set exactly to `fill_value` in every feature (rounded for integer
    inputs); visible steps come back bit-identical.

    Use it at training time only. For the paper's fill, pass the dataset-mean feature (one value per
    feature, in the sequences' own units; see `compute_dataset_mean`).

    Args:
        sequences: (T, D) or (B, T, D), any T and D >= 1, numeric dtype.
        segment_length: F_segment, steps per segment; 0 hides nothing. A length >= T makes the whole
            sequence one segment.
        hide_prob: probability of hiding each segment, in [0, 1].
        fill_value: scalar or one value per feature (D values).
        seed: None for fresh randomness on every call (from TF's global RNG), or a stateless seed (int,
            or int tensor of shape [2]) making the output a pure function of (sequences, seed); in a
            `tf.data` map pass per-batch seeds, as for `hide_patches`.
        return_mask: also return the boolean hidden-step mask, (B, T) or (T,).

    Returns:
        The sequences with hidden segments, same shape and dtype; and the mask if `return_mask`.

    Raises:
        TypeError: non-numeric sequences, a non-integer segment length, a non-numeric fill or probability.
        ValueError: rank other than 2 or 3, `hide_prob` outside [0, 1], a negative `segment_length`,
            `fill_value` whose length is neither 1 nor D (or not representable in an integer dtype).

    Example:
        >>> features = tf.zeros([16, 2000, 4096])  # C3D fc7, 2000 steps per video
        >>> hidden = hide_segments(features, 100, 0.5, fill_value=mean_feature, seed=[0, 42])
    """
    sequences = _check_sequences(sequences)
    fill = _fill_tensor(
        validate_fill_value(fill_value), sequences.shape[-1], sequences.dtype, axis="D=feature"
    )
    single = sequences.shape.rank == 2
    batch = sequences[None] if single else sequences
    shape = tf.shape(batch)
    mask = hidden_segment_mask(shape[0], shape[1], segment_length, hide_prob, seed)
    if len(fill.shape) and fill.shape[0] > 1:
        fill = tf.reshape(fill, [1, 1, -1])
    hidden = tf.where(mask[..., None], fill, batch)
    if single:
        hidden, mask = hidden[0], mask[0]
    return (hidden, mask) if return_mask else hidden
