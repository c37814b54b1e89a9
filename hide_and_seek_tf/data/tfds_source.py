"""TFDS datasets that carry boxes -> the project's element dict.

One adapter, `from_tfds`, handles the two TFDS layouts of boxes:

* "objects"/"bbox": a sequence of boxes per image (detection style; "tiny_imagenet_hs", voc-like);
* top-level "bbox": one box (shape (4,), e.g. "caltech_birds2011") or a sequence of them.

TFDS boxes are normalized (ymin, xmin, ymax, xmax); they become inclusive pixel boxes with
x0 = round(xmin * W), x1 = round(xmax * W) - 1 (see `elements.normalized_to_inclusive`). The label
must be a per-image "label". Datasets without boxes (TFDS's "imagenet2012" has none) are rejected
with a clear error: localization needs them.

The data checks of the file sources (`data.checks`) have little to do here: TFDS decoded and
re-encoded every image when it prepared the dataset, and its BBoxFeature keeps boxes inside
[0, 1], so no image is unreadable and no box is past its image (none is clipped). `load_tfds`
does check, before returning, that every example has a box (or skips those without one).

TensorFlow Datasets is imported with this module, which only a "tfds:" spec loads (the source
registry names its loader, `hide_and_seek_tf.data.sources`): other specs never import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf
import tensorflow_datasets as tfds

# Registers "tiny_imagenet_hs" with TFDS.
from hide_and_seek_tf.data import tfds_tiny_imagenet_builder  # noqa: F401
from hide_and_seek_tf.data.elements import (
    DatasetInfo,
    cap_per_class,
    check_count,
    normalized_to_inclusive,
    parse_image_size,
    resize_element,
    select_classes,
)
from hide_and_seek_tf.data.sources import SELECT_OPTIONS, load_options

_ID_KEYS = ("id", "file_name", "image/filename", "filename", "tfds_id")
MISSING_BOXES = ("error", "skip")


def _bbox_path(spec: dict, name: str) -> tuple[str, ...]:
    if isinstance(spec.get("objects"), dict) and "bbox" in spec["objects"]:
        return ("objects", "bbox")
    if "bbox" in spec:
        return ("bbox",)
    raise ValueError(
        f"{name} has no bounding boxes ('objects'/'bbox' or 'bbox'); the data layer needs a "
        f"dataset with boxes for localization. Received features: {sorted(spec)}"
    )


def _get(example: dict, path: Sequence[str]) -> Any:
    for key in path:
        example = example[key]
    return example


def _decode_image(image: tf.Tensor) -> tf.Tensor:
    if image.dtype == tf.string:  # loaded with tfds.decode.SkipDecoding()
        image = tf.io.decode_image(image, channels=3, expand_animations=False)
    if image.dtype != tf.uint8:
        raise TypeError(f"TFDS images must be uint8. Received: image dtype {image.dtype.name}")
    if image.shape[-1] == 1:
        image = tf.image.grayscale_to_rgb(image)
    return image


def from_tfds(
    ds: tf.data.Dataset, info: Any = None, *, missing_boxes: str = "error"
) -> tf.data.Dataset:
    """Maps a TFDS dataset of examples with boxes to element dicts.

    Args:
        ds: an unbatched TFDS dataset (`tfds.load(..., split=...)` or `builder.as_dataset`) whose
            examples hold "image" (uint8 (H, W, C), or encoded bytes), "label" (int) and boxes as
            "objects"/"bbox" or "bbox" (normalized ymin, xmin, ymax, xmax).
        info: the `tfds.core.DatasetInfo` (or None); its name goes into error messages.
        missing_boxes: what to do with an example without any box: "error" (raise naming the
            example) or "skip" (drop it; e.g. ImageNet-style data where only some images have
            boxes).

    Returns:
        A dataset of {"image": uint8 (H, W, 3), "label": int32 (), "boxes": float32 (n, 4)
        inclusive x0, y0, x1, y1, "id": string ()}. The id is the first of "id", "file_name",
        "image/filename", "filename", "tfds_id" present, else the example's position.

    Raises:
        ValueError: no boxes or no "image"/"label" in the examples, a bad `missing_boxes`.
        tf.errors.InvalidArgumentError: while iterating, an example without boxes when
            `missing_boxes="error"` (the message names the example).
    """
    name = f"tfds:{info.name}" if getattr(info, "name", None) else "The TFDS dataset"
    if missing_boxes not in MISSING_BOXES:
        raise ValueError(
            f"`missing_boxes` must be one of {list(MISSING_BOXES)}. "
            f"Received: missing_boxes={missing_boxes!r}"
        )
    if not isinstance(ds, tf.data.Dataset):
        raise TypeError(f"`ds` must be a tf.data.Dataset. Received: ds={ds!r}")
    spec = ds.element_spec
    if not isinstance(spec, dict) or "image" not in spec or "label" not in spec:
        raise ValueError(
            f"{name} must yield dicts with 'image' and 'label'. Received: element_spec={spec!r}"
        )
    bbox_path = _bbox_path(spec, name)
    id_key = next((k for k in _ID_KEYS if k in spec), None)
    ds = ds.enumerate()

    def convert(position, example):
        image = _decode_image(example["image"])
        bbox = tf.reshape(tf.cast(_get(example, bbox_path), tf.float32), [-1, 4])
        shape = tf.shape(image)
        boxes = normalized_to_inclusive(bbox, shape[0], shape[1])
        if id_key is None:
            image_id = tf.strings.as_string(position)
        else:
            image_id = (
                tf.strings.as_string(example[id_key])
                if example[id_key].dtype != tf.string
                else example[id_key]
            )
        return {
            "image": image,
            "label": tf.cast(example["label"], tf.int32),
            "boxes": boxes,
            "id": image_id,
        }

    ds = ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
    if missing_boxes == "skip":
        return ds.filter(lambda e: tf.shape(e["boxes"])[0] > 0)

    def check(element):
        has_boxes = tf.shape(element["boxes"])[0] > 0
        assertion = tf.debugging.Assert(
            has_boxes, [f"{name}: example without boxes:", element["id"]]
        )
        with tf.control_dependencies([assertion]):
            return {**element, "boxes": tf.identity(element["boxes"])}

    return ds.map(check, num_parallel_calls=tf.data.AUTOTUNE)


def _check_every_example_has_a_box(ds: tf.data.Dataset, name: str, split: str) -> None:
    """Raises naming the first example without a box, before any pipeline runs. Reads the split's
    boxes and ids only (images are not decoded). TFDS's own BBoxFeature keeps boxes inside
    [0, 1], so no box here is past its image and none is clipped."""
    spec = ds.element_spec
    bbox_path = _bbox_path(spec, name)
    id_key = next((k for k in _ID_KEYS if k in spec), None)

    def count(example):
        boxes = tf.reshape(_get(example, bbox_path), [-1, 4])
        image_id = example[id_key] if id_key else tf.constant("")
        if image_id.dtype != tf.string:
            image_id = tf.strings.as_string(image_id)
        return tf.shape(boxes)[0], image_id

    for position, (n, image_id) in enumerate(ds.map(count).as_numpy_iterator()):
        if n == 0:
            shown = image_id.decode() or f"at position {position}"
            raise ValueError(
                f"{name} split {split!r}: example {shown} has no box. Localization needs one per "
                "image; load with `missing_boxes='skip'` to leave such examples out."
            )


def _tfds_split(builder: Any, split: str, name: str) -> str:
    available = list(builder.info.splits.keys())
    aliases = {"val": ("val", "validation")}.get(split, (split,))
    for candidate in aliases:
        if candidate in available:
            return candidate
    raise ValueError(
        f"`split` {split!r} is not a split of tfds:{name}; available: {sorted(available)}. "
        f"Received: split={split!r}"
    )


def load_tfds(
    name: str,
    split: str,
    *,
    classes: int | Sequence[str] | None = None,
    max_per_class: int | None = None,
    num_images: int | None = None,
    image_size: int | tuple[int, int] | None = None,
    data_dir: str | None = None,
    missing_boxes: str = "error",
) -> tuple[tf.data.Dataset, DatasetInfo]:
    """Loads a prepared TFDS dataset with boxes (offline) as element dicts.

    Args:
        name: TFDS name, e.g. "tiny_imagenet_hs" (this package's builder), "caltech_birds2011".
        split: "train", "val" (TFDS "validation" when the dataset has no "val"), "test", ...
        classes: None, K (labels 0 .. K-1) or a list of class names (TFDS label names); labels are
            re-indexed 0 .. K-1 in that order.
        max_per_class: keep the first N examples of each class in the split's order.
        num_images: keep the first N examples (after the filters above).
        image_size: None keeps the images' sizes; else resize (boxes scaled).
        data_dir: TFDS data directory (None: TFDS's default, ~/tensorflow_datasets).
        missing_boxes: "error" or "skip", see `from_tfds`.

    Returns:
        (dataset, info) with element dicts; `info.name` is "tfds:<name>".

    Raises:
        ValueError: unknown dataset, dataset not prepared in `data_dir` (the message says how to
            prepare it), no boxes in its features, unknown split or class, an example without a
            box (with `missing_boxes="error"`; named, read before the dataset is returned).
    """
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as err:
        raise ValueError(f"Unknown TFDS dataset {name!r} (spec 'tfds:{name}'): {err}") from None
    spec_name = f"tfds:{name}"
    features = builder.info.features
    _bbox_path(
        features.get_tensor_info(), spec_name
    )  # before asking anyone to prepare a dataset without boxes
    if not builder.is_prepared():
        if getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None):
            how = (
                f"Prepare it once, offline: put the files in a folder DIR "
                f"({' '.join(builder.MANUAL_DOWNLOAD_INSTRUCTIONS.split())}) and run "
                f"`tfds.builder({name!r}, data_dir=...).download_and_prepare("
                "download_config=tfds.download.DownloadConfig(manual_dir=DIR))`."
            )
        else:
            how = f"Prepare it once with `tfds build {name} --data_dir=...` (downloads it)."
        raise ValueError(f"TFDS dataset {name!r} is not prepared in {builder.data_dir}. {how}")
    tfds_split = _tfds_split(builder, split, name)
    max_per_class = check_count(max_per_class, "max_per_class")
    num_images = check_count(num_images, "num_images")
    # Decode images only after filtering, and never the ones the element does not use.
    decoders = {
        key: tfds.decode.SkipDecoding()
        for key, feature in features.items()
        if isinstance(feature, tfds.features.Image)
    }
    ds = builder.as_dataset(
        split=tfds_split,
        shuffle_files=False,
        decoders=decoders,
        read_config=tfds.ReadConfig(add_tfds_id=True),
    )
    label_names = tuple(features["label"].names)
    class_names = (
        tuple(builder.info.metadata.get("class_names", label_names))
        if builder.info.metadata
        else label_names
    )
    num_examples = builder.info.splits[tfds_split].num_examples
    # Filter on labels before images are decoded.
    ds, kept = select_classes(ds, label_names, classes)
    if max_per_class is not None:
        ds = cap_per_class(ds, len(kept), max_per_class)
    if num_images is not None:
        ds = ds.take(num_images)
    if classes is not None or max_per_class is not None:
        num_examples = None
    elif num_images is not None:
        num_examples = min(num_images, num_examples)
    if missing_boxes == "error":
        _check_every_example_has_a_box(ds, spec_name, split)
    ds = from_tfds(ds, builder.info, missing_boxes=missing_boxes)
    image_shape = features["image"].shape
    size = None
    if image_size is not None:
        size = parse_image_size(image_size)
        ds = ds.map(lambda e: resize_element(e, size), num_parallel_calls=tf.data.AUTOTUNE)
    elif None not in image_shape[:2]:
        size = tuple(int(s) for s in image_shape[:2])
    wnids = tuple(label_names[i] for i in kept)
    names = tuple(class_names[i] for i in kept)
    info = DatasetInfo(
        name=spec_name,
        num_classes=len(kept),
        class_names=names,
        image_size=size,
        num_examples=num_examples if missing_boxes == "error" else None,
        wnids=wnids if wnids != names else None,
    )
    return ds, info


def load_tfds_spec(spec: Any, split: str, **options: Any) -> tuple[tf.data.Dataset, DatasetInfo]:
    """`load_tfds` for a `DataSpec` "tfds:NAME" (the source of `load_dataset`); options as
    `load_dataset`'s, those that do not apply ignored."""
    return load_tfds(
        spec.arg,
        split,
        **load_options(options, *SELECT_OPTIONS, "image_size"),
        data_dir=spec.data_dir,
    )


def tfds_image_ids(spec: Any, split: str, **options: Any) -> list[str]:
    """The ids of a split of "tfds:NAME" (its images are not decoded)."""
    ds, _ = load_tfds_spec(spec, split, **load_options(options, *SELECT_OPTIONS))
    return [e.decode() for e in ds.map(lambda e: e["id"]).as_numpy_iterator()]
