"""`TemporalConfig`: every setting of a temporal (video) training run, validated, serialisable to config.json."""

from __future__ import annotations

import dataclasses
import datetime
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hide_and_seek_tf._checks import positive_int
from hide_and_seek_tf.data.sequences import parse_sequence_spec
from hide_and_seek_tf.temporal.model import POOLINGS

TASK = "temporal"
#: The paper's 20 segments per video (F_total = 2000, F_segment = 100): the default segment length.
PAPER_NUM_SEGMENTS = 20


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class TemporalConfig:
    """Every setting of a weakly-supervised temporal localization run (paper, sections 3.2, 4.2.3).

    `None` means "resolved when training starts" (`resolve`); config.json holds the resolved config.

    Attributes:
        task: always "temporal" (evaluate.py reads it from config.json to pick the evaluation).
        data: "synthetic-sequences" (built in) or "video-features:PATH".
        train_split: the split trained on ("train"; THUMOS14 features: "val", the paper's protocol).
        val_split: the split validated on after every epoch when `validation`.
        classes: None (all), K (the first K classes) or a tuple of class names.
        num_videos: training videos (synthetic: how many to generate; None: the source's default).
        num_steps: F_total, steps per video (None: 200 synthetic, 2000 video features).
        segment_length: F_segment, steps per hidden segment; 0 = no hiding (Video-full); None:
            num_steps // 20, the paper's 20 segments.
        hide_prob: probability of hiding each segment.
        filters: kernels of each 1x1 convolution (500 in the paper).
        pooling: "max" (global max pooling, the paper's) or "avg".
        epochs, batch_size: training length and batch.
        lr: Adam's initial learning rate (cosine decay to lr / 100 over the run).
        weight_decay: decoupled weight decay (0: none).
        seed: seed of weights, data order and hiding (and of synthetic data).
        run_dir: output directory (None: runs/<data>-temporal-<has|full>-<time>).
        validation: evaluate on `val_split` after every epoch.
    """

    task: str = TASK
    data: str = "synthetic-sequences"
    train_split: str = "train"
    val_split: str = "val"
    classes: int | tuple[str, ...] | None = None
    num_videos: int | None = None
    num_steps: int | None = None
    segment_length: int | None = None
    hide_prob: float = 0.5
    filters: int = 500
    pooling: str = "max"
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    run_dir: str | None = None
    validation: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.classes, list | tuple):
            object.__setattr__(self, "classes", tuple(self.classes))
        for name in ("lr", "weight_decay", "hide_prob"):
            if _is_int(getattr(self, name)):
                object.__setattr__(self, name, float(getattr(self, name)))
        self.validate()

    def validate(self) -> TemporalConfig:
        """Checks every field; returns the config.

        Raises:
            TypeError / ValueError: naming the first bad field and echoing its value.
        """
        if self.task != TASK:
            raise ValueError(f"`task` must be {TASK!r}. Received: task={self.task!r}")
        parse_sequence_spec(self.data)
        for name in ("train_split", "val_split"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"`{name}` must be a split name. Received: {name}={value!r}")
        if self.classes is not None and not (
            (_is_int(self.classes) and self.classes >= 1)
            or (self.classes and all(isinstance(c, str) and c for c in self.classes))
        ):
            raise ValueError(
                "`classes` must be None, a positive int K (the first K classes) or a non-empty list "
                f"of class names. Received: classes={self.classes!r}"
            )
        positive_int(self.num_videos, "num_videos", optional=True)
        positive_int(self.num_steps, "num_steps", optional=True)
        if self.segment_length is not None and (
            not _is_int(self.segment_length) or self.segment_length < 0
        ):
            raise ValueError(
                "`segment_length` must be None or an int >= 0 (0 = no hiding). "
                f"Received: segment_length={self.segment_length!r}"
            )
        if not _is_real(self.hide_prob) or not 0.0 <= self.hide_prob <= 1.0:
            raise ValueError(
                f"`hide_prob` must be in [0, 1]. Received: hide_prob={self.hide_prob!r}"
            )
        for name in ("filters", "epochs", "batch_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(
                f"`pooling` must be one of {list(POOLINGS)}. Received: pooling={self.pooling!r}"
            )
        if not _is_real(self.lr) or not self.lr > 0:
            raise ValueError(f"`lr` must be a number > 0. Received: lr={self.lr!r}")
        if not _is_real(self.weight_decay) or self.weight_decay < 0:
            raise ValueError(
                f"`weight_decay` must be a number >= 0. Received: weight_decay={self.weight_decay!r}"
            )
        if not _is_int(self.seed) or not 0 <= self.seed < 2**31:
            raise ValueError(f"`seed` must be an int in [0, 2**31). Received: seed={self.seed!r}")
        if self.run_dir is not None and (not isinstance(self.run_dir, str) or not self.run_dir):
            raise ValueError(
                f"`run_dir` must be None or a path string. Received: run_dir={self.run_dir!r}"
            )
        if not isinstance(self.validation, bool):
            raise TypeError(
                f"`validation` must be a bool. Received: validation={self.validation!r}"
            )
        return self

    @property
    def hides(self) -> bool:
        """True when training hides segments (Video-HaS), False for Video-full."""
        return self.segment_length != 0 and self.hide_prob > 0

    # === Serialisation ===
    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict (tuples become lists)."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], ignore_unknown: bool = False) -> TemporalConfig:
        """Builds a config from `to_dict` output (or config.json, with `ignore_unknown=True`).

        Raises:
            ValueError: an unknown key (unless `ignore_unknown`), or a bad value.
        """
        if not isinstance(values, Mapping):
            raise TypeError(f"`values` must be a mapping. Received: values={values!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown and not ignore_unknown:
            raise ValueError(f"Unknown TemporalConfig keys: {unknown}. Valid keys: {sorted(names)}")
        return cls(**{k: v for k, v in values.items() if k in names})

    def replace(self, **changes: Any) -> TemporalConfig:
        """A copy with `changes` applied (validated)."""
        return dataclasses.replace(self, **changes)

    # === Resolution ===
    def default_run_dir(self, now: datetime.datetime | None = None) -> str:
        """runs/<data>-temporal-<has|full>-<YYYYmmdd-HHMMSS>."""
        stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
        kind, arg = parse_sequence_spec(self.data)
        name = kind if arg is None else f"{kind}-{Path(arg).name or kind}"
        return f"runs/{name}-temporal-{'has' if self.hides else 'full'}-{stamp}"

    def resolve(
        self, *, num_steps: int, num_videos: int, now: datetime.datetime | None = None
    ) -> TemporalConfig:
        """Fills the `None` fields from the loaded training data (its steps and videos).

        Raises:
            ValueError: `batch_size` larger than the number of training videos.
        """
        if self.batch_size > num_videos:
            raise ValueError(
                f"`batch_size` must not exceed the {num_videos} training videos. "
                f"Received: batch_size={self.batch_size}"
            )
        changes: dict[str, Any] = {"num_steps": int(num_steps), "num_videos": int(num_videos)}
        if self.segment_length is None:
            changes["segment_length"] = max(1, int(num_steps) // PAPER_NUM_SEGMENTS)
        if self.run_dir is None:
            changes["run_dir"] = self.default_run_dir(now)
        return self.replace(**changes)
