"""`LayerwiseSGD`: SGD whose step is scaled for some layers (fine-tuning a pretrained backbone)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras


@keras.saving.register_keras_serializable(package="hide_and_seek_tf")
class LayerwiseSGD(keras.optimizers.SGD):
    """`keras.optimizers.SGD` with a learning-rate multiplier per layer-name prefix.

    The variables of a layer whose name starts with a key of `lr_multipliers` are updated with
    the learning rate times its value (the first matching key wins); the others with the learning
    rate itself. This is PyTorch's parameter groups as wsolevaluation uses them (new layers at 10x
    the backbone's rate): the momentum step of each variable is scaled, so it is exact for SGD with
    momentum. Decoupled weight decay (`weight_decay`) uses the base rate for every variable.

    Args:
        *args, **kwargs: as `keras.optimizers.SGD`.
        lr_multipliers: {layer-name prefix: factor}, e.g. {"cam_conv": 10.0, "predictions": 10.0}.

    Example:
        >>> opt = LayerwiseSGD(1e-3, momentum=0.9, lr_multipliers={"predictions": 10.0})
    """

    def __init__(
        self, *args: Any, lr_multipliers: Mapping[str, float] | None = None, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        multipliers = dict(lr_multipliers or {})
        for prefix, factor in multipliers.items():
            if not isinstance(prefix, str) or not isinstance(factor, int | float) or factor <= 0:
                raise ValueError(
                    "`lr_multipliers` must map layer-name prefixes to positive numbers. "
                    f"Received: lr_multipliers={lr_multipliers!r}"
                )
        self.lr_multipliers = {p: float(f) for p, f in multipliers.items()}
        self._multipliers: list[float] = []

    def multiplier(self, variable: Any) -> float:
        """The factor of `variable`, from the name of the layer that owns it."""
        parts = variable.path.split("/")
        layer = parts[-2] if len(parts) > 1 else parts[0]
        for prefix, factor in self.lr_multipliers.items():
            if layer.startswith(prefix):
                return factor
        return 1.0

    def build(self, variables: list) -> None:
        super().build(variables)
        self._multipliers = [self.multiplier(v) for v in variables]

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        factor = self._multipliers[self._get_variable_index(variable)]
        if factor != 1.0:
            learning_rate = keras.ops.multiply(learning_rate, factor)
        super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "lr_multipliers": dict(self.lr_multipliers)}


__all__ = ["LayerwiseSGD"]
