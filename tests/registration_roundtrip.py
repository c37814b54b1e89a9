"""Run by tests/test_registration.py in a fresh process: `python registration_roundtrip.py FOLDER ORDER`.

Imports `hide_and_seek_tf` and Keras in the ORDER given and nothing else of the package, loads with
`safe_mode=True` every `.keras` file in FOLDER (saved by earlier runs, under any backend) and
checks it against the predictions saved beside it; then saves this backend's own files. Prints
the names it loaded, one line of JSON.
"""

import sys

FOLDER, ORDER = sys.argv[1], sys.argv[2]
if ORDER == "package-then-keras":
    import keras

    import hide_and_seek_tf  # noqa: F401
elif ORDER == "keras-then-package":
    import keras

    import hide_and_seek_tf  # noqa: F401
elif ORDER == "hiding-then-keras":  # TensorFlow loads Keras while `hiding` is half-imported
    import keras

    import hide_and_seek_tf.hiding  # noqa: F401
else:
    raise SystemExit(f"unknown ORDER={ORDER!r}")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

BACKEND = keras.config.backend()
IMAGES = np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 3)).astype("float32")
SEQUENCES = np.random.default_rng(1).normal(size=(2, 6, 3)).astype("float32")
TARGETS = np.float32([[1, 0, 0, 0], [0, 0, 1, 0]])


def _np(x):
    return keras.ops.convert_to_numpy(x)


def load(folder: Path) -> list[str]:
    names = []
    for path in sorted(folder.glob("*.keras")):
        model = keras.saving.load_model(path, safe_mode=True)
        saved = np.load(path.with_suffix(".npz"))
        layers = {type(layer).__name__ for layer in model.layers}
        if path.stem.startswith("images"):
            assert "HideAndSeek" in layers, layers
            assert type(model.optimizer).__name__ == "LayerwiseSGD", model.optimizer
            assert model.optimizer.lr_multipliers == {"predictions": 10.0}
            outputs = model.predict(IMAGES, verbose=0)
        else:
            assert "HideSegments" in layers, layers
            metrics = model.evaluate(SEQUENCES, TARGETS, verbose=0, return_dict=True)
            assert "label_accuracy" in metrics, metrics  # the compiled custom metric
            outputs = model.predict(SEQUENCES, verbose=0)
        # The same weights: equal up to float32 sums taken in another order (backend, threads).
        np.testing.assert_allclose(_np(outputs), saved["outputs"], rtol=1e-4, atol=1e-5)
        names.append(path.stem)
    return names


def save(folder: Path) -> None:
    from hide_and_seek_tf import HideAndSeek, HideSegments
    from hide_and_seek_tf.temporal.model import label_accuracy
    from hide_and_seek_tf.training.optimizers import LayerwiseSGD

    inputs = keras.Input((8, 8, 3))
    hidden = HideAndSeek(4, 0.5, fill_value=0.5, seed=1)(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(hidden)
    images = keras.Model(inputs, keras.layers.Dense(2, name="predictions")(pooled))
    images.compile(LayerwiseSGD(0.01, lr_multipliers={"predictions": 10.0}), "mse")
    inputs = keras.Input((None, 3))
    pooled = keras.layers.GlobalMaxPooling1D()(HideSegments(2, seed=1)(inputs))
    sequences = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(pooled))
    sequences.compile("sgd", "categorical_crossentropy", metrics=[label_accuracy])
    for name, model, x in (("images", images, IMAGES), ("sequences", sequences, SEQUENCES)):
        path = folder / f"{name}_{BACKEND}.keras"
        model.save(path)
        np.savez(path.with_suffix(".npz"), outputs=_np(model.predict(x, verbose=0)))


if __name__ == "__main__":
    folder = Path(FOLDER)
    loaded = load(folder)
    save(folder)
    print(json.dumps(loaded))
