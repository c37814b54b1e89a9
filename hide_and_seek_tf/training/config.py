"""`TrainConfig`: every setting of a training run, validated, and serialisable to `config.json`."""

from __future__ import annotations

import dataclasses
import datetime
import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hide_and_seek_tf._checks import (
    check_bools,
    check_choice,
    check_classes,
    check_fraction,
    check_number,
    check_run_dir,
    check_seed,
    check_split,
    is_int,
    positive_int,
)
from hide_and_seek_tf.data.sources import DataSpec
from hide_and_seek_tf.models.contract import POOLINGS
from hide_and_seek_tf.training.precision import fastest_precision

# === Defaults of the quick synthetic demo (`python train.py` with no arguments) ===
# The one place these live: TrainConfig's field defaults use them, `resolve` fills the rest.
DEMO_IMAGE_SIZE = 48
DEMO_NUM_IMAGES = 4000
DEMO_EPOCHS = 8
DEMO_BATCH_SIZE = 64
DEMO_HIDE_PATCH_SIZES = (16, 24, 0)  # the mixed setting: (16,) alone cost 3 points of accuracy

# Optimizer recipes. "paper": SGD, momentum 0.9, lr decayed exponentially (smoothly, per step) from
# `lr` to `lr * PAPER_FINAL_LR_FACTOR` over the run: 0.01 -> 0.0001 at the default lr, as in the paper
# ("initial learning rate of 0.01 ... gradually decrease to 0.0001", section 4.1). Its weight decay is
# not stated in the paper; 5e-4 is AlexNet's. "adam": Adam with a cosine decay to lr / 100; the
# default, because it trains the short demo better: `python train.py --schedule adam|paper` (8 epochs,
# HaS-16) reached val accuracy 0.972 / 0.945, val loss 0.098 / 0.336.
# "finetune": wsolevaluation's recipe for ImageNet-pretrained backbones (Choe et al., CVPR 2020):
# SGD, Nesterov momentum 0.9, weight decay 1e-4, the new layers (`ModelSpec.new_layers`) at
# `new_layer_lr_factor` = 10 times the backbone's rate, the rate divided by 10 at 30%, 60% and 90%
# of the run (their 15-of-50-epoch steps on CUB, 3-of-10 on ImageNet). Their lr was tuned per
# method and dataset; 1e-3 is a starting point, not their value. Needs `weights`.
PAPER_FINAL_LR_FACTOR = 0.01
FINETUNE_DECAY_AT = (0.3, 0.6, 0.9)
RECIPES: dict[str, dict[str, float]] = {
    "paper": {"lr": 0.01, "weight_decay": 5e-4, "momentum": 0.9},
    "adam": {"lr": 1e-3, "weight_decay": 0.0},
    "finetune": {"lr": 1e-3, "weight_decay": 1e-4, "momentum": 0.9, "new_layer_lr_factor": 10.0},
}

STRATEGIES = ("default", "mirrored", "multi-worker")
AUGMENTS = ("flip", "crop_flip")
# `mixed_precision` values -> Keras dtype policy; True is "float16", as before bfloat16 existed.
# "auto" (the default) is resolved to one of these by `TrainConfig.resolve` (`precision.py`).
AUTO_PRECISION = "auto"
HIDE_IN = ("data", "model")
MIXED_PRECISION = {
    False: "float32",
    True: "mixed_float16",
    "float16": "mixed_float16",
    "bfloat16": "mixed_bfloat16",
}

# With `backup_every=None`, the resumable state is saved after this much training time (and at
# every epoch end): a fixed count per epoch made short epochs spend 15% of their time saving.
BACKUP_SECONDS = 300.0

# Settings that may change between a run and its `--resume` without changing what is trained.
RESUME_FREE_KEYS = frozenset({"run_dir", "resume", "strategy", "jit_compile", "backup_every"})


def parse_data_spec(data: Any, data_dir: str | None = None) -> DataSpec:
    """Parses a data spec (`hide_and_seek_tf.data.sources.DataSpec.parse`): kind, argument, data_dir.

    Raises:
        TypeError / ValueError: `data` is not a registered spec form, naming it.
    """
    return DataSpec.parse(data, data_dir=data_dir, name="data")


def check_data_spec(data: Any, data_dir: str | None, *, images: bool) -> DataSpec:
    """Parses `data` and checks its kind serves the task: images (`TrainConfig`) or feature
    sequences (`TemporalConfig`).

    Raises:
        TypeError / ValueError: not a spec, or one of the other task, naming it.
    """
    # The temporal task names only the forms it can train on; the image task every form.
    spec = DataSpec.parse(data, data_dir=data_dir, name="data", forms=None if images else False)
    if spec.source.images != images:
        what = (
            "images, for the image task (`TrainConfig`)"
            if spec.source.images
            else "feature sequences, for the temporal task (`--task temporal`, "
            "`hide_and_seek_tf.temporal`)"
        )
        raise ValueError(f"`data` {data!r} is {what}. Received: data={data!r}")
    return spec


class JsonConfig:
    """What a frozen dataclass config shares: normalisation of JSON-ish values, `to_dict`,
    `from_dict` (config.json) and `replace`. `TrainConfig` and `TemporalConfig` derive from it."""

    def _normalise(self, floats: Sequence[str]) -> None:
        """One spelling of the data kind, lists of classes become tuples and ints in the float
        fields `floats` become floats, so that equal settings compare equal."""
        if isinstance(self.data, str) and ":" in self.data:
            kind, _, arg = self.data.partition(":")
            object.__setattr__(self, "data", f"{kind.strip().lower().replace('_', '-')}:{arg}")
        elif isinstance(self.data, str):
            object.__setattr__(self, "data", self.data.strip().lower().replace("_", "-"))
        if isinstance(self.classes, list | tuple):
            object.__setattr__(self, "classes", tuple(self.classes))
        for name in floats:
            if is_int(getattr(self, name)):
                object.__setattr__(self, name, float(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict (tuples become lists)."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], ignore_unknown: bool = False):
        """Builds a config from `to_dict` output (or `config.json`, with `ignore_unknown=True`).

        Raises:
            ValueError: `values` has a key that is not a field (unless `ignore_unknown`), or a bad value.
        """
        if not isinstance(values, Mapping):
            raise TypeError(f"`values` must be a mapping. Received: values={values!r}")
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown and not ignore_unknown:
            raise ValueError(f"Unknown {cls.__name__} keys: {unknown}. Valid keys: {sorted(names)}")
        return cls(**{k: v for k, v in values.items() if k in names})

    def replace(self, **changes: Any):
        """A copy with `changes` applied (validated)."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class TrainConfig(JsonConfig):
    """Every setting of a training run. Defaults are the quick synthetic demo.

    A config is validated when it is built (`validate` is public for re-checking) and normalised: lists
    become tuples and an int `image_size` S becomes (S, S). `None` means "resolve when training starts"
    (`resolve`); `config.json` holds the resolved config.

    Attributes:
        data: a data spec: "synthetic", "tiny-imagenet:PATH", "tfds:NAME", "cub:PATH",
            "imagenet:PATH", "wsol:METADATA_DIR", "csv:FILE" (see `hide_and_seek_tf.data.sources`).
        data_dir: what the spec's kind reads it as: the TFDS data directory, the image root of
            "wsol:" / "csv:" (None: TFDS's default; the CSV's folder).
        classes: None (all), K (the first K classes) or a tuple of class ids (Tiny ImageNet wnids).
        max_per_class: cap on training images per class (None: all).
        train_split: the split trained on. For Tiny ImageNet use "train_minus_holdout" when CAM thresholds
            are to be chosen on "train_holdout" (evaluate.py refuses a holdout the model trained on).
        num_images: number of training images; for synthetic data, how many to render.
        image_size: (H, W) the model trains on; None: the dataset's own size (synthetic: the demo's).
        model: a `hide_and_seek_tf.models.build_model` name.
        weights: pretrained backbone weights for models with `ModelSpec.pretrained` ("vgg16_gap",
            "resnet50_gap", "inception_v3_gap"): "imagenet" (downloaded by Keras) or the path of
            a weights file; None trains from scratch.
        pooling: "avg" (GAP, the paper's CAM network) or "max" (GMP ablation).
        hide_patch_sizes: Hide-and-Seek cell sides in pixels, one drawn per image and epoch; 0 = show the
            whole image; () = no hiding at all (the plain GAP baseline).
        hide_prob: probability of hiding each cell.
        epochs: training epochs.
        batch_size: global batch size (split across replicas under a distribution strategy).
        schedule: optimizer recipe, "adam", "paper" or "finetune" (see `RECIPES`).
        lr: initial learning rate (None: the recipe's).
        weight_decay: decoupled weight decay (None: the recipe's).
        seed: seed for weights, data order, augmentation and hiding.
        strategy: "default", "mirrored" (`tf.distribute.MirroredStrategy`) or "multi-worker"
            (`tf.distribute.MultiWorkerMirroredStrategy` from `TF_CONFIG`).
        mixed_precision: "auto" (the fastest this machine runs natively: bfloat16 on CPUs with
            AMX/AVX512-BF16 and on GPUs from compute capability 8.0, float16 on 7.x, else float32;
            see `precision.choose_precision`), False (float32), "bfloat16" (Keras "mixed_bfloat16")
            or "float16" ("mixed_float16"); True means "float16".
        hide_in: where Hide-and-Seek runs: "data" (the `tf.data` map, on the CPU) or "model" (a
            `HideAndSeek` layer in front of the network during training only, so on the GPU where
            there is one; the saved model never hides). Same cells, probability and fill.
        augment: training augmentation, "flip" (random horizontal flip) or "crop_flip" (random
            resized crop, then flip), see `make_pipeline`.
        jit_compile: XLA-compile the train step.
        run_dir: where the run is written (None: runs/<data>-<model>-<has|gap>-<time>).
        resume: continue the run in `run_dir` from its last saved state.
        steps_per_epoch: cap on steps per epoch (None: one pass over the training images).
        backup_every: save the resumable training state every this many steps (None: every
            `BACKUP_SECONDS` of training, or 4 times per epoch under "multi-worker", whose workers
            must agree on when); it is also saved at every epoch end.
        validation: evaluate on the validation split after every epoch.
        strict_boxes: refuse a box that extends past its image instead of clipping it (file
            sources; see `hide_and_seek_tf.data.checks`).
        skip_bad_images: leave unreadable images out (counted in config.json's "dataset")
            instead of refusing them.
    """

    data: str = "synthetic"
    data_dir: str | None = None
    classes: int | tuple[str, ...] | None = None
    max_per_class: int | None = None
    train_split: str = "train"
    num_images: int | None = None
    image_size: tuple[int, int] | None = None
    model: str = "small_gap"
    weights: str | None = None
    pooling: str = "avg"
    hide_patch_sizes: tuple[int, ...] = DEMO_HIDE_PATCH_SIZES
    hide_prob: float = 0.5
    epochs: int = DEMO_EPOCHS
    batch_size: int = DEMO_BATCH_SIZE
    schedule: str = "adam"
    lr: float | None = None
    weight_decay: float | None = None
    seed: int = 0
    strategy: str = "default"
    mixed_precision: bool | str = AUTO_PRECISION
    hide_in: str = "data"
    augment: str = "flip"
    jit_compile: bool = False
    run_dir: str | None = None
    resume: bool = False
    steps_per_epoch: int | None = None
    backup_every: int | None = None
    validation: bool = True
    strict_boxes: bool = False
    skip_bad_images: bool = False

    def __post_init__(self) -> None:
        # Normalise JSON-ish input (lists, int sizes) so equal settings compare equal.
        self._normalise(floats=("lr", "weight_decay", "hide_prob"))
        if is_int(self.image_size):
            object.__setattr__(self, "image_size", (int(self.image_size), int(self.image_size)))
        elif isinstance(self.image_size, list | tuple):
            object.__setattr__(self, "image_size", tuple(self.image_size))
        if isinstance(self.hide_patch_sizes, list | tuple):
            object.__setattr__(self, "hide_patch_sizes", tuple(self.hide_patch_sizes))
        elif is_int(self.hide_patch_sizes):
            object.__setattr__(self, "hide_patch_sizes", (int(self.hide_patch_sizes),))
        self.validate()

    def validate(self) -> TrainConfig:
        """Checks every field; returns the config.

        Raises:
            TypeError / ValueError: naming the first bad field and echoing its value.
        """
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            raise TypeError(
                f"`data_dir` must be None or a path string. Received: data_dir={self.data_dir!r}"
            )
        check_data_spec(self.data, self.data_dir, images=True)
        check_classes(self.classes)
        positive_int(self.max_per_class, "max_per_class", optional=True)
        check_split(self.train_split, "train_split")
        positive_int(self.num_images, "num_images", optional=True)
        if self.image_size is not None and not (
            isinstance(self.image_size, tuple)
            and len(self.image_size) == 2
            and all(is_int(s) and s >= 1 for s in self.image_size)
        ):
            raise ValueError(
                "`image_size` must be None, a positive int S or a pair (H, W) of positive ints. "
                f"Received: image_size={self.image_size!r}"
            )
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"`model` must be a model name. Received: model={self.model!r}")
        if self.weights is not None and (not isinstance(self.weights, str) or not self.weights):
            raise ValueError(
                "`weights` must be None, 'imagenet' or a weights file path. "
                f"Received: weights={self.weights!r}"
            )
        check_choice(self.pooling, "pooling", POOLINGS)
        if not isinstance(self.hide_patch_sizes, tuple) or not all(
            is_int(s) and s >= 0 for s in self.hide_patch_sizes
        ):
            raise ValueError(
                "`hide_patch_sizes` must be a sequence of ints >= 0 (cell sides in pixels, 0 = no "
                f"hiding; empty = the plain baseline). Received: hide_patch_sizes={self.hide_patch_sizes!r}"
            )
        check_fraction(self.hide_prob, "hide_prob")
        for name in ("epochs", "batch_size"):
            positive_int(getattr(self, name), name)
        if self.schedule not in RECIPES:
            raise ValueError(
                f"`schedule` must be one of {sorted(RECIPES)}. Received: schedule={self.schedule!r}"
            )
        if self.schedule == "finetune" and self.weights is None:
            raise ValueError(
                "`schedule`='finetune' fine-tunes a pretrained backbone: give `weights` "
                "('imagenet' or a weights file). Received: weights=None"
            )
        check_number(self.lr, "lr", positive=True, optional=True)
        check_number(self.weight_decay, "weight_decay", positive=False, optional=True)
        check_seed(self.seed)
        check_choice(self.strategy, "strategy", STRATEGIES)
        check_choice(self.mixed_precision, "mixed_precision", [*MIXED_PRECISION, AUTO_PRECISION])
        check_choice(self.hide_in, "hide_in", HIDE_IN)
        check_choice(self.augment, "augment", AUGMENTS)
        check_bools(
            self, ("jit_compile", "resume", "validation", "strict_boxes", "skip_bad_images")
        )
        check_run_dir(self.run_dir, self.resume)
        positive_int(self.steps_per_epoch, "steps_per_epoch", optional=True)
        positive_int(self.backup_every, "backup_every", optional=True)
        return self

    # === Resolution ===
    @functools.cached_property
    def data_spec(self) -> DataSpec:
        """`data` and `data_dir` parsed once into a `DataSpec`."""
        return parse_data_spec(self.data, self.data_dir)

    @property
    def data_kind(self) -> str:
        """The data source's kind: "synthetic", "tiny-imagenet", "tfds", "cub", ..."""
        return self.data_spec.kind

    def recipe_value(self, name: str) -> float:
        """`lr` or `weight_decay`: the field when set, else the recipe's default."""
        value = getattr(self, name)
        return RECIPES[self.schedule][name] if value is None else value

    @property
    def hides(self) -> bool:
        """True when training hides patches (Hide-and-Seek), False for plain GAP."""
        return any(self.hide_patch_sizes) and self.hide_prob > 0

    def default_run_dir(self, now: datetime.datetime | None = None) -> str:
        """runs/<data>-<model>-<has|gap>-<YYYYmmdd-HHMMSS>: the run directory when `run_dir` is None."""
        stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
        spec = self.data_spec
        kind, arg = spec.kind, spec.arg
        name = kind if arg is None else f"{kind}-{Path(arg).name.split('.')[0] or kind}"
        hiding = "has" if self.hides else "gap"
        return f"runs/{name}-{self.model}-{hiding}-{stamp}"

    def resolve(
        self,
        *,
        image_size: tuple[int, int] | None = None,
        num_train: int | None = None,
        now: datetime.datetime | None = None,
    ) -> TrainConfig:
        """Fills the `None` fields that have a definite value for this run.

        Args:
            image_size: the dataset's own image size, used when `self.image_size` is None.
            num_train: number of training images, to compute `steps_per_epoch` and `backup_every`.
            now: time stamp for the default run directory (default: now).

        Raises:
            ValueError: the image size or the number of steps cannot be determined.
        """
        changes: dict[str, Any] = {"lr": self.recipe_value("lr")}
        changes["weight_decay"] = self.recipe_value("weight_decay")
        if self.mixed_precision == AUTO_PRECISION:
            changes["mixed_precision"] = fastest_precision()[0]
        if self.data_kind == "synthetic" and self.num_images is None:
            changes["num_images"] = DEMO_NUM_IMAGES
        size = self.image_size
        if size is None:
            size = (
                (DEMO_IMAGE_SIZE, DEMO_IMAGE_SIZE) if self.data_kind == "synthetic" else image_size
            )
            if size is None:
                raise ValueError(
                    f"The images of `data`={self.data!r} have different sizes: pass `image_size`. "
                    "Received: image_size=None"
                )
            changes["image_size"] = tuple(size)
        if num_train is not None:
            full_steps = num_train // self.batch_size
            if full_steps < 1:
                raise ValueError(
                    f"`batch_size` must not exceed the {num_train} training images. "
                    f"Received: batch_size={self.batch_size}"
                )
            steps = min(full_steps, self.steps_per_epoch or full_steps)
            changes["steps_per_epoch"] = steps
            if self.backup_every is None and self.strategy == "multi-worker":
                changes["backup_every"] = max(1, -(-steps // 4))
        if self.run_dir is None:
            changes["run_dir"] = self.default_run_dir(now)
        return self.replace(**changes)


def config_differences(saved: Mapping[str, Any], new: JsonConfig) -> dict[str, tuple[Any, Any]]:
    """Settings that differ between a saved `config.json` and `new` and matter for resuming.

    Returns:
        {field: (saved value, new value)} for every field of `new`'s class outside
        `RESUME_FREE_KEYS` that differs.
    """
    saved_config = type(new).from_dict(saved, ignore_unknown=True)
    out = {}
    for field in dataclasses.fields(new):
        if field.name in RESUME_FREE_KEYS:
            continue
        old, cur = getattr(saved_config, field.name), getattr(new, field.name)
        if old != cur:
            out[field.name] = (old, cur)
    return out


def sequence_of_ints(text: str, name: str) -> tuple[int, ...]:
    """Parses "16,32,0" (or "none" / "" for the empty tuple) into ints, naming `name` on error."""
    if text.strip().lower() in ("none", ""):
        return ()
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(
            f"`{name}` must be comma-separated ints or 'none'. Received: {name}={text!r}"
        ) from None


__all__: Sequence[str] = (
    "DEMO_BATCH_SIZE",
    "DEMO_EPOCHS",
    "DEMO_HIDE_PATCH_SIZES",
    "DEMO_IMAGE_SIZE",
    "DEMO_NUM_IMAGES",
    "HIDE_IN",
    "RECIPES",
    "TrainConfig",
    "config_differences",
    "parse_data_spec",
)
