"""Tiny ImageNet (Stanford CS231n) read from the official `tiny-imagenet-200.zip` or its folder.

Layout (inside the zip, or under the folder)::

    tiny-imagenet-200/wnids.txt                      class order, one wnid per line
    tiny-imagenet-200/words.txt                      wnid<TAB>names (first synonym = class name)
    tiny-imagenet-200/train/<wnid>/<wnid>_boxes.txt  <file>\\t<x0>\\t<y0>\\t<x1>\\t<y1>
    tiny-imagenet-200/train/<wnid>/images/<wnid>_<i>.JPEG
    tiny-imagenet-200/val/val_annotations.txt        <file>\\t<wnid>\\t<x0>\\t<y0>\\t<x1>\\t<y1>
    tiny-imagenet-200/val/images/val_<i>.JPEG

Boxes are inclusive pixel corners (not x, y, w, h). Annotations are parsed once in Python (setup),
and every selected image's header is read and checked (`data.checks`: unreadable images, corrupt
zip entries, boxes past the image); image bytes are then read by tf.data (zip: one Python reader of stored members; folder:
`tf.io.read_file`) and decoded to 3 channels in a parallel map (about 2% of the JPEGs are
grayscale).

Splits:
    "train": every train image (index-interleaved across classes, see below).
    "val": the official val split (50 per class), in file order.
    "train_holdout": the last `HOLDOUT_PER_CLASS` train images of each class by image index,
        for choosing CAM thresholds on held-out train images (Choe et al., CVPR 2020), never on val.
    "train_minus_holdout": "train" without those images; train on this when using "train_holdout".

Train images are ordered index-major (image 0 of every class, then image 1, ...) so that any prefix,
and any shuffle-buffer window, is class-balanced.
"""

from __future__ import annotations

import dataclasses
import os
import re
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from hide_and_seek_tf.data.checks import (
    BadImage,
    CheckedImages,
    ImageEntry,
    ImageHeader,
    check_images,
    files_key,
    header_of_bytes,
    header_of_file,
)
from hide_and_seek_tf.data.elements import (
    DatasetInfo,
    check_count,
    parse_image_size,
    resize_element,
    resolve_classes,
)
from hide_and_seek_tf.data.file_records import file_stamp
from hide_and_seek_tf.data.sources import CHECK_OPTIONS, SELECT_OPTIONS, load_options

IMAGE_SIZE: tuple[int, int] = (64, 64)
HOLDOUT_PER_CLASS: int = 10
SPLITS: tuple[str, ...] = ("train", "val", "train_holdout", "train_minus_holdout")
_ROOT_NAME = "tiny-imagenet-200"
_TRAIN_NAME = re.compile(r"^(n\d+)_(\d+)\.JPEG$")


@dataclasses.dataclass(frozen=True)
class TinyImageNetIndex:
    """The parsed annotations of one split: what to read, with labels and boxes.

    Attributes:
        source: the zip file or the dataset folder (the one holding wnids.txt).
        is_zip: whether `source` is a zip file.
        wnids: WordNet id per label, in label order.
        class_names: human-readable name per label.
        members: per example, the image's path relative to the dataset root
            (e.g. "val/images/val_0.JPEG").
        labels: int32 (N,).
        boxes: float32 (N, 4) inclusive x0, y0, x1, y1 (one box per image).
        ids: per example, the image file name ("n01443537_0.JPEG", "val_0.JPEG").
        wheres: per example, the annotation line that lists it ("FILE line N").
    """

    source: Path
    is_zip: bool
    wnids: tuple[str, ...]
    class_names: tuple[str, ...]
    members: tuple[str, ...]
    labels: np.ndarray
    boxes: np.ndarray
    ids: tuple[str, ...]
    wheres: tuple[str, ...] = ()
    root: str = ""  # folder inside the zip that holds wnids.txt, with a trailing "/" (or "")

    def location(self, member: str) -> str:
        """Where an image lives, for error messages and `tf.io.read_file`."""
        if self.is_zip:
            return f"{self.source}:{self.root}{member}"
        return str(self.source / member)


class _Archive:
    """Text of a Tiny ImageNet zip (read in place) or folder, by root-relative path."""

    def __init__(self, path: Path):
        self.path = path
        self.is_zip = path.is_file()
        if self.is_zip:
            try:
                self._zip = zipfile.ZipFile(path)
            except zipfile.BadZipFile as err:
                raise ValueError(f"Not a readable zip file: {path} ({err})") from err
            names = self._zip.namelist()
            roots = sorted(
                (n[: -len("wnids.txt")] for n in names if n.split("/")[-1] == "wnids.txt"), key=len
            )
            if not roots:
                raise ValueError(f"No wnids.txt in {path}: not a Tiny ImageNet zip.")
            self.root = roots[0]
            self._names = {n[len(self.root) :] for n in names if n.startswith(self.root)}
            self._dirs: dict[str, set[str]] = {}
            for name in self._names:
                folder, _, base = name.rpartition("/")
                self._dirs.setdefault(folder, set()).add(base)
        else:
            if not (path / "wnids.txt").is_file() and (path / _ROOT_NAME / "wnids.txt").is_file():
                path = path / _ROOT_NAME
            if not (path / "wnids.txt").is_file():
                raise ValueError(
                    f"No wnids.txt in {path} (nor in {path / _ROOT_NAME}): not a Tiny ImageNet "
                    "folder. Pass the tiny-imagenet-200.zip file or its extracted folder."
                )
            self.path = path
            self.root = ""
            self._names = None

    def location(self, rel: str) -> str:
        return f"{self.path}:{self.root}{rel}" if self.is_zip else str(self.path / rel)

    def exists(self, rel: str) -> bool:
        if self.is_zip:
            return rel in self._names
        return (self.path / rel).is_file()

    def list_dir(self, rel: str) -> set[str]:
        """File names directly under folder `rel`."""
        if self.is_zip:
            return self._dirs.get(rel.rstrip("/"), set())
        folder = self.path / rel
        return set(os.listdir(folder)) if folder.is_dir() else set()

    def read_text(self, rel: str) -> str:
        if not self.exists(rel):
            raise FileNotFoundError(
                f"Missing {self.location(rel)}: not a complete Tiny ImageNet copy."
            )
        if self.is_zip:
            return self._zip.read(self.root + rel).decode("utf-8-sig")
        return (self.path / rel).read_text(encoding="utf-8-sig")

    def close(self) -> None:
        if self.is_zip:
            self._zip.close()


def _parse_line(line: str, n_fields: int, where: str, layout: str) -> list[str]:
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) != n_fields:
        raise ValueError(f"Malformed annotation at {where}: expected {layout}. Received: {line!r}")
    return fields


def _parse_box(fields: Sequence[str], line: str, where: str, layout: str) -> tuple[int, ...]:
    try:
        x0, y0, x1, y1 = (int(f) for f in fields)
    except ValueError:
        raise ValueError(
            f"Malformed annotation at {where}: expected {layout} with integer corners. "
            f"Received: {line!r}"
        ) from None
    if not (x0 <= x1 and y0 <= y1):
        raise ValueError(
            f"Malformed annotation at {where}: the box must satisfy x0 <= x1 and y0 <= y1 "
            f"(inclusive corners). Received: {line!r}"
        )
    return x0, y0, x1, y1


def _class_names(archive: _Archive, wnids: Sequence[str]) -> tuple[str, ...]:
    if not archive.exists("words.txt"):
        return tuple(wnids)
    wanted = set(wnids)
    names = {}
    for line in archive.read_text("words.txt").splitlines():
        wnid, _, words = line.partition("\t")
        if wnid in wanted:
            names[wnid] = words.split(",")[0].strip() or wnid
    return tuple(names.get(w, w) for w in wnids)


def read_tiny_imagenet_index(
    path: str | os.PathLike,
    split: str,
    *,
    classes: int | Sequence[str] | None = None,
    max_per_class: int | None = None,
    num_images: int | None = None,
) -> TinyImageNetIndex:
    """Parses Tiny ImageNet's annotations for one split (no image is decoded).

    Args:
        path: `tiny-imagenet-200.zip`, the extracted `tiny-imagenet-200` folder, or its parent.
        split: one of `SPLITS` ("train", "val", "train_holdout", "train_minus_holdout").
        classes: None (all 200), K (the first K wnids of wnids.txt), or a list of wnids. Labels
            are re-indexed 0 .. K-1 in that order.
        max_per_class: keep only the first N images of each class by image index (train splits only;
            "val" keeps all 50 per class).
        num_images: keep only the first N examples of the resulting order.

    Returns:
        A `TinyImageNetIndex`.

    Raises:
        ValueError: unknown split or class, a path that is not Tiny ImageNet, a malformed annotation
            line (the message names the file and line), an image listed but missing.
        FileNotFoundError: `path` does not exist.
    """
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {list(SPLITS)}. Received: split={split!r}")
    max_per_class = check_count(max_per_class, "max_per_class")
    num_images = check_count(num_images, "num_images")
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"Tiny ImageNet not found at {path}.")
    archive = _Archive(path)
    try:
        all_wnids = [w.strip() for w in archive.read_text("wnids.txt").splitlines() if w.strip()]
        kept = resolve_classes(all_wnids, classes, archive.location("wnids.txt"))
        wnids = tuple(all_wnids[i] for i in kept)
        label_of = {w: i for i, w in enumerate(wnids)}
        if split == "val":
            records = _val_records(archive, label_of, all_wnids)
        else:
            records = _train_records(archive, wnids, split, max_per_class)
        if num_images is not None:
            records = records[:num_images]
        class_names = _class_names(archive, wnids)
    finally:
        archive.close()
    if not records:
        raise ValueError(f"No images in split {split!r} of {path} for classes={classes!r}.")
    members, labels, boxes, ids, wheres = zip(*records, strict=True)
    return TinyImageNetIndex(
        source=archive.path,
        is_zip=archive.is_zip,
        wnids=wnids,
        class_names=class_names,
        members=members,
        labels=np.asarray(labels, np.int32),
        boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
        ids=ids,
        wheres=wheres,
        root=archive.root,
    )


def _val_records(archive: _Archive, label_of: dict, all_wnids: Sequence[str]) -> list[tuple]:
    rel = "val/val_annotations.txt"
    layout = "'<file>\\t<wnid>\\t<x0>\\t<y0>\\t<x1>\\t<y1>'"
    known = set(all_wnids)
    present = archive.list_dir("val/images")
    records = []
    for lineno, line in enumerate(archive.read_text(rel).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{archive.location(rel)} line {lineno}"
        fields = _parse_line(line, 6, where, layout)
        name, wnid = fields[0], fields[1]
        if wnid not in known:
            raise ValueError(f"Malformed annotation at {where}: wnid {wnid!r} is not in wnids.txt.")
        box = _parse_box(fields[2:], line, where, layout)
        if wnid not in label_of:
            continue
        if name not in present:
            raise ValueError(
                f"{where} lists {name!r}, missing from {archive.location('val/images')}."
            )
        records.append((f"val/images/{name}", label_of[wnid], box, name, where))
    return records


def _train_records(
    archive: _Archive, wnids: Sequence[str], split: str, max_per_class: int | None
) -> list[tuple]:
    layout = "'<file>\\t<x0>\\t<y0>\\t<x1>\\t<y1>'"
    per_class = []
    for label, wnid in enumerate(wnids):
        rel = f"train/{wnid}/{wnid}_boxes.txt"
        present = archive.list_dir(f"train/{wnid}/images")
        entries = []
        for lineno, line in enumerate(archive.read_text(rel).splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{archive.location(rel)} line {lineno}"
            fields = _parse_line(line, 5, where, layout)
            match = _TRAIN_NAME.match(fields[0])
            if not match or match.group(1) != wnid:
                raise ValueError(
                    f"Malformed annotation at {where}: expected a file name '{wnid}_<i>.JPEG'. "
                    f"Received: {line!r}"
                )
            box = _parse_box(fields[1:], line, where, layout)
            if fields[0] not in present:
                raise ValueError(
                    f"{where} lists {fields[0]!r}, missing from "
                    f"{archive.location(f'train/{wnid}/images')}."
                )
            entries.append((int(match.group(2)), fields[0], box, where))
        entries.sort()
        if split == "train_holdout":
            entries = entries[-HOLDOUT_PER_CLASS:]
        elif split == "train_minus_holdout":
            entries = entries[:-HOLDOUT_PER_CLASS]
        if max_per_class is not None:
            entries = entries[:max_per_class]
        per_class.append(
            [
                (f"train/{wnid}/images/{name}", label, box, name, where)
                for _, name, box, where in entries
            ]
        )
    # Index-major interleave: image k of every class before image k + 1 of any.
    longest = max((len(c) for c in per_class), default=0)
    return [c[k] for k in range(longest) for c in per_class if k < len(c)]


def _zip_bytes(source: Path, names: Sequence[str], chunk: int = 256) -> tf.data.Dataset:
    """Bytes of zip members in order. Members of the official zip are stored (not compressed).

    The generator yields chunks: one Python call per image would cost more than reading it.
    """

    def generate():
        with zipfile.ZipFile(source) as zf:
            for start in range(0, len(names), chunk):
                yield [zf.read(name) for name in names[start : start + chunk]]

    ds = tf.data.Dataset.from_generator(
        generate, output_signature=tf.TensorSpec((None,), tf.string)
    )
    return ds.unbatch()


def _decode(meta: dict, data: tf.Tensor) -> dict:
    # Checked from their headers before (`_check`): every image is a complete 64 x 64 JPEG.
    image = tf.io.decode_jpeg(data, channels=3)
    return {"image": tf.ensure_shape(image, (*IMAGE_SIZE, 3)), **meta}


def _header_reader(index: TinyImageNetIndex):
    """(`header_of(i)` for image i of `index`, a function that closes what it opened)."""
    if not index.is_zip:
        return (lambda i: header_of_file(index.source / index.members[i])), lambda: None
    zf = zipfile.ZipFile(index.source)

    def header_of(i: int) -> ImageHeader:
        try:
            data = zf.read(index.root + index.members[i])  # checks the member's CRC
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as err:
            raise BadImage(f"corrupt zip entry ({err})") from None
        return header_of_bytes(data)

    return header_of, zf.close


def _check(index: TinyImageNetIndex, options: dict) -> tuple[TinyImageNetIndex, CheckedImages]:
    """The index without the images `checks.check_images` skips, boxes clipped; refuses an image
    that is not 64 x 64 (naming it)."""
    entries = [
        ImageEntry(index.location(m), i, w, [tuple(float(v) for v in box)])
        for m, i, w, box in zip(index.members, index.ids, index.wheres, index.boxes, strict=True)
    ]
    if index.is_zip:
        key = (file_stamp(index.source), index.root, index.members)
    else:
        key = files_key([index.source / m for m in index.members])
    header_of, close = _header_reader(index)
    try:
        checked = check_images(
            entries,
            header_of,
            source=f"tiny-imagenet:{index.source}",
            cache_key=key,
            **options,
        )

    finally:
        close()
    for i, (width, height) in zip(checked.kept, checked.sizes, strict=True):
        if (height, width) != IMAGE_SIZE:
            raise ValueError(
                f"Image {entries[i].location} (listed at {entries[i].where}) is {width} x "
                f"{height}: Tiny ImageNet images are {IMAGE_SIZE[1]} x {IMAGE_SIZE[0]}."
            )
    kept = list(checked.kept)
    index = dataclasses.replace(
        index,
        members=tuple(index.members[i] for i in kept),
        labels=index.labels[kept],
        boxes=np.asarray([b for boxes in checked.boxes for b in boxes], np.float32).reshape(-1, 4),
        ids=tuple(index.ids[i] for i in kept),
        wheres=tuple(index.wheres[i] for i in kept),
    )
    return index, checked


def load_tiny_imagenet(
    path: str | os.PathLike,
    split: str,
    *,
    classes: int | Sequence[str] | None = None,
    max_per_class: int | None = None,
    num_images: int | None = None,
    image_size: int | tuple[int, int] | None = None,
    strict_boxes: bool = False,
    skip_bad_images: bool = False,
    max_image_pixels: int | None = None,
) -> tuple[tf.data.Dataset, DatasetInfo]:
    """Tiny ImageNet as a tf.data.Dataset of element dicts, read from the zip or its folder.

    Args:
        path: `tiny-imagenet-200.zip` (read in place, no unzip), the extracted `tiny-imagenet-200`
            folder, or its parent.
        split: "train", "val", "train_holdout" or "train_minus_holdout" (see the module docstring).
        classes: None (all 200), K (the first K wnids of wnids.txt) or a list of wnids; labels are
            re-indexed 0 .. K-1 in that order.
        max_per_class: cap on images per class (first N by image index) for train splits.
        num_images: cap on the total (first N of the split's order).
        image_size: None keeps 64 x 64; else resize to it (int S or (H, W)), boxes scaled.
        strict_boxes, skip_bad_images, max_image_pixels: the checks' settings (`data.checks`):
            every image's header is read before the dataset is returned.

    Returns:
        (dataset, info). Elements: {"image": uint8 (64, 64, 3), "label": int32 (), "boxes": float32
        (1, 4) inclusive x0, y0, x1, y1, "id": string file name}. `info.class_names` holds the first
        WordNet synonym of each class, `info.wnids` the wnids.

    Raises:
        ValueError / TypeError / FileNotFoundError: see `read_tiny_imagenet_index`; and, naming
            the file and its annotation line, an unreadable image (not a JPEG, truncated, a
            corrupt zip entry; unless `skip_bad_images`), an image that is not 64 x 64, a box
            entirely outside its image (see `data.checks`). Damage inside a JPEG that keeps both
            markers still gets TensorFlow's own decode error while iterating.

    Example:
        >>> ds, info = load_tiny_imagenet("tiny-imagenet-200.zip", "train", classes=10,
        ...                               max_per_class=100)
        >>> info.num_examples
        1000
    """
    size = None if image_size is None else parse_image_size(image_size)
    index = read_tiny_imagenet_index(
        path, split, classes=classes, max_per_class=max_per_class, num_images=num_images
    )
    index, checked = _check(
        index,
        {
            "strict_boxes": strict_boxes,
            "skip_bad_images": skip_bad_images,
            "max_pixels": max_image_pixels,
        },
    )
    meta = tf.data.Dataset.from_tensor_slices(
        {
            "label": index.labels,
            "boxes": index.boxes[:, None, :],
            "id": list(index.ids),
        }
    )
    if index.is_zip:
        data = _zip_bytes(index.source, [index.root + m for m in index.members])
    else:
        files = [str(index.source / m) for m in index.members]
        data = tf.data.Dataset.from_tensor_slices(files).map(
            tf.io.read_file, num_parallel_calls=tf.data.AUTOTUNE
        )
    ds = tf.data.Dataset.zip(meta, data).map(_decode, num_parallel_calls=tf.data.AUTOTUNE)
    if size is not None:
        ds = ds.map(lambda e: resize_element(e, size), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.apply(tf.data.experimental.assert_cardinality(len(index.members)))
    info = DatasetInfo(
        name="tiny_imagenet",
        num_classes=len(index.wnids),
        class_names=index.class_names,
        image_size=size or IMAGE_SIZE,
        num_examples=len(index.members),
        wnids=index.wnids,
        **checked.info_fields(),
    )
    return ds, info


def load_tiny_imagenet_spec(
    spec: Any, split: str, **options: Any
) -> tuple[tf.data.Dataset, DatasetInfo]:
    """`load_tiny_imagenet` for a `DataSpec` "tiny-imagenet:PATH" (the source of `load_dataset`);
    options as `load_dataset`'s, those that do not apply ignored."""
    return load_tiny_imagenet(
        spec.path, split, **load_options(options, *SELECT_OPTIONS, "image_size", *CHECK_OPTIONS)
    )


def tiny_imagenet_image_ids(spec: Any, split: str, **options: Any) -> tuple[str, ...]:
    """The ids of a split of "tiny-imagenet:PATH", from the annotations alone."""
    return read_tiny_imagenet_index(spec.path, split, **load_options(options, *SELECT_OPTIONS)).ids
