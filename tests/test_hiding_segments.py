"""`hide_segments`: the paper's video hiding (section 3.2): segments, statistics, exactness, seeding, modes."""

import math

import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf import hide_segments
from hide_and_seek_tf.hiding import hidden_segment_mask


def _random_sequences(shape, dtype=tf.float32, seed=0):
    return tf.constant(np.random.default_rng(seed).normal(size=shape) * 50, dtype=dtype)


def _binomial_band(n: int, p: float, sigmas: float = 5.0) -> tuple[float, float]:
    spread = sigmas * math.sqrt(p * (1 - p) / n)
    return p - spread, p + spread


@pytest.mark.parametrize("hide_prob", [0.25, 0.5, 0.75])
def test_hidden_segment_fraction_is_binomial(hide_prob):
    _, mask = hide_segments(tf.zeros([500, 200, 2]), 10, hide_prob, seed=[1, 2], return_mask=True)
    segments = mask.numpy()[:, ::10]  # one step per segment
    low, high = _binomial_band(segments.size, hide_prob)
    assert low <= segments.mean() <= high


@pytest.mark.parametrize(("length", "segment"), [(200, 10), (2000, 100), (53, 10), (7, 3), (5, 9)])
def test_mask_is_constant_within_each_clipped_segment_and_segments_start_at_zero(length, segment):
    _, mask = hide_segments(tf.zeros([300, length, 1]), segment, 0.5, seed=[4, 4], return_mask=True)
    mask = mask.numpy()
    assert mask.shape == (300, length)
    pieces = [mask[:, s : s + segment] for s in range(0, length, segment)]
    assert len(pieces) == math.ceil(length / segment)
    for piece in pieces:
        assert np.all(piece.min(axis=1) == piece.max(axis=1))
    changes = np.nonzero((mask[:, 1:] != mask[:, :-1]).any(axis=0))[0] + 1
    np.testing.assert_array_equal(changes, np.arange(segment, length, segment))


def test_segments_are_independent_per_sequence():
    _, mask = hide_segments(tf.zeros([400, 40, 1]), 10, 0.5, seed=[0, 9], return_mask=True)
    segments = mask.numpy()[:, ::10].astype(float)
    # Neighbouring segments of a sequence, and the same segment of two sequences, are uncorrelated.
    within = np.corrcoef(segments[:, 0], segments[:, 1])[0, 1]
    across = np.corrcoef(segments[::2, 0], segments[1::2, 0])[0, 1]
    assert abs(within) < 5 / math.sqrt(400) and abs(across) < 5 / math.sqrt(200)


def test_hidden_steps_equal_the_per_feature_fill_and_visible_steps_are_bit_identical():
    sequences = _random_sequences([16, 57, 4])
    fill = [1.5, -2.0, 3.25, 0.0]
    out, mask = hide_segments(sequences, 5, 0.5, fill, seed=[2, 3], return_mask=True)
    out, mask, sequences = out.numpy(), mask.numpy(), sequences.numpy()
    assert 0 < mask.mean() < 1
    np.testing.assert_array_equal(out[mask], np.broadcast_to(np.float32(fill), out[mask].shape))
    assert out[~mask].tobytes() == sequences[~mask].tobytes()


def test_visible_negative_zero_and_nan_stay_bit_identical():
    sequences = tf.constant([[[-0.0, np.nan]], [[np.inf, 1.0]]], tf.float32)[:, 0][None]
    out, mask = hide_segments(sequences, 1, 0.5, 7.0, seed=[5, 5], return_mask=True)
    visible = ~mask.numpy()
    assert out.numpy()[visible].tobytes() == sequences.numpy()[visible].tobytes()


def test_same_seed_same_output_other_seed_other_output_and_global_seed_reproducible():
    sequences = _random_sequences([8, 100, 3])
    a = hide_segments(sequences, 10, 0.5, seed=tf.constant([11, 3]))
    tf.random.uniform([5])  # unrelated RNG traffic
    b = hide_segments(sequences, 10, 0.5, seed=tf.constant([11, 3]))
    c = hide_segments(sequences, 10, 0.5, seed=tf.constant([11, 4]))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())
    tf.random.set_seed(7)
    d = hide_segments(sequences, 10, 0.5)
    tf.random.set_seed(7)
    np.testing.assert_array_equal(d.numpy(), hide_segments(sequences, 10, 0.5).numpy())


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16, tf.float32, tf.int32])
def test_dtypes_and_one_sequence(dtype):
    sequence = _random_sequences([30, 6], dtype=dtype)
    out, mask = hide_segments(sequence, 4, 0.5, 9.0, seed=[0, 1], return_mask=True)
    assert out.dtype == dtype and out.shape == (30, 6) and mask.shape == (30,)
    np.testing.assert_array_equal(tf.cast(tf.boolean_mask(out, mask), tf.float32).numpy(), 9.0)
    np.testing.assert_array_equal(
        tf.cast(tf.boolean_mask(out, ~mask), tf.float32).numpy(),
        tf.cast(tf.boolean_mask(sequence, ~mask), tf.float32).numpy(),
    )


def test_no_hiding_cases_and_whole_sequence_as_one_segment():
    sequences = _random_sequences([3, 20, 2])
    for length, prob in ((0, 1.0), (5, 0.0)):
        out = hide_segments(sequences, length, prob, 7.0)
        np.testing.assert_array_equal(out.numpy(), sequences.numpy())
    np.testing.assert_array_equal(hide_segments(sequences, 5, 1.0, 7.0).numpy(), 7.0)
    _, mask = hide_segments(tf.zeros([200, 20, 1]), 100, 0.5, seed=[1, 1], return_mask=True)
    per_sequence = mask.numpy()
    assert np.all(per_sequence.min(axis=1) == per_sequence.max(axis=1))


def test_empty_batch_and_empty_sequence():
    out, mask = hide_segments(tf.zeros([0, 10, 3]), 4, 0.5, return_mask=True)
    assert out.shape == (0, 10, 3) and mask.shape == (0, 10)
    out, mask = hide_segments(tf.zeros([2, 0, 3]), 4, 0.5, return_mask=True)
    assert out.shape == (2, 0, 3) and mask.shape == (2, 0)


def test_tf_function_with_unknown_shapes_and_xla_give_the_eager_result():
    sequences = _random_sequences([4, 95, 8])
    expected = hide_segments(sequences, 10, 0.5, 3.0, seed=[6, 6])

    @tf.function(input_signature=[tf.TensorSpec([None, None, 8], tf.float32)])
    def dynamic(x):
        return hide_segments(x, 10, 0.5, 3.0, seed=[6, 6])

    @tf.function(jit_compile=True)
    def compiled(x):
        return hide_segments(x, 10, 0.5, 3.0, seed=[6, 6])

    np.testing.assert_array_equal(dynamic(sequences).numpy(), expected.numpy())
    np.testing.assert_array_equal(compiled(sequences).numpy(), expected.numpy())


def test_tf_data_with_per_batch_seeds_new_masks_every_epoch_and_reproducible():
    features = np.ones((8, 40, 2), np.float32)

    def pipeline():
        seeds = tf.data.Dataset.random(seed=0, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.from_tensor_slices(features).batch(4)
        return tf.data.Dataset.zip(ds, seeds).map(
            lambda x, s: hide_segments(x, 5, 0.5, 0.0, seed=s)
        )

    def epoch(data):
        return np.concatenate([x.numpy() for x in data])

    run = pipeline()
    first, second = epoch(run), epoch(run)
    assert first.tobytes() != second.tobytes()
    np.testing.assert_array_equal(epoch(pipeline()), first)


def test_mask_function_matches_the_returned_mask():
    _, mask = hide_segments(tf.zeros([5, 33, 1]), 4, 0.5, seed=[8, 1], return_mask=True)
    np.testing.assert_array_equal(hidden_segment_mask(5, 33, 4, 0.5, seed=[8, 1]).numpy(), mask)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"hide_prob": 1.3}, ValueError, "hide_prob=1.3"),
        ({"hide_prob": "0.5"}, TypeError, "hide_prob='0.5'"),
        ({"segment_length": -1}, ValueError, "segment_length=-1"),
        ({"segment_length": 2.5}, TypeError, "segment_length=2.5"),
        ({"segment_length": True}, TypeError, "segment_length=True"),
        ({"fill_value": [1.0, 2.0]}, ValueError, "D=3"),
        ({"fill_value": "mean"}, TypeError, "fill_value='mean'"),
    ],
)
def test_bad_arguments_name_the_argument_and_value(kwargs, error, message):
    arguments = {"segment_length": 4, **kwargs}
    name = message.split("=")[0] if "=" in message and not message.startswith("D") else "fill_value"
    with pytest.raises(error, match="`" + name + "`") as info:
        hide_segments(tf.zeros([2, 8, 3]), **arguments)
    assert message in str(info.value)


def test_bad_sequences_rank_and_dtype():
    with pytest.raises(ValueError, match=r"sequences.shape=\(8,\)"):
        hide_segments(tf.zeros([8]), 2)
    with pytest.raises(ValueError, match="sequences.shape"):
        hide_segments(tf.zeros([1, 2, 8, 3]), 2)
    with pytest.raises(TypeError, match="sequences.dtype=bool"):
        hide_segments(tf.zeros([2, 2], tf.bool), 2)
