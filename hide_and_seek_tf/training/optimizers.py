"""The optimizer and learning-rate schedule of each `TrainConfig.schedule`, and `LayerwiseSGD` (SGD
whose step is scaled for some layers, for fine-tuning a pretrained backbone)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from hide_and_seek_tf.models.registry import MODEL_SPECS
from hide_and_seek_tf.training.config import (
    FINETUNE_DECAY_AT,
    PAPER_FINAL_LR_FACTOR,
    RECIPES,
    TrainConfig,
)


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


def make_lr_schedule(
    config: TrainConfig, total_steps: int
) -> keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate of `config.schedule` over `total_steps` optimizer steps.

    "paper": lr * PAPER_FINAL_LR_FACTOR ** (step / total_steps), a smooth exponential decay from lr
    to lr / 100 (0.01 -> 0.0001 at the default lr). "adam": a cosine decay from lr to lr / 100.
    "finetune": lr divided by 10 at 30%, 60% and 90% of the steps (wsolevaluation's step decay).
    """
    lr, total_steps = config.recipe_value("lr"), max(1, int(total_steps))
    if config.schedule == "finetune":
        boundaries = [max(1, round(f * total_steps)) for f in FINETUNE_DECAY_AT]
        values = [lr * 0.1**k for k in range(len(boundaries) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    if config.schedule == "paper":
        return keras.optimizers.schedules.ExponentialDecay(
            lr, decay_steps=total_steps, decay_rate=PAPER_FINAL_LR_FACTOR
        )
    return keras.optimizers.schedules.CosineDecay(
        lr, decay_steps=total_steps, alpha=PAPER_FINAL_LR_FACTOR
    )


def make_optimizer(config: TrainConfig, total_steps: int) -> keras.optimizers.Optimizer:
    """The optimizer of `config.schedule` with `make_lr_schedule`'s decay over `total_steps`.

    "paper": SGD with momentum 0.9; "adam": Adam; "finetune": `LayerwiseSGD` (Nesterov momentum
    0.9) with the model's new layers (its `ModelSpec.new_layers`) at 10x the rate. Weight decay
    (`config.weight_decay` or the recipe's) is decoupled and skips biases and batch-norm parameters.

    Raises:
        ValueError: "finetune" for a model without a pretrained backbone.
    """
    schedule = make_lr_schedule(config, total_steps)
    weight_decay = config.recipe_value("weight_decay") or None
    if config.schedule == "finetune":
        spec = MODEL_SPECS.get(config.model)
        new_layers = () if spec is None else spec.new_layers
        if not new_layers:
            finetunable = sorted(name for name, other in MODEL_SPECS.items() if other.new_layers)
            raise ValueError(
                f"`schedule`='finetune' is for models with a pretrained backbone "
                f"({finetunable}). Received: model={config.model!r}"
            )
        recipe = RECIPES["finetune"]
        factor = recipe["new_layer_lr_factor"]
        optimizer = LayerwiseSGD(
            schedule,
            momentum=recipe["momentum"],
            nesterov=True,
            weight_decay=weight_decay,
            lr_multipliers={prefix: factor for prefix in new_layers},
        )
    elif config.schedule == "paper":
        optimizer = keras.optimizers.SGD(
            schedule, momentum=RECIPES["paper"]["momentum"], weight_decay=weight_decay
        )
    else:
        optimizer = keras.optimizers.Adam(schedule, weight_decay=weight_decay)
    if weight_decay:
        optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


__all__ = ["LayerwiseSGD", "make_lr_schedule", "make_optimizer"]
