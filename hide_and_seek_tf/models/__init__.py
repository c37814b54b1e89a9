"""CAM networks: GAP (or GMP) classifiers that take raw pixels and output logits.

Every model built here follows one contract, which the CAM code (`hide_and_seek_tf.cam`) relies on
and which any user model can follow too:

- input: raw pixels, float32 0..255 (or uint8), shape (B, H, W, C); `(x - mean) / std` happens
  inside (a `Normalization` layer named `normalize`);
- the layer named `cam_features` outputs the (B, h, w, K) maps that the global pooling reads
  (the last conv block's output, after its BatchNorm and ReLU);
- the `Dense` named `predictions` maps the pooled K features to logits (no softmax).

The layer names are `CAM_FEATURES` and `PREDICTIONS` (`models/contract.py`, no TensorFlow needed).
Each model is one `ModelSpec` registration (`models/registry.py`, `model_spec(name)`): builder,
input size, paper CAM threshold, pretrained weights and their normalization, new layers.
Only built-in, serializable Keras layers are used, so `model.save("m.keras")` reloads with
`keras.models.load_model(..., safe_mode=True)`.
"""

from hide_and_seek_tf._lazy import lazy_attributes
from hide_and_seek_tf.models.contract import CAM_FEATURES, POOLINGS, PREDICTIONS

# Keras is imported on first use of these, so that the contract above loads without it.
_REGISTRY = "hide_and_seek_tf.models.registry"
_PUBLIC = {
    "DEFAULT_MEAN": "hide_and_seek_tf.models._common",
    "DEFAULT_STD": "hide_and_seek_tf.models._common",
} | {
    name: _REGISTRY
    for name in (
        "DEFAULT_THRESHOLD",
        "MODELS",
        "MODEL_SPECS",
        "ModelSpec",
        "NEW_LAYERS",
        "PAPER_THRESHOLDS",
        "PRETRAINED_MODELS",
        "PretrainedWeights",
        "build_model",
        "check_model_choice",
        "insert_feature_hiding",
        "model_spec",
        "paper_threshold",
        "register_model",
    )
}

__all__ = ["CAM_FEATURES", "POOLINGS", "PREDICTIONS", *_PUBLIC]

__getattr__, __dir__ = lazy_attributes(__name__, _PUBLIC)
