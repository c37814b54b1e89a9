"""`HideAndSeek` and `HideSegments` on Keras 3's augmentation dict: the images (or sequences) hidden
exactly as the tensor alone, everything else passed through, in `keras.layers.Pipeline` after a
box-aware layer, eagerly and in `tf.data`, under every backend (tests/test_backends.py runs the
`all_backends` tests under JAX and PyTorch too)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.testing import TestCase

from hide_and_seek_tf import HideAndSeek, HideSegments, hide_patches, hide_segments

BACKEND = keras.config.backend()
all_backends = pytest.mark.all_backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _augmentation_dict(batch=4, size=16):
    rng = np.random.default_rng(0)
    boxes = np.tile(np.array([[1, 2, 5, 9], [0, 0, 3, 3]], "float32"), (batch, 1, 1))
    return {
        "images": rng.integers(1, 255, (batch, size, size, 3)).astype("float32"),
        "labels": np.arange(batch, dtype="int64"),
        "bounding_boxes": {"boxes": boxes, "labels": np.tile(np.int32([1, 2]), (batch, 1))},
        "segmentation_masks": rng.integers(0, 3, (batch, size, size, 1)).astype("int32"),
    }


def _hidden_pixels(out, fill):
    return np.all(_np(out) == fill, axis=-1)


@all_backends
def test_dict_images_are_hidden_as_the_tensor_alone_and_the_rest_is_the_same_objects():
    data = _augmentation_dict()
    images = data["images"]
    out = HideAndSeek(4, 0.5, fill_value=0.5, seed=3)(data, training=True)
    twin = HideAndSeek(4, 0.5, fill_value=0.5, seed=3)
    np.testing.assert_array_equal(_np(out["images"]), _np(twin(images, training=True)))
    assert 0.2 < _hidden_pixels(out["images"], 0.5).mean() < 0.8
    assert set(out) == set(data)
    for key in ("labels", "bounding_boxes", "segmentation_masks"):
        assert out[key] is data[key]
    assert data["images"] is images  # the caller's dict is left as it was
    same = HideAndSeek(4, 1.0, fill_value=0.5)(data, training=False)
    assert _np(same["images"]).tobytes() == images.tobytes()


@all_backends
def test_dict_in_tf_data_follows_the_seed_contract_of_the_tensor_form():
    data = _augmentation_dict(batch=6)
    layer = HideAndSeek((4, 8), 0.5, fill_value=[1.5, 2.5, 3.5], seed=5)
    ds = tf.data.Dataset.from_tensor_slices(data).batch(3).map(lambda d: layer(d, training=True))
    for k, batch in enumerate(ds):  # batch k: hide_patches with the stateless seed [5, k]
        rows = slice(3 * k, 3 * k + 3)
        expected = hide_patches(data["images"][rows], (4, 8), 0.5, [1.5, 2.5, 3.5], seed=[5, k])
        np.testing.assert_array_equal(batch["images"].numpy(), expected.numpy())
        np.testing.assert_array_equal(batch["labels"].numpy(), data["labels"][rows])
        assert batch["segmentation_masks"].dtype == tf.int32  # passed through, not cast
        np.testing.assert_array_equal(
            batch["segmentation_masks"].numpy(), data["segmentation_masks"][rows]
        )
        for key in ("boxes", "labels"):
            np.testing.assert_array_equal(
                batch["bounding_boxes"][key].numpy(), data["bounding_boxes"][key][rows]
            )


def _flip_then_hide(seed):
    flip = keras.layers.RandomFlip("horizontal", bounding_box_format="xyxy", seed=seed)
    return flip, HideAndSeek(4, 0.5, fill_value=0.5, seed=7)


@all_backends
@pytest.mark.parametrize("where", ["eager", "tf.data"])
def test_in_a_pipeline_after_a_box_aware_flip_boxes_follow_the_flip_and_images_are_hidden(where):
    # Images and boxes only: Keras's RandomFlip itself fails in tf.data under JAX and PyTorch when
    # the dict also has labels or masks (Keras 3.15); the layer alone takes them (test above).
    def data():  # a new one for each call: Keras's layers write their results into the dict
        full = _augmentation_dict()
        return {"images": full["images"], "bounding_boxes": full["bounding_boxes"]}

    pipeline = keras.layers.Pipeline(list(_flip_then_hide(seed=1)))
    flip_only = keras.layers.Pipeline([_flip_then_hide(seed=1)[0]])
    if where == "eager":
        out, flipped = pipeline(data(), training=True), flip_only(data(), training=True)
    else:
        out, flipped = (
            next(
                iter(tf.data.Dataset.from_tensors(data()).map(p.__call__))
            )  # Pipeline: training=True by default
            for p in (pipeline, flip_only)
        )
    moved = _np(flipped["bounding_boxes"]["boxes"])
    assert not np.array_equal(moved, data()["bounding_boxes"]["boxes"])  # the seed flips some
    np.testing.assert_array_equal(_np(out["bounding_boxes"]["boxes"]), moved)
    hidden = _hidden_pixels(out["images"], 0.5)
    assert 0.2 < hidden.mean() < 0.8
    np.testing.assert_array_equal(_np(out["images"])[~hidden], _np(flipped["images"])[~hidden])


@pytest.mark.skipif(BACKEND != "tensorflow", reason="Keras's RandomFlip: see the test above")
def test_in_a_pipeline_in_tf_data_with_every_entry_of_the_dict():
    data = _augmentation_dict()
    flip, hide = _flip_then_hide(seed=2)
    pipeline = keras.layers.Pipeline([flip, hide])
    ds = tf.data.Dataset.from_tensor_slices(data).batch(4)
    out = next(iter(ds.map(lambda d: pipeline(d, training=True))))
    assert set(out) == set(data) and set(out["bounding_boxes"]) == {"boxes", "labels"}
    assert 0.2 < _hidden_pixels(out["images"], 0.5).mean() < 0.8


@all_backends
def test_hide_segments_takes_sequences_under_images_in_tf_data_with_the_same_seeds():
    rng = np.random.default_rng(1)
    data = {
        "images": rng.normal(size=(6, 40, 3)).astype("float32"),
        "labels": np.eye(6, 4, dtype="float32"),
        "segmentation_masks": rng.integers(0, 2, (6, 40)).astype("int32"),  # per-step labels
    }
    layer = HideSegments(5, 0.5, fill_value=-9.0, seed=4)
    ds = tf.data.Dataset.from_tensor_slices(data).batch(3).map(lambda d: layer(d, training=True))
    for k, batch in enumerate(ds):  # batch k: hide_segments with the stateless seed [4, k]
        rows = slice(3 * k, 3 * k + 3)
        expected = hide_segments(data["images"][rows], 5, 0.5, -9.0, seed=[4, k])
        np.testing.assert_array_equal(batch["images"].numpy(), expected.numpy())
        assert 0.1 < (batch["images"].numpy() == -9.0).mean() < 0.9
        for key in ("labels", "segmentation_masks"):
            np.testing.assert_array_equal(batch[key].numpy(), data[key][rows])
    plain = tf.data.Dataset.from_tensor_slices(data).batch(6).map(lambda d: layer(d))
    np.testing.assert_array_equal(next(iter(plain))["images"].numpy(), data["images"])


def test_hide_segments_eager_dict_is_the_tensor_form_and_keeps_the_rest():
    data = {"images": np.ones((2, 30, 4), "float32"), "labels": np.float32([1, 0])}
    out = HideSegments(3, 0.5, seed=8)(data, training=True)
    np.testing.assert_array_equal(
        _np(out["images"]), _np(HideSegments(3, 0.5, seed=8)(data["images"], training=True))
    )
    assert out["labels"] is data["labels"]


@all_backends
@pytest.mark.parametrize("layer_cls", [HideAndSeek, HideSegments])
def test_a_dict_without_images_is_refused_naming_its_keys(layer_cls):
    with pytest.raises(ValueError, match=r"\"images\" entry. Received: a dict with keys \['x'\]"):
        layer_cls()({"x": np.ones((1, 8, 8, 3), "float32")}, training=True)


@all_backends
def test_symbolic_dict_call_and_a_pipeline_saved_and_reloaded_give_the_same_structure_and_masks():
    # What Keras's `run_layer_test` checks, for the dict form (it would pass a dict as keyword
    # arguments): symbolic output structure and shapes, and a serialization round trip.
    data = _augmentation_dict(batch=2)
    symbolic = {
        "images": keras.KerasTensor((None, 16, 16, 3)),
        "labels": keras.KerasTensor((None,), dtype="int64"),
    }
    out = HideAndSeek(4, fill_value=0.5)(symbolic, training=True)
    assert set(out) == set(symbolic) and out["labels"] is symbolic["labels"]
    assert isinstance(out["images"], keras.KerasTensor) and out["images"].shape == (None, 16, 16, 3)
    pipeline = keras.layers.Pipeline([HideAndSeek(4, 0.5, fill_value=0.5, seed=9)])
    config = keras.saving.serialize_keras_object(pipeline)
    clone = keras.saving.deserialize_keras_object(config, safe_mode=True)
    assert keras.saving.serialize_keras_object(clone) == config
    np.testing.assert_array_equal(
        _np(clone(data, training=True)["images"]), _np(pipeline(data, training=True)["images"])
    )


class KerasLayerChecks(TestCase):
    """Keras's own `run_layer_test` on the tensor form (it cannot take the dict form: it passes a
    dict as keyword arguments; the test above makes its checks for the dict)."""

    @all_backends
    def test_hide_and_seek_passes_run_layer_test(self):
        self.run_layer_test(
            HideAndSeek,
            init_kwargs={"patch_sizes": 4, "hide_prob": 0.5, "fill_value": 0.5, "seed": 1},
            input_shape=(2, 16, 16, 3),
            call_kwargs={"training": True},
            expected_output_shape=(2, 16, 16, 3),
            expected_num_seed_generators=1,
            expected_num_non_trainable_variables=1,
            run_training_check=False,
        )
