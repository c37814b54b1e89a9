"""Data sources (synthetic, Tiny ImageNet, TFDS, CUB, ImageNet, wsolevaluation metadata, CSV) and
the tf.data input pipeline.

Every source yields the same unbatched element::

    {"image": uint8 (H, W, 3), "label": int32 (), "boxes": float32 (n, 4), "id": string ()}

with boxes x0, y0, x1, y1 in inclusive pixel coordinates of `image`; n >= 1 except for the
training images of sources where not all images are annotated (n = 0; evaluation refuses them).
A spec is parsed once into a `DataSpec` (`hide_and_seek_tf.data.spec`). The file sources read every
selected image's header before they return (`hide_and_seek_tf.data.checks`: unreadable images, the
pixel limit, boxes past the image clipped and counted); `hide-and-seek-data check SPEC` reports on a
whole source (`hide_and_seek_tf.data.dataset_check`).
"""

from hide_and_seek_tf._lazy import lazy_attributes
from hide_and_seek_tf.data.spec import DataSpec, register_source

# TensorFlow is imported on first use of these, so that parsing a spec (`DataSpec`, used by the
# training config and the command lines before TensorFlow starts) loads without it.
_PUBLIC = {
    "DatasetInfo": "hide_and_seek_tf.data.common",
    "SYNTHETIC_CLASS_NAMES": "hide_and_seek_tf.data.synthetic",
    "load_dataset": "hide_and_seek_tf.data.loading",
    "make_pipeline": "hide_and_seek_tf.data.pipeline",
    "make_synthetic_dataset": "hide_and_seek_tf.data.synthetic",
}

__all__ = ["DataSpec", "register_source", *_PUBLIC]

__getattr__, __dir__ = lazy_attributes(__name__, _PUBLIC)
