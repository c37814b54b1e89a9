"""What the file sources (CUB, ImageNet, wsolevaluation metadata, CSV) share.

Each source parses its annotations once in Python into `Record`s (what to read, its label and
boxes, and which annotation line listed it), selects a split with the helpers here, checks the
selected images with `check_records` (their headers read in Python: bad images, decompression
bombs, boxes past the image clipped and counted; see `checks`) and hands the records to
`records_dataset`, which reads the bytes in tf.data (`tf.io.read_file`, parallel; or one streaming
reader of a .tgz) and decodes them in a parallel map: JPEG, PNG, GIF and BMP by content, whatever
the file's extension (a few ILSVRC ".JPEG" files are PNGs); CMYK and grayscale JPEGs come out RGB
(TensorFlow's libjpeg converts CMYK).

Boxes are inclusive pixel corners (x0, y0, x1, y1), x0 <= x1 and y0 <= y1 when parsed; whether
they fit their image is decided by `checks.check_images`, once the image's size is known.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import tarfile
from collections.abc import Callable, Iterable, Sequence
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
    round_half_up,
)

#: Ids of box-less images kept in `DatasetInfo.without_boxes` (the count is exact).
EXAMPLES_KEPT = 5


@dataclasses.dataclass(slots=True)
class Record:
    """One image of a split.

    Attributes:
        path: where the bytes are: relative to the image root (folder) or a member name (.tgz).
        label: the original label (index into the source's class list).
        boxes: inclusive x0, y0, x1, y1 boxes (possibly none).
        id: the element's `id` (unique within the source).
        where: the annotation that listed it, "FILE line N", for error messages.
        size: (width, height) the metadata states, or None.
        key: sort key within its class (e.g. the image index), for holdout selection.
        box_lines: per box, (where, line) of the annotation that gave it, or None (`where`).
        size_where: the annotation that states `size`, or None (`where`).
    """

    path: str
    label: int
    boxes: list[tuple[float, float, float, float]]
    id: str
    where: str
    size: tuple[int, int] | None = None
    key: Any = None
    box_lines: list[tuple[str, str]] | None = None
    size_where: str | None = None


# ----------------------------------------------------------------------------------------------
# Parsing helpers
# ----------------------------------------------------------------------------------------------


def annotation_error(where: str, expected: str, line: str) -> ValueError:
    """The error of a malformed annotation line: names the file and line, shows what was read."""
    return ValueError(f"Malformed annotation at {where}: expected {expected}. Received: {line!r}")


def parse_numbers(fields: Sequence[str], where: str, expected: str, line: str) -> list[float]:
    """Floats of `fields`, finite; raises `annotation_error` otherwise."""
    try:
        values = [float(f) for f in fields]
    except ValueError:
        raise annotation_error(where, expected, line) from None
    if not all(math.isfinite(v) for v in values):
        raise annotation_error(where, expected, line)
    return values


def corner_box(values: Sequence[float], where: str, line: str) -> tuple[float, float, float, float]:
    """Inclusive corners x0, y0, x1, y1 (rounded half up) with x0 <= x1 and y0 <= y1. Whether the
    box fits its image is checked once the image's size is known (`checks.check_images`).

    Raises:
        ValueError: an inverted (empty) box, naming `where` and echoing `line`.
    """
    x0, y0, x1, y1 = (round_half_up(v) for v in values)
    if not (x0 <= x1 and y0 <= y1):
        raise ValueError(
            f"Malformed annotation at {where}: the box must satisfy x0 <= x1 and y0 <= y1 "
            f"(inclusive corners). Received: {line!r}"
        )
    return x0, y0, x1, y1


def check_present(records: Sequence[Record], present: Callable[[str], bool], where: str) -> None:
    """Raises naming the annotation line of the first record whose image is not `present`."""
    for record in records:
        if not present(record.path):
            raise ValueError(f"{record.where} lists {record.path!r}, missing from {where}.")


class FolderListing:
    """Whether files exist under a root, by relative path; one `os.listdir` per folder asked."""

    def __init__(self, root: Path):
        self.root = root
        self._folders: dict[str, set[str]] = {}

    def __call__(self, rel: str) -> bool:
        folder, _, name = rel.rpartition("/")
        if folder not in self._folders:
            path = self.root / folder
            self._folders[folder] = set(os.listdir(path)) if path.is_dir() else set()
        return name in self._folders[folder]


def file_stamp(path: Path) -> tuple[str, int, int]:
    """(resolved path, size, mtime): a cache key that changes when the file does."""
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


# ----------------------------------------------------------------------------------------------
# Splits and selections
# ----------------------------------------------------------------------------------------------


def by_class(records: Iterable[Record], num_classes: int) -> list[list[Record]]:
    """Records grouped by label, in their order."""
    groups: list[list[Record]] = [[] for _ in range(num_classes)]
    for record in records:
        groups[record.label].append(record)
    return groups


def split_holdout(
    groups: Sequence[Sequence[Record]], split: str, per_class: int, boxed_only: bool = False
) -> list[list[Record]]:
    """`train_holdout`: the last `per_class` records of each class by `key`; `train_minus_holdout`:
    the others; any other split: all of them. With `boxed_only`, the holdout is drawn from records
    with boxes (thresholds need boxes), and the box-less ones all stay in `train_minus_holdout`.
    """
    if split not in ("train_holdout", "train_minus_holdout"):
        return [list(g) for g in groups]
    out = []
    for group in groups:
        ordered = sorted(group, key=lambda r: r.key)
        candidates = [r for r in ordered if r.boxes] if boxed_only else ordered
        held = {id(r) for r in candidates[-per_class:]} if per_class else set()
        keep = split == "train_holdout"
        out.append([r for r in ordered if (id(r) in held) == keep])
    return out


def select(
    records: Sequence[Record],
    class_ids: Sequence[str],
    *,
    classes: Any,
    max_per_class: int | None,
    where: str,
) -> tuple[list[list[Record]], tuple[int, ...]]:
    """Keeps the records of the selected classes, relabelled 0 .. K-1, grouped by new label, each
    group capped at `max_per_class` (its first N). Returns (groups, kept original labels)."""
    kept = resolve_classes(class_ids, classes, where)
    max_per_class = check_count(max_per_class, "max_per_class")
    new_label = {old: new for new, old in enumerate(kept)}
    groups: list[list[Record]] = [[] for _ in kept]
    for record in records:
        new = new_label.get(record.label)
        if new is not None:
            groups[new].append(dataclasses.replace(record, label=new))
    if max_per_class is not None:
        groups = [g[:max_per_class] for g in groups]
    return groups, kept


def interleave(groups: Sequence[Sequence[Record]]) -> list[Record]:
    """Image k of every class before image k + 1 of any: every prefix is class-balanced (and a
    shuffle buffer smaller than the split still sees every class)."""
    longest = max((len(g) for g in groups), default=0)
    return [g[k] for k in range(longest) for g in groups if k < len(g)]


def cap(records: Sequence[Record], num_images: int | None) -> list[Record]:
    """The first `num_images` records (all when None)."""
    num_images = check_count(num_images, "num_images")
    return list(records if num_images is None else records[:num_images])


# ----------------------------------------------------------------------------------------------
# Reading and decoding
# ----------------------------------------------------------------------------------------------


def _tar_bytes(archive: Path, members: Sequence[str], chunk: int = 64) -> tf.data.Dataset:
    """Bytes of `members` of a (gzipped) tar, in the archive's order, streamed in one pass.

    `members` must be in the archive's order (see `TarIndex.order`). The generator yields chunks:
    one Python call per image would cost more than reading it.
    """

    def generate():
        wanted = iter(members)
        target = next(wanted, None)
        batch = []
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                if target is None:
                    break
                if member.name != target:
                    continue
                batch.append(tar.extractfile(member).read())
                target = next(wanted, None)
                if len(batch) == chunk:
                    yield batch
                    batch = []
        if batch:
            yield batch
        if target is not None:
            raise ValueError(f"{archive} ended before {target!r}: the archive changed or is cut.")

    ds = tf.data.Dataset.from_generator(
        generate, output_signature=tf.TensorSpec((None,), tf.string)
    )
    return ds.unbatch()


@dataclasses.dataclass(frozen=True)
class TarIndex:
    """The members of a tar archive: names in archive order, the text files asked for, and the
    header (or why it is bad) of every member named like an image."""

    path: Path
    order: dict[str, int]
    texts: dict[str, str]
    headers: dict[str, ImageHeader | BadImage] = dataclasses.field(default_factory=dict)


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")


@functools.lru_cache(maxsize=4)
def _read_tar_index(stamp: tuple[str, int, int], text_names: tuple[str, ...]) -> TarIndex:
    path = Path(stamp[0])
    order: dict[str, int] = {}
    texts: dict[str, str] = {}
    headers: dict[str, ImageHeader | BadImage] = {}
    wanted = set(text_names)
    try:
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                order[member.name] = len(order)
                if member.name.rsplit("/", 1)[-1] in wanted:
                    texts[member.name] = tar.extractfile(member).read().decode("utf-8-sig")
                elif member.name.lower().endswith(IMAGE_EXTENSIONS):
                    # The stream is decompressed anyway: the headers cost no extra pass.
                    try:
                        headers[member.name] = header_of_bytes(tar.extractfile(member).read())
                    except BadImage as err:
                        headers[member.name] = err
    except (tarfile.TarError, EOFError, OSError) as err:
        raise ValueError(f"Not a readable tar archive: {path} ({err})") from err
    return TarIndex(path, order, texts, headers)


def read_tar_index(path: Path, text_names: Sequence[str]) -> TarIndex:
    """Lists a tar(.gz) archive once (cached while the file is unchanged), keeping the text of
    members whose base name is in `text_names` and the headers of the images."""
    return _read_tar_index(file_stamp(path), tuple(sorted(text_names)))


def decode_image(data: tf.Tensor) -> tf.Tensor:
    """Decodes one image (JPEG, PNG, GIF, BMP by content) to uint8 (H, W, 3). The files were
    checked from their headers before (`check_records`): no check runs here."""
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    return tf.ensure_shape(image, (None, None, 3))


def _decode(meta: dict[str, tf.Tensor], data: tf.Tensor) -> dict[str, tf.Tensor]:
    return {"image": decode_image(data), **meta}


def check_records(
    records: Sequence[Record],
    options: dict[str, Any],
    *,
    source: str,
    root: Path | None = None,
    archive: TarIndex | None = None,
) -> tuple[list[Record], CheckedImages]:
    """Checks the images of `records` from their headers (`checks.check_images`): returns the
    records kept, their boxes clipped to their images, and the check's result.

    Args:
        records: the split (paths relative to `root`, or member names of `archive`).
        options: the load options; `strict_boxes`, `skip_bad_images`, `max_image_pixels` apply.
        source: the spec, for messages.
        root / archive: where the images are (exactly one).

    Raises:
        ValueError: one line naming the file and annotation line (see `checks.check_images`).
    """
    if archive is not None:
        location = f"{archive.path}:{{}}"

        def header_of(i: int) -> ImageHeader:
            found = archive.headers.get(records[i].path)
            if isinstance(found, BadImage):
                raise found
            if found is None:  # a member not named like an image: read it once
                raise BadImage("not named like an image (.jpg, .jpeg, .png, .gif, .bmp)")
            return found

    else:
        location = f"{root}{os.sep}{{}}"

        def header_of(i: int) -> ImageHeader:
            return header_of_file(root / records[i].path)

    entries = [
        ImageEntry(
            location.format(r.path), r.id, r.where, r.boxes, r.box_lines, r.size, r.size_where
        )
        for r in records
    ]
    checked = check_images(
        entries,
        header_of,
        source=source,
        strict_boxes=bool(options.get("strict_boxes")),
        skip_bad_images=bool(options.get("skip_bad_images")),
        max_pixels=options.get("max_image_pixels"),
        cache_key=None if root is None else files_key([root / r.path for r in records]),
    )
    kept = [
        dataclasses.replace(records[i], boxes=boxes, size=size)
        for i, boxes, size in zip(checked.kept, checked.boxes, checked.sizes, strict=True)
    ]
    return kept, checked


def records_dataset(
    records: Sequence[Record],
    *,
    root: Path | None = None,
    archive: Path | None = None,
    image_size: int | tuple[int, int] | None = None,
) -> tf.data.Dataset:
    """Element dicts of `records`, read from files under `root` or from a tar `archive`.

    Args:
        records: the split, in order (for an archive: in the archive's order), as
            `check_records` returned them (the images were checked, the boxes fit them).
        root: folder that `Record.path` is relative to.
        archive: a tar(.gz) whose member names are the `Record.path`s (read in one pass).
        image_size: None keeps each image's size; else resize (boxes scaled).

    Returns:
        tf.data.Dataset of {"image": uint8 (H, W, 3), "label": int32, "boxes": float32 (n, 4),
        "id": string}; n may be 0 for an image without a box.
    """
    if (root is None) == (archive is None):
        raise ValueError("Give exactly one of `root` and `archive`.")
    counts = np.asarray([len(r.boxes) for r in records], np.int64)
    flat = np.asarray([b for r in records for b in r.boxes], np.float32).reshape(-1, 4)
    meta = tf.data.Dataset.from_tensor_slices(
        {
            "label": np.asarray([r.label for r in records], np.int32),
            "boxes": tf.RaggedTensor.from_row_lengths(flat, counts),
            "id": [r.id for r in records],
        }
    )
    if archive is not None:
        data = _tar_bytes(archive, [r.path for r in records])
    else:
        files = tf.constant([str(root / r.path) for r in records], tf.string)
        data = tf.data.Dataset.from_tensor_slices(files).map(
            tf.io.read_file, num_parallel_calls=tf.data.AUTOTUNE
        )
    ds = tf.data.Dataset.zip(meta, data).map(_decode, num_parallel_calls=tf.data.AUTOTUNE)
    if image_size is not None:
        size = parse_image_size(image_size)
        ds = ds.map(lambda e: resize_element(e, size), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.apply(tf.data.experimental.assert_cardinality(len(records)))


def dataset_info(
    name: str,
    records: Sequence[Record],
    class_ids: Sequence[str],
    class_names: Sequence[str],
    kept: Sequence[int],
    image_size: int | tuple[int, int] | None,
    checked: CheckedImages | None = None,
) -> DatasetInfo:
    """The `DatasetInfo` of a split of a file source (sizes vary unless `image_size` is given),
    with what `check_records` clipped and skipped."""
    without = [r.id for r in records if not r.boxes]
    ids = tuple(class_ids[i] for i in kept)
    names = tuple(class_names[i] for i in kept)
    return DatasetInfo(
        name=name,
        num_classes=len(kept),
        class_names=names,
        image_size=None if image_size is None else parse_image_size(image_size),
        num_examples=len(records),
        wnids=ids if ids != names else None,
        max_boxes=max((len(r.boxes) for r in records), default=0),
        num_without_boxes=len(without),
        without_boxes=tuple(without[:EXAMPLES_KEPT]),
        **(checked.info_fields() if checked is not None else {}),
    )


def no_images_error(split: str, source: Any, classes: Any) -> ValueError:
    """The error of a selection that leaves no image."""
    return ValueError(f"No images in split {split!r} of {source} for classes={classes!r}.")


__all__ = [
    "FolderListing",
    "Record",
    "TarIndex",
    "annotation_error",
    "by_class",
    "cap",
    "check_present",
    "corner_box",
    "dataset_info",
    "check_records",
    "decode_image",
    "interleave",
    "parse_numbers",
    "read_tar_index",
    "records_dataset",
    "select",
    "split_holdout",
]
