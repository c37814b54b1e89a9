"""Data specs and sources: the grammar (`DataSpec.parse("cub:/data/CUB_200_2011")`), the registry
of sources, and `load_dataset`, which loads one split of any registered spec.

A spec is `KIND` or `KIND:ARG` (the kind case-insensitive, `_` and `-` alike), plus an optional
`data_dir` whose meaning depends on the kind. It is parsed once into a `DataSpec`, which
`load_dataset`, `TrainConfig`, the command lines and evaluation's holdout guard all use:

====================  ============================================  ================================
spec                  ARG                                           `data_dir`
====================  ============================================  ================================
synthetic             (none)                                        not used
tiny-imagenet:PATH    tiny-imagenet-200.zip or its folder           PATH when ARG is omitted
tfds:NAME             a prepared TFDS dataset with boxes            TFDS data directory
cub:PATH              CUB_200_2011/ or CUB_200_2011.tgz             PATH when ARG is omitted
imagenet:PATH         the ILSVRC 2012 CLS-LOC (Kaggle LOC) folder    PATH when ARG is omitted
wsol:METADATA_DIR     wsolevaluation metadata (train/, val/, test/)  image root (required)
csv:FILE              one row per box (see `csv_source`)            image root (default: FILE's folder)
synthetic-sequences   (none; feature sequences, the temporal task)  not used
video-features:PATH   one .npy per video + THUMOS14 annotations     not used
====================  ============================================  ================================

The two sequence kinds (`images=False`) load `data.sequences` elements and a `SequenceInfo`; the
image task (`TrainConfig`) refuses them.

Adding a kind is one `register_source(DataSource(...))`: a loader, and optionally an `image_ids`
function and a holdout rule so that evaluation can refuse to choose thresholds on training images.

This module imports no TensorFlow: the training config and the command lines parse specs before
TensorFlow starts. The built-in sources' loaders are named by module and function and imported on
their first call, so a spec's source module (and TensorFlow, and TFDS for "tfds:") loads only when
that spec is loaded.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tensorflow as tf

    from hide_and_seek_tf.data.elements import DatasetInfo

# What `data_dir` means for a kind.
DATA_DIR_UNUSED = "unused"
DATA_DIR_PATH = "path"  # the dataset itself, when the spec has no ARG
DATA_DIR_IMAGES = "images"  # the folder image paths are relative to
DATA_DIR_TFDS = "tfds"  # TFDS's data directory


def _lazy(target: str) -> Callable[..., Any]:
    """`"module:function"` -> a function that imports the module on first call (so that the registry,
    and parsing a spec, import no TensorFlow)."""
    module, _, name = target.partition(":")

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = name
    call.__qualname__ = target
    return call


def holdout_splits(*names: str) -> Callable[[str, str], bool]:
    """A holdout rule: `split` is a holdout when it is one of `names` and not the training split."""
    return lambda split, train_split: split in names and split != train_split


def every_other_split(split: str, train_split: str) -> bool:
    """A holdout rule for user-named splits: every split but the one trained on is guarded."""
    return split != train_split


def _never(split: str, train_split: str) -> bool:
    return False


@dataclasses.dataclass(frozen=True)
class DataSource:
    """One kind of data spec: how to load it and what its splits are.

    Attributes:
        kind: the spec's KIND ("cub").
        form: how the spec is written, for messages ("cub:PATH").
        summary: one line for help texts.
        load: `(spec, split, **options) -> (dataset, DatasetInfo)`; options are `load_dataset`'s
            `classes`, `max_per_class`, `num_images`, `image_size`, `seed`.
        image_ids: `(spec, split, **options) -> ids` of a split without decoding an image (the
            `id` of each element), or None when the kind cannot list them.
        arg: "path" (ARG is a file or folder), "name" (a name, e.g. TFDS's) or None (no ARG).
        data_dir: what `data_dir` means (`DATA_DIR_*`).
        data_dir_required: the kind cannot load without `data_dir`.
        is_holdout: `(split, train_split) -> bool`: splits where CAM thresholds are chosen, which
            must share no image with the training images.
        validation_split: the split monitored during training, or a function `(spec) -> split`
            (None: no validation split).
        images: the kind yields image elements (False: feature sequences, `data.sequences`).
    """

    kind: str
    form: str
    summary: str
    load: Callable[..., Any]
    image_ids: Callable[..., Sequence[str]] | None = None
    arg: str | None = "path"
    data_dir: str = DATA_DIR_PATH
    data_dir_required: bool = False
    is_holdout: Callable[[str, str], bool] = _never
    validation_split: str | Callable[[DataSpec], str | None] | None = "val"
    images: bool = True


#: kind -> source. `register_source` adds one.
SOURCES: dict[str, DataSource] = {}


def register_source(source: DataSource) -> DataSource:
    """Adds (or replaces) a kind of data spec; returns it."""
    if not isinstance(source, DataSource):
        raise TypeError(f"`source` must be a DataSource. Received: source={source!r}")
    SOURCES[_normal_kind(source.kind)] = source
    return source


def spec_forms(images: bool | None = None) -> list[str]:
    """The spec forms, for messages: ["synthetic", "tiny-imagenet:PATH", ...]; with `images`
    True or False, only those of image or of feature-sequence sources."""
    return [s.form for s in SOURCES.values() if images is None or s.images == images]


def _normal_kind(kind: str) -> str:
    return kind.strip().lower().replace("_", "-")


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """A parsed data spec. Build it with `DataSpec.parse`; `str(spec)` is its canonical text.

    Attributes:
        kind: a registered kind ("synthetic", "tiny-imagenet", "tfds", "cub", ...).
        arg: the text after the colon (a path or a name), or None.
        data_dir: see the module docstring (None: not given).
    """

    kind: str
    arg: str | None = None
    data_dir: str | None = None

    @classmethod
    def parse(
        cls,
        spec: Any,
        data_dir: str | os.PathLike | None = None,
        name: str = "data",
        forms: bool | None = None,
    ) -> DataSpec:
        """Parses "KIND" or "KIND:ARG" (a `DataSpec` passes through, `data_dir` filling its own).

        Args:
            spec: the spec text, or a `DataSpec`.
            data_dir: see the module docstring.
            name: the argument's name in error messages ("data" in TrainConfig, "spec" in
                `load_dataset`).
            forms: the forms an error lists: None all, False those of feature sequences (the
                temporal task's), True those of images (`spec_forms`).

        Raises:
            TypeError: `spec` is not a string; ValueError: an unknown kind, a missing ARG or
                `data_dir`, or a `data_dir` the kind does not use. Messages name the argument.
        """
        if isinstance(spec, DataSpec):
            if data_dir is None or spec.data_dir is not None:
                return spec
            return cls.parse(str(spec), data_dir, name, forms)
        if not isinstance(spec, str):
            raise TypeError(
                f"`{name}` must be a string, one of {spec_forms(forms)}. Received: {name}={spec!r}"
            )
        if data_dir is not None and not isinstance(data_dir, str | os.PathLike):
            raise TypeError(
                f"`data_dir` must be None or a path string. Received: data_dir={data_dir!r}"
            )
        data_dir = None if data_dir is None else os.fspath(data_dir)
        kind, sep, arg = spec.partition(":")
        kind = _normal_kind(kind)
        source = SOURCES.get(kind)
        received = f"Received: {name}={spec!r}"
        if source is None or (sep and not arg.strip()):
            raise ValueError(f"`{name}` must be one of {spec_forms(forms)}. {received}")
        if not sep:
            arg = None
        if source.arg is None and arg is not None:
            raise ValueError(f"`{name}` {kind!r} takes no argument. {received}")
        if source.data_dir == DATA_DIR_UNUSED and data_dir is not None:
            raise ValueError(
                f"`data_dir` is not used by `{name}`={spec!r}. Received: data_dir={data_dir!r}"
            )
        if source.arg is not None and arg is None:
            if source.data_dir == DATA_DIR_PATH and data_dir:
                arg, data_dir = data_dir, None  # "tiny-imagenet" + data_dir=PATH
            else:
                raise ValueError(
                    f"`{name}` {kind!r} needs an argument: {source.form!r}"
                    + (" (or the path as `data_dir`)" if source.data_dir == DATA_DIR_PATH else "")
                    + f". {received}, data_dir={data_dir!r}"
                )
        elif source.data_dir_required and data_dir is None:
            raise ValueError(
                f"`{name}`={spec!r} needs `data_dir` ({source.summary}). Received: data_dir=None"
            )
        elif source.data_dir == DATA_DIR_PATH and data_dir is not None:
            raise ValueError(
                f"`{name}`={spec!r} already names its path; `data_dir` would be ignored. "
                f"Received: data_dir={data_dir!r}"
            )
        return cls(kind, arg, data_dir)

    def __str__(self) -> str:
        return self.kind if self.arg is None else f"{self.kind}:{self.arg}"

    # === What the spec refers to ===
    @property
    def source(self) -> DataSource:
        """The registered `DataSource` of this kind."""
        return SOURCES[self.kind]

    @property
    def path(self) -> Path | None:
        """ARG as a path (user-expanded) for kinds whose ARG is a path, else None."""
        if self.source.arg != "path" or self.arg is None:
            return None
        return Path(self.arg).expanduser()

    @property
    def image_root(self) -> Path | None:
        """`data_dir` as a path for kinds where it is the image root, else None."""
        if self.source.data_dir != DATA_DIR_IMAGES or self.data_dir is None:
            return None
        return Path(self.data_dir).expanduser()

    # === Loading ===
    def load(self, split: str, **options: Any) -> tuple[Any, Any]:
        """`load_dataset(self, split, **options)`: (tf.data.Dataset, DatasetInfo)."""
        if not isinstance(split, str) or not split:
            raise ValueError(f"`split` must be a split name. Received: split={split!r}")
        return self.source.load(self, split, **options)

    def image_ids(self, split: str, **options: Any) -> tuple[str, ...] | None:
        """The `id`s of a split's elements, read from the annotations (no image is decoded); None
        when the kind cannot list them. Options as in `load_dataset` (those that select images)."""
        if self.source.image_ids is None:
            return None
        return tuple(self.source.image_ids(self, split, **options))

    def is_holdout(self, split: str, train_split: str = "train") -> bool:
        """Whether `split` is where thresholds are chosen for a model trained on `train_split`."""
        return bool(self.source.is_holdout(split, train_split))

    @property
    def validation_split(self) -> str | None:
        """The split training monitors (None: none)."""
        rule = self.source.validation_split
        return rule(self) if callable(rule) else rule

    def fingerprint(self) -> dict[str, Any]:
        """What the images depend on, for the dataset-statistics cache: the kind, resolved paths
        with their size and modification time, names."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "tfds":
            out["name"], out["data_dir"] = self.arg, self.data_dir
            return out
        for key, path in (("path", self.path), ("data_dir", self.image_root)):
            if path is None:
                continue
            path = path.resolve()
            out[key] = str(path)
            if path.exists():
                stat = path.stat()
                prefix = "" if key == "path" else "data_dir_"
                out[f"{prefix}size"], out[f"{prefix}mtime_ns"] = stat.st_size, stat.st_mtime_ns
        return out


def load_options(options: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """The entries of `options` a loader takes (the others, e.g. `seed`, are not its concern)."""
    return {name: options[name] for name in names if name in options}


# ----------------------------------------------------------------------------------------------
# The built-in sources
# ----------------------------------------------------------------------------------------------


#: Options that select images, taken by every image source.
SELECT_OPTIONS = ("classes", "max_per_class", "num_images")
#: Options of the image checks (`data.checks`), taken by every file source.
CHECK_OPTIONS = ("strict_boxes", "skip_bad_images", "max_image_pixels")


def _tfds_holdout(split: str, train_split: str) -> bool:
    # TFDS's named splits are disjoint; slices of one split ("train[90%:]") may overlap.
    return split != train_split and split.split("[")[0] == train_split.split("[")[0]


def _loader(module: str, name: str) -> Callable[..., Any]:
    return _lazy(f"hide_and_seek_tf.data.{module}:{name}")


register_source(
    DataSource(
        kind="synthetic",
        form="synthetic",
        summary="built-in synthetic objects, rendered on the fly",
        load=_loader("synthetic", "load_synthetic"),
        arg=None,
        data_dir=DATA_DIR_UNUSED,
    )
)
register_source(
    DataSource(
        kind="tiny-imagenet",
        form="tiny-imagenet:PATH",
        summary="tiny-imagenet-200.zip (read in place) or its folder",
        load=_loader("tiny_imagenet", "load_tiny_imagenet_spec"),
        image_ids=_loader("tiny_imagenet", "tiny_imagenet_image_ids"),
        is_holdout=holdout_splits("train_holdout"),
    )
)
register_source(
    DataSource(
        kind="tfds",
        form="tfds:NAME",
        summary="a prepared TFDS dataset with boxes",
        load=_loader("tfds_source", "load_tfds_spec"),
        image_ids=_loader("tfds_source", "tfds_image_ids"),
        arg="name",
        data_dir=DATA_DIR_TFDS,
        is_holdout=_tfds_holdout,
    )
)
register_source(
    DataSource(
        kind="cub",
        form="cub:PATH",
        summary="CUB-200-2011: the CUB_200_2011 folder or CUB_200_2011.tgz (read in place)",
        load=_loader("cub", "load_cub"),
        image_ids=_loader("cub", "cub_image_ids"),
        is_holdout=holdout_splits("train_holdout"),
        validation_split="test",
    )
)
register_source(
    DataSource(
        kind="imagenet",
        form="imagenet:PATH",
        summary="ILSVRC 2012 CLS-LOC in the ImageNet Object Localization Challenge layout",
        load=_loader("imagenet", "load_imagenet"),
        image_ids=_loader("imagenet", "imagenet_image_ids"),
        is_holdout=holdout_splits("train_holdout"),
    )
)
register_source(
    DataSource(
        kind="wsol",
        form="wsol:METADATA_DIR",
        summary="clovaai/wsolevaluation metadata (images under `data_dir`)",
        load=_loader("wsol", "load_wsol"),
        image_ids=_loader("wsol", "wsol_image_ids"),
        data_dir=DATA_DIR_IMAGES,
        data_dir_required=True,
        is_holdout=holdout_splits("val"),
    )
)
register_source(
    DataSource(
        kind="csv",
        form="csv:FILE",
        summary="your own images: one CSV row per box (image,label,x0,y0,x1,y1[,split])",
        load=_loader("csv_source", "load_csv"),
        image_ids=_loader("csv_source", "csv_image_ids"),
        data_dir=DATA_DIR_IMAGES,
        is_holdout=every_other_split,
        validation_split=_loader("csv_source", "csv_validation_split"),
    )
)
register_source(
    DataSource(
        kind="synthetic-sequences",
        form="synthetic-sequences",
        summary="built-in synthetic feature sequences (the temporal task)",
        load=_loader("sequences", "load_sequence_spec"),
        arg=None,
        data_dir=DATA_DIR_UNUSED,
        images=False,
    )
)
register_source(
    DataSource(
        kind="video-features",
        form="video-features:PATH",
        summary="precomputed video features, one .npy per video, THUMOS14-style annotations",
        load=_loader("sequences", "load_sequence_spec"),
        data_dir=DATA_DIR_UNUSED,
        images=False,
    )
)


def load_dataset(
    spec: str | DataSpec,
    split: str,
    *,
    classes: int | Sequence[str] | None = None,
    max_per_class: int | None = None,
    num_images: int | None = None,
    image_size: int | tuple[int, int] | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    strict_boxes: bool = False,
    skip_bad_images: bool = False,
    max_image_pixels: int | None = None,
) -> tuple[tf.data.Dataset, DatasetInfo]:
    """Loads one split of a dataset as unbatched element dicts.

    Args:
        spec: a data spec (see the module docstring and docs/data.md), as text or
            a parsed `DataSpec`: "synthetic" (built-in, rendered on the fly);
            "tiny-imagenet:PATH" (tiny-imagenet-200.zip, read in place, or its folder);
            "tfds:NAME" (a prepared TFDS dataset with boxes); "cub:PATH" (the CUB_200_2011
            folder or .tgz); "imagenet:PATH" (ILSVRC 2012 CLS-LOC, the Kaggle LOC layout);
            "wsol:METADATA_DIR" (wsolevaluation's metadata, images under `data_dir`);
            "csv:FILE" (your own data, one row per box). Feature sequences (videos):
            "synthetic-sequences" and "video-features:PATH" return sequence elements and a
            `SequenceInfo` instead (see `data.sequences.load_sequences`).
        split: the source's split: "train", "val" or "test" as it has them, and for choosing
            thresholds on held-out training images "train_holdout" / "train_minus_holdout"
            (Tiny ImageNet, CUB, ImageNet, CSV).
        classes: None (all), K (the first K classes) or a list of class ids (Tiny ImageNet and
            ImageNet: wnids; CUB: classes.txt names; TFDS, CSV: label names; synthetic: colour
            names). Labels are re-indexed 0 .. K-1.
        max_per_class: keep the first N images of each class (Tiny ImageNet: train splits only).
        num_images: synthetic: how many images to render (default 4000 train / 1000 otherwise);
            other sources: keep the first N examples.
        image_size: synthetic: the side to render (default 48); other sources: None keeps the
            native size, else images are resized to it (boxes scaled).
        seed: synthetic data's seed; the file sources are deterministic and ignore it.
        data_dir: depends on the kind: the TFDS data directory ("tfds:"), the image root
            ("wsol:", "csv:"), or the dataset path of a bare "tiny-imagenet" / "cub" /
            "imagenet".
        strict_boxes: refuse a box that extends past its image instead of clipping it (file
            sources; see `hide_and_seek_tf.data.checks`).
        skip_bad_images: leave unreadable images out (counted in `info.num_skipped_images`)
            instead of refusing them (file sources).
        max_image_pixels: refuse, from its header, an image of more pixels than this (default
            `checks.MAX_IMAGE_PIXELS`, or $HIDE_AND_SEEK_MAX_IMAGE_PIXELS).

    Returns:
        (dataset, info): elements {"image": uint8 (H, W, 3), "label": int32 (), "boxes": float32
        (n, 4) inclusive x0, y0, x1, y1, "id": string ()}; `info` a `DatasetInfo`.

    Raises:
        ValueError: an unknown spec or split, a dataset that is missing or not prepared, a
            malformed annotation (naming its file and line), an unreadable image or a box
            entirely outside its image (naming the file and annotation line; file sources check
            every selected image's header before returning), bad options; TypeError: an argument
            of the wrong type. Messages name the argument.

    Example:
        >>> ds, info = load_dataset("tiny-imagenet:~/data/tiny-imagenet-200.zip", "train",
        ...                         classes=20, max_per_class=100)
        >>> info.num_classes, info.num_examples
        (20, 2000)
    """
    parsed = DataSpec.parse(spec, data_dir=data_dir, name="spec")
    return parsed.load(
        split,
        classes=classes,
        max_per_class=max_per_class,
        num_images=num_images,
        image_size=image_size,
        seed=seed,
        strict_boxes=strict_boxes,
        skip_bad_images=skip_bad_images,
        max_image_pixels=max_image_pixels,
    )


__all__ = [
    "DATA_DIR_IMAGES",
    "DATA_DIR_PATH",
    "DATA_DIR_TFDS",
    "DATA_DIR_UNUSED",
    "CHECK_OPTIONS",
    "SELECT_OPTIONS",
    "DataSource",
    "DataSpec",
    "SOURCES",
    "every_other_split",
    "holdout_splits",
    "load_dataset",
    "load_options",
    "register_source",
    "spec_forms",
]
