"""Registers the package's Keras serializables as soon as Keras is loaded, without loading it.

A `.keras` file names each custom object by its registered name ("hide_and_seek_tf>HideAndSeek"),
and `keras.saving.load_model` finds it only if the module whose
`@keras.saving.register_keras_serializable` defines it has run. Keras users expect
`import library` to be enough (KerasHub does so), but importing Keras loads TensorFlow under the
TensorFlow backend (seconds, and start-up log lines before a command could set their level). So
`import hide_and_seek_tf` registers now if Keras is already loaded, and otherwise when Keras's own
import finishes (a standard PEP 451 post-import hook on `sys.meta_path`).

Keras is also imported from inside TensorFlow's import, and from inside this package's modules
(`import keras` at their top). The registration imports this package's modules, which must not run
while one of them, or TensorFlow, is half-imported (a `from module import name` of a half-imported
module fails). So the hook also notes when those imports start and end, and registers once the
outermost one has finished.
"""

from __future__ import annotations

import importlib
import sys
import threading
from typing import Any

#: The modules that define a `register_keras_serializable` object (a test checks the list).
SERIALIZABLE_MODULES = (
    "hide_and_seek_tf.layers.hide_and_seek",
    "hide_and_seek_tf.layers.hide_segments",
    "hide_and_seek_tf.temporal.model",
    "hide_and_seek_tf.training.optimizers",
)

_PACKAGE = __name__.split(".")[0]
_lock = threading.RLock()
_state = {"registered": False, "keras_loaded": False, "importing": 0}


def register_serializables() -> None:
    """Imports every module in `SERIALIZABLE_MODULES` (each registers its objects with Keras)."""
    with _lock:  # not held while importing: another thread's import may be waiting for it
        if _state["registered"]:
            return
        _state["registered"] = True
    try:
        for module in SERIALIZABLE_MODULES:
            importlib.import_module(module)
    except BaseException:
        with _lock:
            _state["registered"] = False
        raise
    _remove_hook()


def register_when_keras_loads() -> None:
    """Registers now if Keras is loaded; otherwise installs the hook that registers after its import."""
    if "keras" in sys.modules:
        register_serializables()
    elif not any(isinstance(finder, _PostImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PostImportHook())


def _tracked(name: str) -> bool:
    return name in ("keras", "tensorflow") or name.startswith(_PACKAGE + ".")


def _remove_hook() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _PostImportHook)]


# Duck-typed finder and loader: `importlib.abc` alone would take longer to import than this package.
class _PostImportHook:
    """A `sys.meta_path` finder that finds nothing itself: it wraps the loaders the others find for
    Keras, TensorFlow and this package's modules."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if not _tracked(fullname):
            return None
        for finder in list(sys.meta_path):
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _TrackedLoader(spec.loader, fullname)
                return spec
        return None


class _TrackedLoader:
    """The found loader, counting the imports in progress and registering after the last one."""

    def __init__(self, loader: Any, name: str) -> None:
        self._loader = loader
        self._name = name

    def __getattr__(self, attribute: str) -> Any:  # get_resource_reader, get_source, ...
        return getattr(self._loader, attribute)

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        with _lock:
            _state["importing"] += 1
        try:
            self._loader.exec_module(module)
        finally:
            with _lock:
                _state["importing"] -= 1
                if self._name == "keras":
                    _state["keras_loaded"] = True
                ready = _state["keras_loaded"] and _state["importing"] == 0
        if ready:
            register_serializables()
