"""CAM -> boxes: connected components of thresholded maps, in TensorFlow ops (exportable).

`cams_to_boxes` thresholds each map at fractions of its max and boxes the largest 8-connected
component (or every component), for many thresholds at once. It is TensorFlow-only on purpose: it
runs inside the exported SavedModel, where only TensorFlow ops exist.

How it finds connected components without a connected-components op (core TF has none) and without
a per-threshold pass over the pixels:

1. Levels. For one map and thresholds t_1..t_T, the foreground sets {cam >= t_k * max} are nested.
   Each pixel gets a level L = #{k : t_k * max <= cam}; the foreground of threshold k is exactly
   {L >= l_k} with l_k = 1 + #{j : t_j * max < t_k * max}. The comparison is done in float32,
   as written, so the result matches any reference computing `cam >= t * max` in float32.
2. Basins. Every pixel points to the 8-neighbour (or itself) with the largest (cam, raster
   index); pointer jumping follows these pointers to a peak. The path to the peak never goes down
   in cam, hence never in L, so a pixel is connected to its peak at every level it is foreground
   at. Components at level l are therefore unions of basins, glued where two basins touch at
   pixels both of level >= l. Smooth maps (CAMs) have few basins.
3. Sweep. Each basin's per-level statistics (pixel count, first and last raster index, min and
   max x) are gathered in one scatter pass. Levels are then swept from high to low in one
   `tf.while_loop`; each step adds that level's statistics, unions the basins glued at that level
   (hook-to-min plus pointer jumping on the small basin graph), and reads off the largest
   component (or the largest `max_components`) of every map.

All of this is batched over maps (and thresholds): no Python loop over images or pixels. The dense
part (steps 1-2) is XLA-compiled when called eagerly; inside a traced graph (a `tf.function`, a
SavedModel) plain TensorFlow ops are used unless `jit_compile=True` is passed.

One threshold, `mode="largest"` (what serving asks for), under XLA takes a shorter route: no levels,
and no step that compacts basins or edges into data-sized arrays. Basins are merged on the pixel
grid (each pixel takes the smallest basin label in its 3x3 window, roots hook onto it, pointer
jumping flattens) and areas scatter into a map-sized array, so every shape is the maps' shape and
XLA compiles one program per (N, H, W), whatever the data. Same definition, same boxes.

References:
    Singh et al., Hide-and-Seek, https://arxiv.org/abs/1811.02545 (section 3.1.3).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

_MODES = ("largest", "all")

# Under XLA, per-level basin statistics come from one (levels x basins) table when it has at
# most max(2 * pixels, this) entries; otherwise pixels are bucketed by level.
_MIN_TABLE_LIMIT = 1 << 22
# Levels are packed in 16 bits (one per neighbour direction) when finding basin borders.
_MAX_THRESHOLDS = 0xFFFF

# The static-shape route for one threshold (False only to benchmark the level route against it).
_ONE_THRESHOLD_ROUTE = True

# (dy, dx) of the four "forward" neighbours: each undirected 8-neighbour edge is seen once.
_FORWARD = ((0, 1), (1, 0), (1, 1), (1, -1))


def cams_to_boxes(
    cams: tf.Tensor | np.ndarray,
    thresholds: float | Sequence[float] = (0.2,),
    mode: str = "largest",
    max_components: int = 16,
    jit_compile: bool | None = None,
) -> tf.Tensor:
    """Boxes around connected components of thresholded CAMs, for many thresholds at once.

    For every map and every threshold t, the foreground is `cam >= t * max(cam)` (computed in
    float32), and components are 8-connected.

    TensorFlow only, whatever the Keras backend: it runs inside the exported SavedModel, where only
    TensorFlow ops exist. CAMs from a JAX or PyTorch model (`class_activation_maps` returns that
    backend's tensors) are accepted as arrays, e.g. `cams_to_boxes(np.asarray(cams[:, 0]))`, and
    the boxes come back as a `tf.Tensor`.

    - `mode="largest"`: the tight box around the largest component (most pixels). Ties are
      broken by the component's first pixel in row-major (raster) order: the earliest wins,
      which is the component `scipy.ndimage.label` numbers first.
    - `mode="all"`: a box per component, the `max_components` largest ones (same order: more
      pixels first, then earliest first pixel), padded with rows of -1 (MaxBoxAccV2 scores
      every component). The number of real boxes is `reduce_sum(boxes[..., 2] >= 0, -1)`.

    Degenerate maps are defined, not NaN: a constant map (e.g. the all-zero CAM that
    `class_activation_maps` returns for a flat map) has `cam >= t * max` everywhere, so its
    box is the whole image. An empty foreground (only possible when max(cam) < 0) gives the
    "no box" row [-1, -1, -1, -1], which the metrics score as IoU 0.

    Args:
        cams: float maps (..., H, W); any leading batch shape (including none).
        thresholds: a float or a sequence of floats in [0, 1] (fractions of each map's max).
        mode: `"largest"` or `"all"`.
        max_components: boxes kept per map and threshold in `mode="all"`.
        jit_compile: XLA-compile the dense part. None (default): on when called eagerly, off
            when traced into a graph (so a SavedModel needs no XLA at serve time).

    Returns:
        int32 boxes x0, y0, x1, y1 (inclusive pixel coordinates): shape (..., T, 4) for
        `"largest"`, (..., T, max_components, 4) for `"all"`, T = len(thresholds).

    Raises:
        ValueError: bad `mode`, `thresholds`, `max_components` or `cams` rank.
        tf.errors.InvalidArgumentError: `cams` holds NaN or Inf.

    Example:
        >>> cam = np.zeros((6, 8), np.float32); cam[1:3, 2:5] = 1.0; cam[4, 7] = 0.9
        >>> cams_to_boxes(cam, thresholds=(0.5,)).numpy().tolist()
        [[2, 1, 4, 2]]
    """
    if mode not in _MODES:
        raise ValueError(f"`mode` must be one of {_MODES}. Received: mode={mode!r}")
    thr = np.asarray(thresholds, dtype=np.float32).reshape(-1)
    if not 0 < thr.size <= _MAX_THRESHOLDS or not np.all((thr >= 0.0) & (thr <= 1.0)):
        raise ValueError(
            f"`thresholds` must be 1 to {_MAX_THRESHOLDS} floats in [0, 1]. "
            f"Received: thresholds={thresholds!r}"
        )
    if (
        isinstance(max_components, bool)
        or not isinstance(max_components, (int, np.integer))
        or max_components < 1
    ):
        raise ValueError(
            f"`max_components` must be an int >= 1. Received: max_components={max_components!r}"
        )
    cams = tf.convert_to_tensor(cams)
    if cams.shape.rank is not None and cams.shape.rank < 2:
        raise ValueError(f"`cams` must have shape (..., H, W). Received: cams.shape={cams.shape}")
    cams = tf.cast(cams, tf.float32)
    if jit_compile is None:
        jit_compile = tf.executing_eagerly()
    batch_shape = tf.shape(cams)[:-2]
    hw = tf.shape(cams)[-2:]
    flat = tf.reshape(cams, tf.concat([[-1], hw], 0))
    # Pixel ids are int32 over the whole batch.
    tf.debugging.assert_less(
        tf.reduce_prod(tf.shape(flat, out_type=tf.int64)),
        tf.constant(2**31 - 1, tf.int64),
        message="`cams` holds too many pixels (>= 2**31) for one call: split the batch",
    )
    if mode == "largest" and thr.size == 1 and jit_compile and _ONE_THRESHOLD_ROUTE:
        # One threshold needs no levels: a static-shape program (see _largest_one_threshold).
        boxes, finite = _largest_one_threshold_xla(flat, tf.constant(thr[0]))
        check = tf.debugging.Assert(finite, ["`cams` must be finite (no NaN or Inf)"])
        with tf.control_dependencies([check]):
            boxes = tf.identity(boxes)[:, None]
    else:
        tf.debugging.assert_all_finite(flat, "`cams` must be finite (no NaN or Inf)")
        fn = _boxes_fn(mode, int(max_components), bool(jit_compile), int(thr.size))
        boxes = fn(flat, tf.constant(thr))
    return tf.reshape(boxes, tf.concat([batch_shape, tf.shape(boxes)[1:]], 0))


_BOXES_FNS: dict = {}


def _boxes_fn(mode: str, max_components: int, jit: bool, num_t: int):
    """One traced function per (mode, max_components, jit, number of thresholds); map shapes
    are dynamic inside (XLA compiles each concrete shape once)."""
    key = (mode, max_components, jit, num_t)
    if key not in _BOXES_FNS:

        def fn(cams, thresholds):
            return _boxes_core(cams, thresholds, mode, max_components, jit)

        _BOXES_FNS[key] = tf.function(
            fn,
            autograph=False,
            input_signature=[
                tf.TensorSpec([None, None, None], tf.float32),
                tf.TensorSpec([num_t], tf.float32),
            ],
        )
    return _BOXES_FNS[key]


def _ascent(cams: tf.Tensor) -> tf.Tensor:
    """(N, H, W) -> (N*H*W,): the global id of the peak each pixel's steepest ascent reaches."""
    n, h, w = tf.unstack(tf.shape(cams))
    hw = h * w
    # Ascent: each pixel points at the largest (cam, raster index) in its 3x3 window, packed in
    # one int64 (order-preserving float bits, then the index). Following the true gradient (not
    # the quantized level) keeps basins few on smooth maps; background pixels never attract a
    # foreground one, since their cam is lower.
    bits = tf.bitcast(cams, tf.int32)
    ordered = tf.bitwise.bitwise_xor(
        bits, tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits, 31), 0x7FFFFFFF)
    )
    local = tf.reshape(tf.range(hw), tf.stack([1, h, w]))
    key = tf.bitwise.left_shift(tf.cast(ordered, tf.int64), 32) + tf.cast(local, tf.int64)
    padded = tf.pad(key, [[0, 0], [1, 1], [1, 1]], constant_values=tf.int64.min)
    best = key
    for dy in range(3):
        for dx in range(3):
            best = tf.maximum(best, padded[:, dy : dy + h, dx : dx + w])
    offset = (tf.range(n) * hw)[:, None, None]
    up = tf.cast(tf.bitwise.bitwise_and(best, 0xFFFFFFFF), tf.int32) + offset
    up = tf.reshape(up, [-1])

    def jump(up, _):
        nxt = tf.gather(up, up)
        nxt = tf.gather(nxt, nxt)
        return nxt, tf.reduce_any(nxt != up)

    up, _ = tf.while_loop(lambda up, go: go, jump, (up, tf.constant(True)))
    return up


def _levels_and_basins(
    cams: tf.Tensor, thresholds: tf.Tensor, fused: bool = False
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Dense part: per-pixel level L (N, H, W), the peak each pixel's ascent reaches (N*H*W,),
    and whether the pixel is a peak of the foreground (N*H*W,).

    Pixel ids are global row-major indices n * H * W + y * W + x.
    """
    n, h, w = tf.unstack(tf.shape(cams))
    hw = h * w
    num_t = thresholds.shape[0]
    peak = tf.reduce_max(cams, axis=[1, 2])
    values = tf.sort(thresholds[None, :] * peak[:, None], axis=1)  # (N, T), ascending per map
    if fused and num_t <= 128:
        # L = #{k : values_k <= cam}; XLA fuses these compares into one pass.
        level = tf.zeros(tf.shape(cams), tf.int32)
        for k in range(num_t):
            level += tf.cast(cams >= values[:, k, None, None], tf.int32)
    else:
        # Branchless binary search over a power-of-two padded table: log2(T) gathers.
        size = 1 << num_t.bit_length()  # > num_t, so the +inf padding caps L at num_t
        table = tf.concat([values, tf.fill([n, size - num_t], np.float32(np.inf))], axis=1)
        table = tf.reshape(table, [-1])
        base = (tf.range(n) * size)[:, None, None]
        level = tf.zeros(tf.shape(cams), tf.int32)
        half = size // 2
        while half >= 1:
            cand = level + half
            level = tf.where(tf.gather(table, base + cand - 1) <= cams, cand, level)
            half //= 2
    up = _ascent(cams)
    is_peak = (up == tf.range(n * hw)) & (tf.reshape(level, [-1]) > 0)
    return level, up, is_peak


_levels_and_basins_xla = tf.function(
    functools.partial(_levels_and_basins, fused=True), jit_compile=True, autograph=False
)


def _min_of_neighbours(labels: tf.Tensor, fill: int) -> tf.Tensor:
    """(N, H, W): the minimum of each 3x3 window (the pixel and its 8 neighbours)."""
    h, w = tf.shape(labels)[1], tf.shape(labels)[2]
    padded = tf.pad(labels, [[0, 0], [1, 1], [1, 1]], constant_values=fill)
    out = labels
    for dy in range(3):
        for dx in range(3):
            if (dy, dx) != (1, 1):
                out = tf.minimum(out, padded[:, dy : dy + h, dx : dx + w])
    return out


def _largest_one_threshold(cams: tf.Tensor, threshold: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """`mode="largest"` for one threshold, in static shapes: (boxes (N, 4), all finite ()).

    No levels and no compaction: every array has the shape of the maps, so under XLA one
    program per map shape serves every input (no recompilation on new data). Components are
    the ascent basins (see the module docstring) merged where they touch: every foreground
    pixel takes the smallest label in its 3x3 window, roots hook onto the smallest label any of
    their pixels saw, and pointer jumping flattens the forest, until no pixel sees a smaller
    label. Labels are pixel ids, so component areas scatter into a map-sized array, and the
    winner's box is read off a mask of its pixels.
    """
    n, h, w = tf.unstack(tf.shape(cams))
    hw = h * w
    total = n * hw
    finite = tf.reduce_all(tf.math.is_finite(cams))
    peak = tf.reduce_max(cams, axis=[1, 2])
    fg = cams >= (threshold * peak)[:, None, None]  # float32, as in the level route
    sink = total  # the label of the background, and a parent slot no pixel owns
    labels = tf.where(fg, tf.reshape(_ascent(cams), tf.shape(cams)), sink)

    def smallest_seen(labels):
        seen = tf.where(fg, _min_of_neighbours(labels, sink), sink)
        return seen, tf.reduce_any(seen < labels)

    def merge(labels, parent, seen, _):
        hook = seen < labels  # labels are roots here: hook each onto what its pixels saw
        # Pixels that do not hook write sink onto the sink slot: a no-op under min.
        parent = tf.tensor_scatter_nd_min(
            parent,
            tf.reshape(tf.where(hook, labels, sink), [-1, 1]),
            tf.reshape(tf.where(hook, seen, sink), [-1]),
        )

        def jump(p, _):
            q = tf.gather(p, p)
            return q, tf.reduce_any(q != p)

        parent, _ = tf.while_loop(lambda p, go: go, jump, (parent, tf.constant(True)))
        labels = tf.gather(parent, labels)
        return (labels, parent, *smallest_seen(labels))

    labels, _, _, _ = tf.while_loop(
        lambda *loop: loop[-1], merge, (labels, tf.range(total + 1), *smallest_seen(labels))
    )
    area = tf.tensor_scatter_nd_add(
        tf.zeros([total + 1], tf.int32), tf.reshape(labels, [-1, 1]), tf.ones([total], tf.int32)
    )
    root_area = tf.reshape(area[:total], tf.stack([n, hw]))  # nonzero at component roots only
    best_area = tf.reduce_max(root_area, axis=1)
    is_best = (root_area == best_area[:, None]) & (best_area[:, None] > 0)
    local = tf.range(hw)

    def tie_break():
        # Equal areas: the component with the earliest pixel in raster order wins.
        pixel_area = tf.gather(area, labels)
        cand = fg & (pixel_area == best_area[:, None, None])
        return tf.reduce_min(tf.where(cand, tf.reshape(local, tf.stack([1, h, w])), hw), [1, 2])

    def unique():
        return tf.reduce_min(tf.where(is_best, local[None], hw), axis=1)  # the root itself

    ties = tf.reduce_any(tf.reduce_sum(tf.cast(is_best, tf.int32), axis=1) > 1)
    pixel = tf.cond(ties, tie_break, unique)  # (N,): a pixel of the winner; hw if none
    found = pixel < hw
    winner = tf.gather(tf.reshape(labels, [-1]), tf.minimum(pixel, hw - 1) + tf.range(n) * hw)
    mask = labels == winner[:, None, None]
    rows, cols = tf.reduce_any(mask, axis=2), tf.reduce_any(mask, axis=1)
    ys, xs = tf.range(h)[None], tf.range(w)[None]
    boxes = tf.stack(
        [
            tf.reduce_min(tf.where(cols, xs, w), axis=1),
            tf.reduce_min(tf.where(rows, ys, h), axis=1),
            tf.reduce_max(tf.where(cols, xs, -1), axis=1),
            tf.reduce_max(tf.where(rows, ys, -1), axis=1),
        ],
        axis=1,
    )
    return tf.where(found[:, None], boxes, -1), finite


_largest_one_threshold_xla = tf.function(
    _largest_one_threshold,
    jit_compile=True,
    autograph=False,
    input_signature=[tf.TensorSpec([None, None, None], tf.float32), tf.TensorSpec([], tf.float32)],
)


def _glue_code(level: tf.Tensor, basin: tf.Tensor) -> tf.Tensor:
    """(N, H, W) int64: for each forward neighbour d (16 bits each), the level at which the edge
    from this pixel to it glues two different basins (the smaller of the two levels), 0 if it
    glues nothing. Nonzero only along basin borders (few pixels on smooth maps)."""
    h, w = tf.shape(level)[1], tf.shape(level)[2]
    lev_pad = tf.pad(level, [[0, 0], [0, 1], [1, 1]])
    bas_pad = tf.pad(basin, [[0, 0], [0, 1], [1, 1]], constant_values=-1)
    code = tf.zeros(tf.shape(level), tf.int64)
    for d, (dy, dx) in enumerate(_FORWARD):
        lev_nb = lev_pad[:, dy : dy + h, 1 + dx : 1 + dx + w]
        bas_nb = bas_pad[:, dy : dy + h, 1 + dx : 1 + dx + w]
        glue = tf.where(bas_nb != basin, tf.minimum(level, lev_nb), 0)
        code += tf.bitwise.left_shift(tf.cast(glue, tf.int64), 16 * d)
    return code


_glue_code_xla = tf.function(_glue_code, jit_compile=True, autograph=False)


def _basin_edges(code, basin, w):
    """Edges (a, b, weight) between different basins from `_glue_code`'s flat output."""
    src = tf.cast(tf.where(code != 0)[:, 0], tf.int32)
    packed = tf.gather(code, src)
    bas_src = tf.gather(basin, src)
    a, b, wt = [], [], []
    for d, (dy, dx) in enumerate(_FORWARD):
        weight = tf.cast(
            tf.bitwise.bitwise_and(tf.bitwise.right_shift(packed, 16 * d), 0xFFFF), tf.int32
        )
        keep = weight > 0
        a.append(tf.boolean_mask(bas_src, keep))
        b.append(tf.gather(basin, tf.boolean_mask(src, keep) + (dy * w + dx)))
        wt.append(tf.boolean_mask(weight, keep))
    return tf.concat(a, 0), tf.concat(b, 0), tf.concat(wt, 0)


def _union(parent: tf.Tensor, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Merges the sets of a[i] and b[i] for all i; `parent` is flat (every node -> its root) on
    entry and on exit. Each round hooks roots onto the smaller root id (so no cycle can form)
    and does one pointer jump; it stops when the forest is flat and every pair is joined."""

    def body(p, _):
        ra = tf.gather(p, a)
        rb = tf.gather(p, b)
        hi = tf.maximum(ra, rb)
        p_hi = tf.gather(p, hi)
        hook = (ra != rb) & (tf.gather(p, ra) == ra) & (tf.gather(p, rb) == rb)
        # Non-hooking pairs write p[hi] onto itself: a no-op under min.
        p = tf.tensor_scatter_nd_min(p, hi[:, None], tf.where(hook, tf.minimum(ra, rb), p_hi))
        nxt = tf.gather(p, p)
        return nxt, tf.reduce_any(nxt != p) | tf.reduce_any(ra != rb)

    parent, _ = tf.while_loop(lambda p, go: go, body, (parent, tf.size(a) > 0))
    return parent


def _partition_desc(data: tf.Tensor, level: tf.Tensor, num_t: int):
    """Stable bucket sort of `data` by `level` (1..num_t, 0 dropped), highest level first.

    Returns (sorted data, start offset of each level (num_t + 2,) indexed by level)."""
    parts = tf.dynamic_partition(data, level, num_t + 1)
    counts = tf.stack([tf.shape(p)[0] for p in parts])  # (num_t + 1,) by level
    ordered = tf.concat(parts[:0:-1], axis=0)
    # start of level j in `ordered` = number of elements of level > j. (A reversed cumsum, not
    # counts[::-1]: grappler's layout pass rejects the negative-stride slice and logs an error.)
    above = tf.concat([tf.cumsum(counts, exclusive=True, reverse=True), [0]], 0)
    return ordered, above


def _level_table(basin, level, w, hw, nb_pad_like, num_t: int):
    """Per (level, basin): pixel count, and the min of (raster index, x, -raster index, -x).

    Returns ((T + 1) * B,) counts and ((T + 1) * B, 4) mins, B = len(nb_pad_like), row
    level * B + basin. XLA-compiled: B is rounded up to a power of two by the caller so that
    few sizes get compiled.
    """
    nb_pad = tf.shape(nb_pad_like)[0]
    size = (num_t + 1) * nb_pad
    seg = (level * nb_pad + basin)[:, None]
    local = tf.range(tf.size(level)) % hw
    x = local % w
    count = tf.tensor_scatter_nd_add(tf.zeros([size], tf.int32), seg, tf.ones_like(basin))
    mins = tf.tensor_scatter_nd_min(
        tf.fill(tf.stack([size, 4]), tf.int32.max), seg, tf.stack([local, x, -local, -x], 1)
    )
    return count, mins


_level_table_xla = tf.function(_level_table, jit_compile=True, autograph=False)


def _dedupe_edges(e_a, e_b, e_w, basin_map, first_basin, per_map, total):
    """Keeps one edge per (basin, basin) pair, with its highest glue level: two basins are
    joined at level l iff some edge between them has weight >= l. Skipped (edges returned as
    they are) when the pair table would be larger than the image batch."""
    k = tf.maximum(tf.reduce_max(per_map), 1)
    num_pairs = tf.cast(tf.size(basin_map) - 1, tf.int64) * tf.cast(k, tf.int64)

    def dedupe():
        b_local = e_b - tf.gather(first_basin, tf.gather(basin_map, e_b))
        pair = e_a * k + b_local
        best = tf.math.unsorted_segment_max(e_w, pair, tf.cast(num_pairs, tf.int32))
        keep = tf.cast(tf.where(best > 0)[:, 0], tf.int32)
        a = keep // k
        b = tf.gather(first_basin, tf.gather(basin_map, a)) + keep % k
        return a, b, tf.gather(best, keep)

    return tf.cond(num_pairs <= tf.cast(total, tf.int64), dedupe, lambda: (e_a, e_b, e_w))


def _boxes_core(cams, thresholds, mode: str, max_components: int, jit: bool):
    num_t = thresholds.shape[0]
    n, h, w = tf.unstack(tf.shape(cams))
    hw = h * w
    total = n * hw
    if jit:
        level, up, is_peak = _levels_and_basins_xla(cams, thresholds)
    else:
        level, up, is_peak = _levels_and_basins(cams, thresholds)
    level_flat = tf.reshape(level, [-1])
    peak_ids = tf.cast(tf.where(is_peak)[:, 0], tf.int32)
    num_basins = tf.size(peak_ids)
    # One dummy basin (id num_basins, never populated) keeps every gather below in range.
    nb1 = num_basins + 1
    basin_of_peak = tf.scatter_nd(peak_ids[:, None], tf.range(num_basins), [total])
    basin = tf.gather(basin_of_peak, up)  # meaningful where level > 0
    basin_map = tf.concat([peak_ids // hw, [0]], 0)  # map index of each basin
    per_map = tf.math.bincount(peak_ids // hw, minlength=n, maxlength=n)
    first_basin = tf.cumsum(per_map, exclusive=True)

    # Per-level pixel statistics of each basin, by one of two routes. With XLA and a table of
    # (levels x basins) that fits: one scatter pass over the pixels. Otherwise: pixels bucketed
    # by level (as one int64, basin << 32 | raster index, so memory access stays sequential),
    # reduced level by level in the sweep.
    log2 = tf.math.ceil(tf.math.log(tf.cast(nb1, tf.float64)) / np.log(2.0))
    nb_pad = tf.maximum(tf.bitwise.left_shift(1, tf.cast(log2, tf.int32)), nb1)
    if jit:
        limit = tf.maximum(2 * total, _MIN_TABLE_LIMIT)
        use_table = tf.cast(nb_pad, tf.int64) * (num_t + 1) <= tf.cast(limit, tf.int64)
    else:
        use_table = tf.constant(False)

    def table():
        return _level_table_xla(
            basin, level_flat, w, hw, tf.zeros(tf.expand_dims(nb_pad, 0), tf.int8), num_t
        )

    def no_table():
        return tf.zeros([0], tf.int32), tf.zeros([0, 4], tf.int32)

    def buckets():
        local = tf.range(total) % hw
        packed = tf.bitwise.left_shift(tf.cast(basin, tf.int64), 32) + tf.cast(local, tf.int64)
        return _partition_desc(packed, level_flat, num_t)

    def no_buckets():
        return tf.zeros([0], tf.int64), tf.zeros([num_t + 2], tf.int32)

    if jit:
        t_count, t_mins = tf.cond(use_table, table, no_table)
        pix_data, pix_start = tf.cond(use_table, no_buckets, buckets)
    else:
        t_count, t_mins = no_table()
        pix_data, pix_start = buckets()

    def level_stats(lev):
        """(count (nb1,), mins (nb1, 4)) of the pixels of exactly level `lev`, per basin."""

        def from_table():
            row = lev * nb_pad
            return t_count[row : row + nb1], t_mins[row : row + nb1]

        def from_buckets():
            data = pix_data[pix_start[lev] : pix_start[lev - 1]]
            b = tf.cast(tf.bitwise.right_shift(data, 32), tf.int32)
            loc = tf.cast(tf.bitwise.bitwise_and(data, 0xFFFFFFFF), tf.int32)
            x = loc % w
            stat = tf.stack([loc, x, -loc, -x], axis=1)
            count = tf.math.bincount(b, minlength=nb1, maxlength=nb1)
            return count, tf.math.unsorted_segment_min(stat, b, nb1)

        if not jit:
            return from_buckets()
        return tf.cond(use_table, from_table, from_buckets)

    # Basin adjacencies, keyed by the level at which they glue.
    code = (_glue_code_xla if jit else _glue_code)(level, tf.reshape(basin, tf.shape(level)))
    e_a, e_b, e_w = _basin_edges(tf.reshape(code, [-1]), basin, w)
    e_a, e_b, e_w = _dedupe_edges(e_a, e_b, e_w, basin_map, first_basin, per_map, total)
    edge_order, edge_start = _partition_desc(tf.range(tf.size(e_w)), e_w, num_t)
    e_a = tf.gather(e_a, edge_order)
    e_b = tf.gather(e_b, edge_order)

    hw64 = tf.cast(hw, tf.int64)
    if mode == "all":
        slot = tf.range(num_basins) - tf.gather(first_basin, basin_map[:-1])
        width = tf.maximum(tf.reduce_max(tf.concat([per_map, [0]], 0)), max_components)
        out_shape = [n, max_components, 4]
    else:
        out_shape = [n, 4]

    def step(i, area, mins, parent, out):
        lev = num_t - i
        count, lev_mins = level_stats(lev)
        # min of (raster index, x, -raster index, -x): first pixel, x0, last pixel, x1.
        area += count
        mins = tf.minimum(mins, lev_mins)
        e0, e1 = edge_start[lev], edge_start[lev - 1]
        parent = _union(parent, e_a[e0:e1], e_b[e0:e1])
        g_area = tf.math.unsorted_segment_sum(area, parent, nb1)
        g_min = tf.math.unsorted_segment_min(mins, parent, nb1)
        # Larger area first, then the earlier first pixel: one int64 key, unique per map
        # (-1 for the empty groups, i.e. every non-root).
        key = tf.cast(g_area, tf.int64) * hw64 - tf.cast(g_min[:, 0], tf.int64) - 1
        key = tf.maximum(key, -1)

        def boxes_of(rows):
            g = tf.gather(g_min, rows)  # x0, y0, x1, y1 from (first, x0, -last, -x1)
            return tf.stack([g[..., 1], g[..., 0] // w, -g[..., 3], -g[..., 2] // w], axis=-1)

        if mode == "largest":
            # n + 1 segments: the dummy basin maps to 0, which must exist even when n == 0.
            best = tf.math.unsorted_segment_max(key, basin_map, n + 1)
            win = tf.where((key >= 0) & (key == tf.gather(best, basin_map)))[:, 0]
            res = tf.tensor_scatter_nd_update(
                tf.fill(out_shape, -1), tf.gather(basin_map, win)[:, None], boxes_of(win)
            )
        else:
            table = tf.tensor_scatter_nd_update(
                tf.fill(tf.stack([n, width]), tf.constant(-1, tf.int64)),
                tf.stack([basin_map[:-1], slot], 1),
                key[:-1],
            )
            top_key, top_slot = tf.math.top_k(table, k=max_components)
            chosen = tf.where(top_key >= 0, first_basin[:, None] + top_slot, num_basins)
            res = tf.where((top_key >= 0)[..., None], boxes_of(chosen), -1)
        return i + 1, area, mins, parent, out.write(lev, res)

    out = tf.TensorArray(tf.int32, size=num_t + 1)
    out = out.write(0, tf.fill(out_shape, -1))
    _, _, _, _, out = tf.while_loop(
        lambda i, *_: i < num_t,
        step,
        (
            tf.constant(0),
            tf.zeros([nb1], tf.int32),
            tf.fill(tf.stack([nb1, 4]), tf.int32.max),
            tf.range(nb1),
            out,
        ),
    )
    by_level = out.stack()  # (T + 1, N, ...): level 0 is never read
    # Level of each threshold: 1 + #{j : t_j * max < t_k * max} (equal products share a level).
    values = thresholds[None, :] * tf.reduce_max(cams, axis=[1, 2])[:, None]
    sorted_values = tf.sort(values, axis=1)
    thr_level = tf.searchsorted(sorted_values, values, side="left") + 1  # (N, T)
    rows = tf.broadcast_to(tf.range(n)[:, None], tf.shape(thr_level))
    return tf.gather_nd(by_level, tf.stack([thr_level, rows], axis=-1))
