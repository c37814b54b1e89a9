"""Hide-and-Seek (Singh & Lee, ICCV 2017; arXiv 1811.02545) for TensorFlow 2 / Keras 3.

The public names are imported on first use, so `import hide_and_seek_tf` (and the command-line
programs in `hide_and_seek_tf.cli`) can set TensorFlow's options before TensorFlow is loaded. The
package's Keras serializables are registered as soon as Keras is loaded (now, if it already is), so
`keras.saving.load_model` finds `HideAndSeek` and the others after `import hide_and_seek_tf`.
"""

from hide_and_seek_tf._lazy import lazy_attributes
from hide_and_seek_tf._registration import register_when_keras_loads

__version__ = "0.1.0"

_PUBLIC = {
    "HideAndSeek": "hide_and_seek_tf.layers.hide_and_seek",
    "HideSegments": "hide_and_seek_tf.layers.hide_segments",
    "compute_dataset_mean": "hide_and_seek_tf.dataset_mean",
    "hide_patches": "hide_and_seek_tf.hiding",
    "hide_segments": "hide_and_seek_tf.hiding",
}

__all__ = [*_PUBLIC, "__version__"]

__getattr__, __dir__ = lazy_attributes(__name__, _PUBLIC)

register_when_keras_loads()
