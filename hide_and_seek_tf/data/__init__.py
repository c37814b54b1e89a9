"""Data sources (synthetic, Tiny ImageNet, TFDS, CUB, ImageNet, wsolevaluation metadata, CSV) and
the tf.data input pipeline.

Every source yields the same unbatched element::

    {"image": uint8 (H, W, 3), "label": int32 (), "boxes": float32 (n, 4), "id": string ()}

with boxes x0, y0, x1, y1 in inclusive pixel coordinates of `image`; n >= 1 except for the
training images of sources where not all images are annotated (n = 0; evaluation refuses them).
A spec is parsed once into a `DataSpec` (`hide_and_seek_tf.data.sources`: the grammar, the
registry of sources and `load_dataset`). The file sources read every selected image's header before
they return (`hide_and_seek_tf.data.checks`: unreadable images, the pixel limit, boxes past the
image clipped and counted); `hide-and-seek-data check SPEC` reports on a whole source
(`hide_and_seek_tf.data.check_report`).
"""

from hide_and_seek_tf._lazy import lazy_attributes
from hide_and_seek_tf.data.sources import DataSpec, load_dataset, register_source

# TensorFlow is imported on first use of these, so that parsing a spec (`DataSpec`, used by the
# training config and the command lines before TensorFlow starts) loads without it; `load_dataset`
# imports it when it loads a split.
_PUBLIC = {
    "DatasetInfo": "hide_and_seek_tf.data.elements",
    "SYNTHETIC_CLASS_NAMES": "hide_and_seek_tf.data.synthetic",
    "make_pipeline": "hide_and_seek_tf.data.pipeline",
    "make_synthetic_dataset": "hide_and_seek_tf.data.synthetic",
}

__all__ = ["DataSpec", "load_dataset", "register_source", *_PUBLIC]

__getattr__, __dir__ = lazy_attributes(__name__, _PUBLIC)
