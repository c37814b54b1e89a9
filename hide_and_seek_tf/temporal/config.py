"""`TemporalConfig`: every setting of a temporal (video) training run, validated, serialisable to config.json."""

from __future__ import annotations

import dataclasses
import datetime
import os
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
from hide_and_seek_tf.models.contract import POOLINGS
from hide_and_seek_tf.training.config import JsonConfig, check_data_spec
from hide_and_seek_tf.training.run_dir import CONFIG_FILE, read_json

TASK = "temporal"
#: The paper's 20 segments per video (F_total = 2000, F_segment = 100): the default segment length.
PAPER_NUM_SEGMENTS = 20


@dataclasses.dataclass(frozen=True)
class TemporalConfig(JsonConfig):
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
        resume: continue the run in `run_dir` from its last saved state.
        backup_every: save the resumable training state every this many steps (None: every
            `BACKUP_SECONDS` of training); it is also saved at every epoch end.
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
    resume: bool = False
    backup_every: int | None = None
    validation: bool = True

    def __post_init__(self) -> None:
        self._normalise(floats=("lr", "weight_decay", "hide_prob"))
        self.validate()

    def validate(self) -> TemporalConfig:
        """Checks every field (with the checks `TrainConfig` uses); returns the config.

        Raises:
            TypeError / ValueError: naming the first bad field and echoing its value.
        """
        if self.task != TASK:
            raise ValueError(f"`task` must be {TASK!r}. Received: task={self.task!r}")
        check_data_spec(self.data, None, images=False)
        check_split(self.train_split, "train_split")
        check_split(self.val_split, "val_split")
        check_classes(self.classes, "class names")
        positive_int(self.num_videos, "num_videos", optional=True)
        positive_int(self.num_steps, "num_steps", optional=True)
        if self.segment_length is not None and (
            not is_int(self.segment_length) or self.segment_length < 0
        ):
            raise ValueError(
                "`segment_length` must be None or an int >= 0 (0 = no hiding). "
                f"Received: segment_length={self.segment_length!r}"
            )
        check_fraction(self.hide_prob, "hide_prob")
        for name in ("filters", "epochs", "batch_size"):
            positive_int(getattr(self, name), name)
        check_choice(self.pooling, "pooling", POOLINGS)
        check_number(self.lr, "lr", positive=True)
        check_number(self.weight_decay, "weight_decay", positive=False)
        check_seed(self.seed)
        check_bools(self, ("resume", "validation"))
        check_run_dir(self.run_dir, self.resume)
        positive_int(self.backup_every, "backup_every", optional=True)
        return self

    @property
    def hides(self) -> bool:
        """True when training hides segments (Video-HaS), False for Video-full."""
        return self.segment_length != 0 and self.hide_prob > 0

    # === Resolution ===
    def default_run_dir(self, now: datetime.datetime | None = None) -> str:
        """runs/<data>-temporal-<has|full>-<YYYYmmdd-HHMMSS>."""
        stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
        spec = check_data_spec(self.data, None, images=False)
        kind, arg = spec.kind, spec.arg
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


def is_temporal_run(run_dir: str | os.PathLike) -> bool:
    """True when `run_dir/config.json` says "task": "temporal" (False when it is missing or
    unreadable: the image task's loading then says what is wrong with it, in one line)."""
    path = Path(run_dir) / CONFIG_FILE
    try:
        config = read_json(path, "run config") if path.is_file() else None
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("task") == TASK
