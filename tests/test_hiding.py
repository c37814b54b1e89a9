"""`hide_patches`: the Hide-and-Seek grid, its statistics, exactness, seeding and execution modes."""

import math

import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf import hide_patches


def _random_images(shape, dtype=tf.float32, seed=0):
    values = np.random.default_rng(seed).integers(1, 255, size=shape)
    return tf.constant(values, dtype=dtype)


def _cells_of(mask: np.ndarray, side: int):
    """Yields every grid cell (clipped at the edges) of a 2-D mask."""
    height, width = mask.shape
    for y in range(0, height, side):
        for x in range(0, width, side):
            yield mask[y : y + side, x : x + side]


def _binomial_band(n: int, p: float, sigmas: float = 5.0) -> tuple[float, float]:
    spread = sigmas * math.sqrt(p * (1 - p) / n)
    return p - spread, p + spread


@pytest.mark.parametrize("hide_prob", [0.25, 0.5, 0.75])
def test_hidden_cell_fraction_is_binomial(hide_prob):
    images = tf.zeros([400, 64, 64, 3])
    _, mask = hide_patches(images, 16, hide_prob, seed=[3, 4], return_mask=True)
    cells = mask.numpy()[:, ::16, ::16]  # one pixel per 16 px cell
    low, high = _binomial_band(cells.size, hide_prob)
    assert low <= cells.mean() <= high


def test_hidden_pixels_equal_fill_and_visible_pixels_are_untouched():
    images = _random_images([16, 37, 53, 3])
    fill = [123.68, 116.78, 103.94]
    out, mask = hide_patches(images, 8, 0.5, fill, seed=[1, 2], return_mask=True)
    out, mask, images = out.numpy(), mask.numpy(), images.numpy()
    assert 0 < mask.mean() < 1
    np.testing.assert_array_equal(out[mask], np.broadcast_to(np.float32(fill), out[mask].shape))
    # Bit-identical: compare raw bytes, not values.
    assert out[~mask].tobytes() == images[~mask].tobytes()


def test_visible_pixels_bit_identical_for_negative_zero_and_nan():
    images = tf.constant([[[-0.0], [np.nan]], [[np.inf], [1.5]]], tf.float32)[None]
    out, mask = hide_patches(images, 1, 0.5, 7.0, seed=[5, 5], return_mask=True)
    visible = ~mask.numpy()
    assert out.numpy()[visible].tobytes() == images.numpy()[visible].tobytes()


@pytest.mark.parametrize(
    ("height", "width", "side"),
    [(64, 64, 16), (37, 53, 8), (50, 20, 7), (31, 64, 44), (10, 13, 100), (1, 1, 3)],
)
def test_mask_is_constant_within_each_clipped_cell(height, width, side):
    _, mask = hide_patches(
        tf.zeros([6, height, width, 2]), side, 0.5, seed=[9, 1], return_mask=True
    )
    mask = mask.numpy()
    assert mask.shape == (6, height, width)
    for image_mask in mask:
        cells = list(_cells_of(image_mask, side))
        assert len(cells) == math.ceil(height / side) * math.ceil(width / side)
        for cell in cells:
            assert cell.min() == cell.max()


def test_cell_edges_fall_on_multiples_of_the_side():
    side = 12
    _, mask = hide_patches(tf.zeros([200, 50, 70, 1]), side, 0.5, seed=[0, 7], return_mask=True)
    mask = mask.numpy()
    row_changes = np.nonzero((mask[:, 1:, :] != mask[:, :-1, :]).any(axis=(0, 2)))[0] + 1
    col_changes = np.nonzero((mask[:, :, 1:] != mask[:, :, :-1]).any(axis=(0, 1)))[0] + 1
    np.testing.assert_array_equal(row_changes, np.arange(side, 50, side))
    np.testing.assert_array_equal(col_changes, np.arange(side, 70, side))


def test_side_larger_than_image_is_one_cell():
    _, mask = hide_patches(tf.zeros([300, 10, 13, 3]), 64, 0.5, seed=[2, 2], return_mask=True)
    per_image = mask.numpy().reshape(300, -1)
    assert np.all(per_image.min(axis=1) == per_image.max(axis=1))
    low, high = _binomial_band(300, 0.5)
    assert low <= per_image[:, 0].mean() <= high


def test_mixed_sizes_each_drawn_with_its_share():
    sizes = (8, 16, 32, 0)
    num_images = 2000
    _, mask = hide_patches(
        tf.zeros([num_images, 32, 32, 1]), sizes, 0.5, seed=[4, 2], return_mask=True
    )
    mask = mask.numpy()

    def finest_consistent_side(image_mask):
        for side in (32, 16, 8):
            if all(cell.min() == cell.max() for cell in _cells_of(image_mask, side)):
                return side
        return None

    sides = np.array([finest_consistent_side(m) for m in mask])
    assert None not in sides
    # Structure finer than 16 px proves an image drew size 8: it shows unless each of its four 16 px blocks
    # (four 8 px cells each) happens to be uniform, which has probability (2 * 0.5**4) ** 4.
    share_8 = np.mean(sides == 8)
    expected_8 = 0.25 * (1 - (2 * 0.5**4) ** 4)
    low, high = _binomial_band(num_images, expected_8)
    assert low <= share_8 <= high
    hidden_any = mask.any(axis=(1, 2)).mean()
    # P(at least one hidden cell) per size: 16, 4 and 1 cells for sizes 8, 16, 32; never for size 0.
    expected_any = 0.25 * ((1 - 0.5**16) + (1 - 0.5**4) + (1 - 0.5**1))
    low, high = _binomial_band(num_images, expected_any)
    assert low <= hidden_any <= high


def test_no_hiding_entry_drawn_with_its_share():
    # hide_prob=1: size 0 leaves the image untouched, any other size hides it all.
    sizes = (16, 0, 0, 8)
    _, mask = hide_patches(tf.zeros([4000, 16, 16, 1]), sizes, 1.0, seed=[8, 8], return_mask=True)
    untouched = ~mask.numpy().any(axis=(1, 2))
    low, high = _binomial_band(4000, 0.5)
    assert low <= untouched.mean() <= high
    assert np.all(mask.numpy()[~untouched])


def test_masks_differ_between_images_and_between_calls():
    images = tf.zeros([8, 64, 64, 3])
    _, first = hide_patches(images, 16, 0.5, return_mask=True)
    _, second = hide_patches(images, 16, 0.5, return_mask=True)
    first, second = first.numpy(), second.numpy()
    assert len({m.tobytes() for m in first}) == 8
    assert first.tobytes() != second.tobytes()


def test_same_stateless_seed_same_output_and_different_seed_different_output():
    images = _random_images([8, 40, 40, 3])
    a = hide_patches(images, (8, 16, 0), 0.5, 5.0, seed=tf.constant([11, 3]))
    b = hide_patches(images, (8, 16, 0), 0.5, 5.0, seed=tf.constant([11, 3]))
    c = hide_patches(images, (8, 16, 0), 0.5, 5.0, seed=tf.constant([11, 4]))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())


def test_seeded_output_does_not_depend_on_other_random_calls():
    images = _random_images([4, 32, 32, 3])
    a = hide_patches(images, 8, 0.5, seed=[1, 1])
    tf.random.uniform([10])  # global RNG traffic in between
    hide_patches(images, 8, 0.5, seed=[2, 2])
    b = hide_patches(images, 8, 0.5, seed=[1, 1])
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_global_tf_seed_makes_unseeded_calls_reproducible():
    images = tf.zeros([4, 32, 32, 1])
    tf.random.set_seed(123)
    a = hide_patches(images, 8, 0.5, fill_value=1.0)
    tf.random.set_seed(123)
    b = hide_patches(images, 8, 0.5, fill_value=1.0)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("dtype", [tf.uint8, tf.float16, tf.bfloat16, tf.float32])
def test_dtypes_and_single_image(dtype):
    image = _random_images([20, 30, 4], dtype=dtype)
    out, mask = hide_patches(image, 5, 0.5, 9.0, seed=[0, 1], return_mask=True)
    assert out.dtype == dtype and out.shape == image.shape and mask.shape == (20, 30)
    hidden = tf.boolean_mask(out, mask)
    np.testing.assert_array_equal(tf.cast(hidden, tf.float32).numpy(), 9.0)
    np.testing.assert_array_equal(
        tf.cast(tf.boolean_mask(out, ~mask), tf.float32).numpy(),
        tf.cast(tf.boolean_mask(image, ~mask), tf.float32).numpy(),
    )


def test_uint8_fill_rounds_to_nearest():
    out, mask = hide_patches(
        tf.zeros([1, 8, 8, 3], tf.uint8),
        8,
        1.0,
        [123.68, 116.4, 0.5001],
        seed=[0, 0],
        return_mask=True,
    )
    assert mask.numpy().all()
    np.testing.assert_array_equal(out.numpy()[0, 0, 0], [124, 116, 1])


def test_one_channel_and_many_channels():
    for channels in (1, 64):
        out = hide_patches(tf.ones([2, 16, 16, channels]), 4, 1.0, 0.0, seed=[1, 1])
        assert out.shape == (2, 16, 16, channels) and float(tf.reduce_max(out)) == 0.0


def test_per_channel_fill():
    out = hide_patches(tf.zeros([1, 4, 4, 3]), 4, 1.0, [1.0, 2.0, 3.0], seed=[0, 1])
    np.testing.assert_array_equal(out.numpy()[0, 2, 3], [1.0, 2.0, 3.0])


def test_hide_prob_zero_and_one():
    images = _random_images([3, 16, 16, 3])
    np.testing.assert_array_equal(hide_patches(images, 4, 0.0, 7.0).numpy(), images.numpy())
    np.testing.assert_array_equal(hide_patches(images, 4, 1.0, 7.0).numpy(), 7.0)


def test_patch_size_zero_hides_nothing():
    images = _random_images([3, 16, 16, 3])
    np.testing.assert_array_equal(hide_patches(images, 0, 1.0, 7.0).numpy(), images.numpy())


def test_empty_batch_returns_empty_batch():
    out, mask = hide_patches(tf.zeros([0, 16, 16, 3]), (4, 8), 0.5, return_mask=True)
    assert out.shape == (0, 16, 16, 3) and mask.shape == (0, 16, 16)


def test_tf_function_with_unknown_shapes_and_xla():
    images = _random_images([4, 33, 47, 3])
    expected = hide_patches(images, (8, 16, 0), 0.5, 3.0, seed=[6, 6])

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def dynamic(x):
        return hide_patches(x, (8, 16, 0), 0.5, 3.0, seed=[6, 6])

    @tf.function(jit_compile=True)
    def compiled(x):
        return hide_patches(x, (8, 16, 0), 0.5, 3.0, seed=[6, 6])

    np.testing.assert_array_equal(dynamic(images).numpy(), expected.numpy())
    np.testing.assert_array_equal(compiled(images).numpy(), expected.numpy())


def test_tf_data_per_image_and_after_batch():
    images = _random_images([12, 24, 24, 3]).numpy()
    ds = tf.data.Dataset.from_tensor_slices(images)
    per_image = ds.map(lambda x: hide_patches(x, 8, 1.0, 0.0)).batch(12)
    batched = ds.batch(4).map(lambda x: hide_patches(x, (8, 0), 0.5, 0.0, seed=[1, 2]))
    assert float(tf.reduce_max(next(iter(per_image)))) == 0.0
    out = np.concatenate([b.numpy() for b in batched])
    assert out.shape == images.shape
    assert 0 < np.mean(out == 0.0) < 1


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"hide_prob": 1.3}, ValueError, "hide_prob=1.3"),
        ({"hide_prob": -0.1}, ValueError, "hide_prob=-0.1"),
        ({"hide_prob": "0.5"}, TypeError, "hide_prob='0.5'"),
        ({"patch_sizes": -4}, ValueError, "patch_sizes=-4"),
        ({"patch_sizes": 16.5}, TypeError, "patch_sizes=16.5"),
        ({"patch_sizes": (16, 8.0)}, TypeError, "patch_sizes=(16, 8.0)"),
        ({"patch_sizes": ()}, ValueError, "patch_sizes=()"),
        ({"patch_sizes": "16"}, TypeError, "patch_sizes='16'"),
        ({"fill_value": [1.0, 2.0]}, ValueError, "fill_value=[1.0, 2.0]"),
        ({"fill_value": "mean"}, TypeError, "fill_value='mean'"),
    ],
)
def test_bad_arguments_name_the_argument_and_value(kwargs, error, message):
    with pytest.raises(error, match="`" + message.split("=")[0] + "`") as info:
        hide_patches(tf.zeros([2, 8, 8, 3]), **kwargs)
    assert message in str(info.value)


def test_bad_images_rank_and_dtype():
    with pytest.raises(ValueError, match=r"images.shape=\(8, 8\)"):
        hide_patches(tf.zeros([8, 8]))
    with pytest.raises(ValueError, match="images.shape"):
        hide_patches(tf.zeros([1, 2, 8, 8, 3]))
    with pytest.raises(TypeError, match="images.dtype=string"):
        hide_patches(tf.constant([[["a"]]]))
    with pytest.raises(TypeError, match="images.dtype=bool"):
        hide_patches(tf.zeros([2, 2, 1], tf.bool))


def test_uint8_fill_out_of_range():
    with pytest.raises(ValueError, match="fill_value"):
        hide_patches(tf.zeros([1, 8, 8, 3], tf.uint8), 4, 0.5, 300.0)


def test_readme_tf_data_pattern_new_masks_every_epoch_and_reproducible():
    images = np.ones((8, 16, 16, 3), np.float32)
    ds = tf.data.Dataset.from_tensor_slices((images, np.arange(8)))

    def pipeline():
        seeds = tf.data.Dataset.random(seed=0, rerandomize_each_iteration=True).batch(2)
        return tf.data.Dataset.zip(ds.batch(4), seeds).map(
            lambda batch, seed: (hide_patches(batch[0], 4, 0.5, 0.0, seed=seed), batch[1])
        )

    def epoch(data):
        return np.concatenate([x.numpy() for x, _ in data])

    first_run = pipeline()
    epoch1, epoch2 = epoch(first_run), epoch(first_run)
    assert epoch1.tobytes() != epoch2.tobytes()  # a new grid every epoch
    second_run = pipeline()
    np.testing.assert_array_equal(epoch(second_run), epoch1)  # and the same run again
    np.testing.assert_array_equal(epoch(second_run), epoch2)
