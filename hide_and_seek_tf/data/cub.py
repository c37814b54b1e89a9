"""CUB-200-2011 (Wah et al., 2011) read from the official `CUB_200_2011` folder or `.tgz`.

Layout (under the folder, or inside `CUB_200_2011.tgz`, read in place: no extraction)::

    CUB_200_2011/classes.txt              <class_id> <class_name>     (1-based, e.g. 001.Black_footed_Albatross)
    CUB_200_2011/images.txt               <image_id> <class_name>/<file>.jpg
    CUB_200_2011/image_class_labels.txt   <image_id> <class_id>
    CUB_200_2011/train_test_split.txt     <image_id> <is_training_image>   (1 train, 0 test)
    CUB_200_2011/bounding_boxes.txt       <image_id> <x> <y> <width> <height>   (float pixels)
    CUB_200_2011/images/<class_name>/<file>.jpg

Box convention. CUB gives the box's top-left pixel and its size: the box spans the continuous
interval [x, x + w) (pixel i covers [i, i + 1)). Our boxes are inclusive pixel corners, so
x0 = round(x), x1 = round(x + w) - 1 (and the same for y), rounding half up; `xywh_to_inclusive`.
For CUB's integer values this is x1 = x + w - 1: the box covers exactly w columns.
clovaai/wsolevaluation writes the same annotation as x1 = x + w, y1 = y + h and then computes IoU
with the +1 of inclusive boxes: their box is one pixel wider and taller than the annotation (ours
plus one on x1 and y1; IoU between the two is w h / ((w + 1)(h + 1)), above 0.99 for boxes of 200
px). The `wsol:` source reads their files as written, so numbers stay comparable with theirs.
The official file has boxes that run past their image (in classes 1-50, 14 of 2,889: x + w > W or
y + h > H, mostly by 1-2 px, once by 33 px): they are clipped to the image and counted, which gives
wsolevaluation's own clipping (x1 = min(x + w, W - 1)) on that axis (`data.checks`).

Splits: "train" (5,994 images), "test" (5,794), and for choosing CAM thresholds on images the model
did not train on, "train_holdout" (the last `HOLDOUT_PER_CLASS` train images of each class by
image id, as many per class as wsolevaluation's CUB `val`) and "train_minus_holdout" (the rest).
Train splits are interleaved across classes (image k of every class, then k + 1); "test" is in
image-id order. From the .tgz, images arrive in the archive's order (the same elements).
Element ids are the image paths relative to `images/` (as in wsolevaluation's `image_ids.txt`).
Images keep their native, varying sizes; grayscale images decode to 3 channels.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tensorflow as tf

from hide_and_seek_tf.data.elements import DatasetInfo, round_half_up
from hide_and_seek_tf.data.file_records import (
    FolderListing,
    Record,
    annotation_error,
    by_class,
    cap,
    check_present,
    check_records,
    dataset_info,
    file_stamp,
    interleave,
    no_images_error,
    parse_numbers,
    read_tar_index,
    records_dataset,
    select,
    split_holdout,
)

SPLITS: tuple[str, ...] = ("train", "test", "train_holdout", "train_minus_holdout")
#: Train images per class held out for choosing thresholds (wsolevaluation's CUB val has 5).
HOLDOUT_PER_CLASS: int = 5
_ROOT_NAME = "CUB_200_2011"
_FILES = (
    "classes.txt",
    "images.txt",
    "image_class_labels.txt",
    "train_test_split.txt",
    "bounding_boxes.txt",
)


def class_names(class_ids: Sequence[str]) -> tuple[str, ...]:
    """Readable names of classes.txt entries: "001.Black_footed_Albatross" -> "Black footed
    Albatross"."""
    return tuple(c.split(".", 1)[-1].replace("_", " ") for c in class_ids)


def xywh_to_inclusive(x: float, y: float, width: float, height: float) -> tuple[float, ...]:
    """CUB's `<x> <y> <width> <height>` -> our inclusive x0, y0, x1, y1 (see the module docstring).

    The box's edges are x and x + width; x0 = round(x), x1 = round(x + width) - 1, rounding half
    up, and at least one pixel wide. wsolevaluation's box for the same line is (x, y, x + width,
    y + height): ours plus one on x1 and y1.

    Example:
        >>> xywh_to_inclusive(60.0, 27.0, 325.0, 304.0)
        (60.0, 27.0, 384.0, 330.0)
    """
    x0, y0 = round_half_up(x), round_half_up(y)
    x1 = max(round_half_up(x + width) - 1.0, x0)
    y1 = max(round_half_up(y + height) - 1.0, y0)
    return x0, y0, x1, y1


@dataclasses.dataclass(frozen=True)
class CubAnnotations:
    """Everything the metadata says, for every image (in image-id order)."""

    location: str  # the folder or archive, for messages
    class_ids: tuple[str, ...]  # classes.txt names, in class-id order
    records: tuple[Record, ...]  # label = class index (0-based); key = image id
    is_train: tuple[bool, ...]
    root: Path | None  # the CUB_200_2011 folder (folder form)
    archive: Path | None  # the .tgz (archive form)
    member_prefix: str  # "CUB_200_2011/" inside the archive
    archive_order: dict[str, int] | None


def _lines(text: str, where: str):
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield f"{where} line {lineno}", line


def _id_table(text: str, where: str, expected: str, n_fields: int) -> dict[int, tuple]:
    """`<image_id> <field> ...` lines -> {image_id: (fields..., where, line)}; ids unique."""
    table: dict[int, tuple] = {}
    for at, line in _lines(text, where):
        fields = line.split()
        if len(fields) != n_fields:
            raise annotation_error(at, expected, line)
        try:
            key = int(fields[0])
        except ValueError:
            raise annotation_error(at, expected, line) from None
        if key in table:
            raise ValueError(f"Malformed annotation at {at}: image id {key} is listed twice.")
        table[key] = (*fields[1:], at, line)
    return table


def _parse(texts: dict[str, str], where_of: dict[str, str], location: str) -> tuple:
    class_rows = _id_table(
        texts["classes.txt"], where_of["classes.txt"], "'<class_id> <class_name>'", 2
    )
    class_numbers = sorted(class_rows)
    class_ids = tuple(class_rows[c][0] for c in class_numbers)
    class_index = {c: i for i, c in enumerate(class_numbers)}
    images = _id_table(
        texts["images.txt"], where_of["images.txt"], "'<image_id> <class>/<file>'", 2
    )
    labels = _id_table(
        texts["image_class_labels.txt"],
        where_of["image_class_labels.txt"],
        "'<image_id> <class_id>'",
        2,
    )
    splits = _id_table(
        texts["train_test_split.txt"],
        where_of["train_test_split.txt"],
        "'<image_id> <is_training_image>' (1 or 0)",
        2,
    )
    boxes = _id_table(
        texts["bounding_boxes.txt"],
        where_of["bounding_boxes.txt"],
        "'<image_id> <x> <y> <width> <height>'",
        5,
    )
    records, is_train = [], []
    for image_id in sorted(images):
        path, at, _ = images[image_id]
        for name, table in (
            ("image_class_labels.txt", labels),
            ("train_test_split.txt", splits),
            ("bounding_boxes.txt", boxes),
        ):
            if image_id not in table:
                raise ValueError(
                    f"{at} lists image id {image_id}, which {where_of[name]} does not annotate."
                )
        class_text, label_at, label_line = labels[image_id]
        try:
            label = class_index[int(class_text)]
        except (ValueError, KeyError):
            raise ValueError(
                f"Malformed annotation at {label_at}: class id {class_text!r} is not in "
                f"{where_of['classes.txt']}. Received: {label_line!r}"
            ) from None
        flag, split_at, split_line = splits[image_id]
        if flag not in ("0", "1"):
            raise annotation_error(
                split_at, "'<image_id> <is_training_image>' (1 or 0)", split_line
            )
        *numbers, box_at, box_line = boxes[image_id]
        x, y, w, h = parse_numbers(
            numbers, box_at, "'<image_id> <x> <y> <width> <height>' (numbers)", box_line
        )
        if w <= 0 or h <= 0:
            raise ValueError(
                f"Malformed annotation at {box_at}: the box must have a positive width and "
                f"height. Received: {box_line!r}"
            )
        records.append(
            Record(
                path=f"images/{path}",
                label=label,
                boxes=[xywh_to_inclusive(x, y, w, h)],
                id=path,
                where=box_at,
                key=image_id,
                box_lines=[(box_at, box_line)],
            )
        )
        is_train.append(flag == "1")
    for table in (labels, boxes):
        extra = sorted(set(table) - set(images))
        if extra:
            raise ValueError(
                f"{table[extra[0]][-2]} annotates image id {extra[0]}, which "
                f"{where_of['images.txt']} does not list."
            )
    return class_ids, tuple(records), tuple(is_train)


@functools.lru_cache(maxsize=4)
def _read_folder(root: str, stamps: tuple) -> CubAnnotations:
    folder = Path(root)
    texts = {name: (folder / name).read_text(encoding="utf-8-sig") for name in _FILES}
    where_of = {name: str(folder / name) for name in _FILES}
    class_ids, records, is_train = _parse(texts, where_of, root)
    return CubAnnotations(root, class_ids, records, is_train, folder, None, "", None)


def _read_archive(path: Path) -> CubAnnotations:
    index = read_tar_index(path, _FILES)
    roots = sorted(
        (n[: -len("images.txt")] for n in index.texts if n.rsplit("/", 1)[-1] == "images.txt"),
        key=len,
    )
    if not roots:
        raise ValueError(f"No images.txt in {path}: not a CUB-200-2011 archive.")
    prefix = roots[0]
    texts, where_of = {}, {}
    for name in _FILES:
        member = prefix + name
        if member not in index.texts:
            raise FileNotFoundError(f"Missing {path}:{member}: not a complete CUB-200-2011 copy.")
        texts[name], where_of[name] = index.texts[member], f"{path}:{member}"
    class_ids, records, is_train = _parse(texts, where_of, str(path))
    return CubAnnotations(str(path), class_ids, records, is_train, None, path, prefix, index.order)


def read_cub_annotations(path: str | os.PathLike) -> CubAnnotations:
    """Parses the metadata of a CUB_200_2011 folder (or its parent) or archive, cached while the
    files are unchanged.

    Raises:
        FileNotFoundError: `path` or a metadata file is missing.
        ValueError: a malformed line (the message names the file and line), an archive that is
            not CUB.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"CUB-200-2011 not found at {path}.")
    if path.is_file():
        return _read_archive(path)
    if not (path / "images.txt").is_file() and (path / _ROOT_NAME / "images.txt").is_file():
        path = path / _ROOT_NAME
    missing = [name for name in _FILES if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"Missing {path / missing[0]}: not a CUB_200_2011 folder. Pass the CUB_200_2011 "
            "folder (or its parent) or CUB_200_2011.tgz."
        )
    return _read_folder(str(path), tuple(file_stamp(path / name) for name in _FILES))


def _split_records(
    notes: CubAnnotations,
    split: str,
    classes: Any = None,
    max_per_class: int | None = None,
    num_images: int | None = None,
) -> tuple[list[Record], tuple[int, ...]]:
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {list(SPLITS)}. Received: split={split!r}")
    want_train = split != "test"
    chosen = [r for r, t in zip(notes.records, notes.is_train, strict=True) if t == want_train]
    groups = split_holdout(by_class(chosen, len(notes.class_ids)), split, HOLDOUT_PER_CLASS)
    flat = [r for g in groups for r in g]
    groups, kept = select(
        flat,
        notes.class_ids,
        classes=classes,
        max_per_class=max_per_class,
        where=f"{notes.location} classes.txt",
    )
    records = cap(interleave(groups) if want_train else sorted(
        (r for g in groups for r in g), key=lambda r: r.key
    ), num_images)  # fmt: skip
    if not records:
        raise no_images_error(split, notes.location, classes)
    return records, kept


def cub_image_ids(spec: Any, split: str, **options: Any) -> list[str]:
    """The ids (paths under images/) of a split, from the metadata alone."""
    notes = read_cub_annotations(spec.path)
    records, _ = _split_records(
        notes,
        split,
        options.get("classes"),
        options.get("max_per_class"),
        options.get("num_images"),
    )
    return [r.id for r in records]


def load_cub(spec: Any, split: str, **options: Any) -> tuple[tf.data.Dataset, DatasetInfo]:
    """CUB-200-2011 as element dicts (the `cub:PATH` source of `load_dataset`).

    Args:
        spec: a `DataSpec` "cub:PATH", PATH the CUB_200_2011 folder (or its parent) or
            CUB_200_2011.tgz.
        split: one of `SPLITS`.
        **options: `classes` (None, K or a list of classes.txt names such as
            "001.Black_footed_Albatross"), `max_per_class`, `num_images`, `image_size`,
            `strict_boxes`, `skip_bad_images`, `max_image_pixels` (see `data.checks`).

    Returns:
        (dataset, info). `info.wnids` holds the classes.txt names, `info.class_names` the readable
        ones ("Black footed Albatross"); `info.image_size` is None unless `image_size` is given.
        Boxes past their image (the official file has some) are clipped, counted in
        `info.num_clipped_boxes`.

    Raises:
        FileNotFoundError / ValueError: a missing file or a malformed line (named with its line),
            an image listed in images.txt but missing from images/ (for the selected classes),
            an unreadable image, a box entirely outside its image (see `data.checks`).
    """
    notes = read_cub_annotations(spec.path)
    records, kept = _split_records(
        notes,
        split,
        options.get("classes"),
        options.get("max_per_class"),
        options.get("num_images"),
    )
    if notes.archive is not None:
        order = notes.archive_order
        members = [dataclasses.replace(r, path=notes.member_prefix + r.path) for r in records]
        check_present(members, lambda p: p in order, f"{notes.archive}:{notes.member_prefix}images")
        index = read_tar_index(notes.archive, _FILES)  # cached: the headers of its images
        records, checked = check_records(members, options, source=str(spec), archive=index)
        records.sort(key=lambda r: order[r.path])
        ds = records_dataset(records, archive=notes.archive, image_size=options.get("image_size"))
    else:
        check_present(records, FolderListing(notes.root), str(notes.root))
        records, checked = check_records(records, options, source=str(spec), root=notes.root)
        ds = records_dataset(records, root=notes.root, image_size=options.get("image_size"))
    names = class_names(notes.class_ids)
    info = dataset_info(
        "cub", records, notes.class_ids, names, kept, options.get("image_size"), checked
    )
    return ds, info
