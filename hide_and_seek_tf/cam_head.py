"""Any Keras classifier as a CAM network: find its conv maps and classifier Dense, its preprocessing.

CAM (Zhou et al., CVPR 2016) needs two things from a model: the maps F (B, h, w, C) that a global
pooling reads, and the Dense that maps the pooled C features to class scores. The project's own
models name them `cam_features` and `predictions`; `find_cam_head` finds them in any functional or
Sequential Keras model (e.g. `keras.applications.ResNet50` or `MobileNetV2` with their top, or
`base -> GlobalAveragePooling2D -> Dropout -> Dense` for transfer learning):

    global pooling (average or max, 2-D)  ->  [Dropout / Flatten / Identity ...]  ->  Dense

and the Dense's output must be a model output (possibly through `Activation` / `Softmax` layers).
Logits are the Dense's pre-activation (a softmax head's scores would be probabilities, not logits).
Layers inside nested models are not searched: the maps are the output of whatever layer the
top-level pooling reads (a nested backbone is fine).

`PREPROCESSING` names the input conventions of `keras.applications`, so a model that expects
preprocessed input can still be served and evaluated from raw pixels (0..255, RGB).

References:
    Zhou et al., Learning Deep Features for Discriminative Localization, CVPR 2016.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import keras

# The project's layer names (see `hide_and_seek_tf.models`), used when present.
from hide_and_seek_tf.models.contract import CAM_FEATURES, PREDICTIONS

#: Input conventions of `keras.applications.imagenet_utils.preprocess_input`, applied to raw
#: RGB pixels 0..255: "tf" scales to [-1, 1] (MobileNet, Inception, Xception), "torch" to
#: ImageNet mean / std (DenseNet), "caffe" to BGR minus the ImageNet mean (ResNet50, VGG).
#: None: the model takes raw pixels (its own preprocessing layers, if any, stay in it).
PREPROCESSING = (None, "tf", "torch", "caffe")

_POOLINGS = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)
# Identity at inference between the pooling and the Dense.
_PASS_THROUGH = (
    keras.layers.Dropout,
    keras.layers.SpatialDropout2D,
    keras.layers.GaussianDropout,
    keras.layers.GaussianNoise,
    keras.layers.AlphaDropout,
    keras.layers.Flatten,
    keras.layers.Identity,
)
# Between the Dense and the model output: monotone per-sample maps of the logits.
_OUTPUT_ACTIVATIONS = (keras.layers.Activation, keras.layers.Softmax)


@dataclasses.dataclass(frozen=True)
class CamHead:
    """Where CAM reads a model.

    Attributes:
        features: the (B, h, w, C) maps the pooling reads (a symbolic tensor of the model).
        logits: (B, num_classes) pre-activation class scores (a symbolic tensor).
        classifier: the Dense whose kernel (C, num_classes) weighs the maps.
        cam_layer: name of the layer that outputs `features`.
        classifier_layer: name of `classifier`.
    """

    features: Any
    logits: Any
    classifier: keras.layers.Dense
    cam_layer: str
    classifier_layer: str

    @property
    def num_classes(self) -> int:
        return int(self.classifier.kernel.shape[-1])


class _PreActivation(keras.layers.Layer):
    """A Dense's `x @ kernel + bias` without its activation (shares the Dense's weights)."""

    def __init__(self, dense: keras.layers.Dense, **kwargs) -> None:
        super().__init__(dtype="float32", **kwargs)
        self.dense = dense

    def call(self, x):
        x = keras.ops.cast(x, "float32")
        y = keras.ops.matmul(x, keras.ops.cast(self.dense.kernel, "float32"))
        if self.dense.bias is not None:
            y = y + keras.ops.cast(self.dense.bias, "float32")
        return y

    def compute_output_spec(self, x):
        return keras.KerasTensor((*x.shape[:-1], self.dense.units), dtype="float32")


def _tensors(value) -> list:
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, list | tuple) else [value]


def _node_io(layer) -> tuple[list, list]:
    """(inputs, outputs) of a layer called once; ([], []) for a shared or uncalled layer."""
    try:
        return _tensors(layer.input), _tensors(layer.output)
    except (AttributeError, ValueError, RuntimeError):
        return [], []


class _Graph:
    """Who makes and who reads each symbolic tensor of a model.

    Readers come from `layer.input` of layers called once. Producers come from each tensor's
    Keras history (`_keras_history`, kept on every symbolic tensor since tf.keras 2): for a nested
    model called in the outer graph, `layer.output` is its inner tensor, and no public API gives
    the outer one.
    """

    def __init__(self, model: keras.Model) -> None:
        self.layers = [
            layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)
        ]
        self.producer: dict[int, keras.layers.Layer] = {}
        self.made_by: dict[int, list] = {}  # id(layer) -> its output tensors in this graph
        self.consumers: dict[int, list] = {}
        tensors = list(_tensors(model.outputs))
        for layer in self.layers:
            inputs, outputs = _node_io(layer)
            tensors += inputs + outputs
            for t in inputs:
                self.consumers.setdefault(id(t), []).append(layer)
        members = {id(layer) for layer in self.layers}
        for t in tensors:
            history = getattr(t, "_keras_history", None)
            layer = getattr(history, "operation", None)
            if layer is not None and id(layer) in members and id(t) not in self.producer:
                self.producer[id(t)] = layer
                self.made_by.setdefault(id(layer), []).append(t)
        self.outputs = {id(t) for t in _tensors(model.outputs)}

    def output_of(self, layer):
        outputs = self.made_by.get(id(layer), [])
        return outputs[0] if len(outputs) == 1 else None

    def input_of(self, layer):
        inputs = _node_io(layer)[0]
        return inputs[0] if len(inputs) == 1 else None

    def dense_after(self, pooling) -> keras.layers.Dense | None:
        """The Dense a pooling feeds through pass-through layers, or None."""
        tensor = self.output_of(pooling)
        while tensor is not None:
            readers = self.consumers.get(id(tensor), [])
            if len(readers) != 1:
                return None
            reader = readers[0]
            if isinstance(reader, keras.layers.Dense):
                return reader
            if not isinstance(reader, _PASS_THROUGH):
                return None
            tensor = self.output_of(reader)
        return None

    def pooling_before(self, dense):
        """The global pooling a Dense reads through pass-through layers, or None."""
        tensor = self.input_of(dense)
        while tensor is not None:
            layer = self.producer.get(id(tensor))
            if isinstance(layer, _POOLINGS):
                return layer
            if not isinstance(layer, _PASS_THROUGH):
                return None
            tensor = self.input_of(layer)
        return None

    def reaches_output(self, dense) -> bool:
        """Whether the Dense's output is a model output, possibly through activations."""
        tensor = self.output_of(dense)
        while tensor is not None:
            if id(tensor) in self.outputs:
                return True
            readers = self.consumers.get(id(tensor), [])
            if len(readers) != 1 or not isinstance(readers[0], _OUTPUT_ACTIVATIONS):
                return False
            tensor = self.output_of(readers[0])
        return False


def _get_layer(model: keras.Model, name: str, argument: str):
    try:
        return model.get_layer(name)
    except ValueError:
        names = [layer.name for layer in model.layers]
        raise ValueError(
            f"`{argument}` must name a layer of the model. Received: {argument}={name!r}; "
            f"the model's layers end with {names[-8:]}"
        ) from None


def _describe(layers, keep: int = 6) -> str:
    """Names and types of layers; the last `keep` of them when there are more (heads are last)."""
    shown = ", ".join(f"{layer.name!r} ({type(layer).__name__})" for layer in layers[-keep:])
    if len(layers) > keep:
        return f"{len(layers)}, the last {keep}: {shown}"
    return shown or "none"


def find_cam_head(
    model: keras.Model, cam_layer: str | None = None, classifier_layer: str | None = None
) -> CamHead:
    """Finds the maps a model's global pooling reads and the Dense that classifies them.

    Without names: layers named `cam_features` and `predictions` if the model has both (the
    project's models), else the unique `global pooling -> [Dropout ...] -> Dense` chain whose
    Dense is (through activations) a model output. With one name, the other is found from it;
    with both, they are taken as given (any layer with 4-D output, any Dense).

    Args:
        model: a built functional or Sequential Keras model.
        cam_layer: name of the layer whose (B, h, w, C) output is the CAM's maps.
        classifier_layer: name of the Dense mapping the C pooled features to class scores.

    Returns:
        A `CamHead`.

    Raises:
        ValueError: a name is not a layer of the model or not of the right kind, or the head is
            ambiguous or absent; the message names the candidate layers.

    Example:
        >>> model = keras.applications.MobileNetV2(weights=None, input_shape=(64, 64, 3))
        >>> head = find_cam_head(model)
        >>> head.cam_layer, head.classifier_layer
        ('out_relu', 'predictions')
    """
    graph = _Graph(model)
    if cam_layer is None and classifier_layer is None:
        names = {layer.name for layer in graph.layers}
        if CAM_FEATURES in names and PREDICTIONS in names:
            cam_layer, classifier_layer = CAM_FEATURES, PREDICTIONS
    poolings = [layer for layer in graph.layers if isinstance(layer, _POOLINGS)]
    denses = [layer for layer in graph.layers if isinstance(layer, keras.layers.Dense)]
    hint = "Pass `cam_layer=` and `classifier_layer=` (export.py / evaluate.py: --cam-layer, --classifier-layer)."

    if classifier_layer is not None:
        dense = _get_layer(model, classifier_layer, "classifier_layer")
        if not isinstance(dense, keras.layers.Dense) or len(dense.kernel.shape) != 2:
            raise ValueError(
                "`classifier_layer` must name a Dense with a 2-D kernel. Received: "
                f"classifier_layer={classifier_layer!r} ({type(dense).__name__})"
            )
    if cam_layer is not None:
        maps_layer = _get_layer(model, cam_layer, "cam_layer")
        features = graph.output_of(maps_layer)
        if features is None or len(features.shape) != 4:
            raise ValueError(
                "`cam_layer` must name a layer with one (B, h, w, C) output. Received: "
                f"cam_layer={cam_layer!r} with output "
                f"{getattr(features, 'shape', 'of a layer called more than once')}"
            )

    if cam_layer is None or classifier_layer is None:
        if classifier_layer is not None:
            pooling = graph.pooling_before(dense)
            if pooling is None:
                raise ValueError(
                    f"No global pooling feeds `classifier_layer={classifier_layer!r}`; "
                    f"global poolings in the model: {_describe(poolings)}. Pass `cam_layer=` too."
                )
            chains = [(pooling, dense)]
        else:
            chains = []
            for pooling in poolings:
                found = graph.dense_after(pooling)
                if found is None or not graph.reaches_output(found):
                    continue
                if cam_layer is not None and graph.input_of(pooling) is not features:
                    continue
                chains.append((pooling, found))
            if not chains:
                what = f" reading `cam_layer={cam_layer!r}`" if cam_layer is not None else ""
                raise ValueError(
                    f"Found no global pooling{what} followed by a Dense that gives the model's "
                    f"output (GlobalAveragePooling2D / GlobalMaxPooling2D -> [Dropout] -> Dense), "
                    f"so CAM does not apply as is. Global poolings: {_describe(poolings)}; "
                    f"Dense layers: {_describe(denses)}. {hint}"
                )
            if len(chains) > 1:
                pairs = "; ".join(f"{p.name!r} -> {d.name!r}" for p, d in chains)
                raise ValueError(
                    f"The model has several pooling -> Dense heads ({pairs}): which one is the "
                    f"classifier is ambiguous. {hint}"
                )
        pooling, dense = chains[0]
        if cam_layer is None:
            features = graph.input_of(pooling)
            producer = graph.producer.get(id(features)) if features is not None else None
            if producer is None or len(features.shape) != 4:
                raise ValueError(
                    f"The maps {pooling.name!r} reads are not the output of one layer of the "
                    f"model (B, h, w, C). {hint}"
                )
            cam_layer = producer.name
        classifier_layer = dense.name

    channels = features.shape[-1]
    if channels is not None and int(channels) != int(dense.kernel.shape[0]):
        raise ValueError(
            f"`cam_layer={cam_layer!r}` has {channels} channels but `classifier_layer="
            f"{classifier_layer!r}` takes {dense.kernel.shape[0]} features."
        )
    linear = dense.activation in (None, keras.activations.linear)
    if linear and graph.output_of(dense) is not None:
        logits = graph.output_of(dense)
    else:
        dense_input = graph.input_of(dense)
        if dense_input is None:
            raise ValueError(f"The Dense {classifier_layer!r} is called more than once. {hint}")
        logits = _PreActivation(dense, name=f"{classifier_layer}_logits")(dense_input)
    return CamHead(features, logits, dense, cam_layer, classifier_layer)


def preprocess(images, mode: str | None):
    """Raw RGB pixels (0..255) -> the input `keras.applications` models of `mode` expect.

    Args:
        images: (..., H, W, 3) float pixels, 0..255.
        mode: one of `PREPROCESSING`; None returns `images` unchanged.

    Raises:
        ValueError: unknown `mode`.
    """
    check_preprocessing(mode)
    if mode is None:
        return images
    return keras.applications.imagenet_utils.preprocess_input(
        keras.ops.cast(images, "float32"), data_format="channels_last", mode=mode
    )


def check_preprocessing(mode: str | None) -> None:
    if mode not in PREPROCESSING:
        raise ValueError(
            f"`preprocessing` must be one of {PREPROCESSING}. Received: preprocessing={mode!r}"
        )


#: The first Keras release without the published safe-mode bypasses (docs/training.md: --model).
KERAS_SAFE_LOADING = (3, 14)


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2])


def load_classifier(path: str | os.PathLike) -> keras.Model:
    """Loads a `.keras` classifier (safe mode: no arbitrary code), with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {path}")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        # Legacy HDF5 (renamed or not) loads outside safe mode: refused.
        raise ValueError(f"The model file must be a `.keras` (zip) archive. Received: {path}")
    if _version_tuple(keras.__version__) < KERAS_SAFE_LOADING:
        raise ValueError(
            f"Loading a model file needs Keras >= {'.'.join(map(str, KERAS_SAFE_LOADING))}: "
            "earlier releases have published safe-mode bypasses (docs/training.md: --model). "
            f"Received: keras=={keras.__version__}"
        )
    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # Keras raises many types for a bad archive
        raise ValueError(f"Could not load the model {path}: {err}") from err


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Class names from a file: a JSON list of strings (`.json`) or one name per line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No class-names file at {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        names = json.loads(text)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{path} must hold a JSON list of strings.")
        return names
    return [line.strip() for line in text.splitlines() if line.strip()]
