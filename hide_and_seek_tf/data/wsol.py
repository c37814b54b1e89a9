"""The metadata format of clovaai/wsolevaluation (Choe et al., CVPR 2020): their published splits.

`wsol:METADATA_DIR` with `data_dir=IMAGE_ROOT` (command line: `--data wsol:DIR --data-dir ROOT`),
e.g. METADATA_DIR = wsolevaluation/metadata/CUB and IMAGE_ROOT = CUB_200_2011/images (plus their
extra CUB `val` images). One folder per split, each with::

    image_ids.txt       <path>                       one image per line, the split's order
    class_labels.txt    <path>,<label>               integer labels 0 .. C-1
    image_sizes.txt     <path>,<width>,<height>      (optional) checked against the image's header
    localization.txt    <path>,<x0>,<y0>,<x1>,<y1>   one line per box (optional: no boxes)

Paths are relative to IMAGE_ROOT and are the elements' ids. Splits are the folders: `train`,
`val` (their fully supervised "train-fullsup" split, for choosing thresholds and
hyperparameters: evaluation refuses it if the model trained on any of its images) and `test`.
Boxes are read as written and treated as inclusive corners, as wsolevaluation's IoU (+1) treats
them; for CUB they wrote x1 = min(x + w, W - 1) (see `cub` for how that relates to our `cub:`
boxes). A box past its image is clipped and counted like every source's (`data.checks`). A split without localization.txt
(their ILSVRC train) yields images with zero boxes. Class names are the image paths' first folder
when every image of a label shares it (CUB's "001.Black_footed_Albatross"), else the label number.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import tensorflow as tf

from hide_and_seek_tf.data.elements import DatasetInfo
from hide_and_seek_tf.data.file_records import (
    FolderListing,
    Record,
    annotation_error,
    cap,
    check_present,
    check_records,
    corner_box,
    dataset_info,
    file_stamp,
    interleave,
    no_images_error,
    parse_numbers,
    records_dataset,
    select,
)

FILES = ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt")


def _rows(path: Path, n_fields: int, expected: str):
    """(where, line, fields) of a comma-separated file, blank lines skipped."""
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {lineno}"
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != n_fields or not fields[0]:
            raise annotation_error(where, expected, line)
        yield where, line, fields


@dataclasses.dataclass(frozen=True)
class _Split:
    records: tuple[Record, ...]  # label = the file's label


def _read_split(folder: Path) -> _Split:
    ids_path = folder / "image_ids.txt"
    order: dict[str, str] = {}
    for lineno, line in enumerate(ids_path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        path = line.strip()
        if not path:
            continue
        if path in order:
            raise ValueError(f"Malformed annotation at {ids_path} line {lineno}: {path!r} repeats.")
        order[path] = f"{ids_path} line {lineno}"

    def known(where: str, path: str, line: str) -> None:
        if path not in order:
            raise ValueError(
                f"Malformed annotation at {where}: {path!r} is not in {ids_path}. "
                f"Received: {line!r}"
            )

    labels: dict[str, int] = {}
    labels_path = folder / "class_labels.txt"
    if not labels_path.is_file():
        raise FileNotFoundError(f"Missing {labels_path}: every split needs its class labels.")
    for where, line, (path, label) in _rows(labels_path, 2, "'<path>,<label>'"):
        known(where, path, line)
        if not label.isdigit():
            raise annotation_error(where, "'<path>,<label>' with an integer label >= 0", line)
        if path in labels:
            raise ValueError(f"Malformed annotation at {where}: {path!r} is labelled twice.")
        labels[path] = int(label)
    unlabelled = [p for p in order if p not in labels]
    if unlabelled:
        raise ValueError(
            f"{order[unlabelled[0]]} lists {unlabelled[0]!r}, which {labels_path} does not label."
        )
    sizes: dict[str, tuple[int, int]] = {}
    size_where: dict[str, str] = {}
    sizes_path = folder / "image_sizes.txt"
    if sizes_path.is_file():
        for where, line, (path, *wh) in _rows(sizes_path, 3, "'<path>,<width>,<height>'"):
            known(where, path, line)
            width, height = parse_numbers(wh, where, "'<path>,<width>,<height>'", line)
            if width < 1 or height < 1 or width != int(width) or height != int(height):
                raise annotation_error(where, "positive integer width and height", line)
            sizes[path] = (int(width), int(height))
            size_where[path] = where
    boxes: dict[str, list] = {p: [] for p in order}
    box_lines: dict[str, list] = {p: [] for p in order}
    loc_path = folder / "localization.txt"
    if loc_path.is_file():
        expected = "'<path>,<x0>,<y0>,<x1>,<y1>'"
        for where, line, (path, *corners) in _rows(loc_path, 5, expected):
            known(where, path, line)
            values = parse_numbers(corners, where, expected, line)
            boxes[path].append(corner_box(values, where, line))
            box_lines[path].append((where, line))
    records = tuple(
        Record(
            path,
            labels[path],
            boxes[path],
            path,
            box_lines[path][0][0] if boxes[path] else at,
            sizes.get(path),
            box_lines=box_lines[path],
            size_where=size_where.get(path),
        )  # fmt: skip
        for path, at in order.items()
    )
    return _Split(records)


@dataclasses.dataclass(frozen=True)
class WsolMetadata:
    """Every split of a metadata folder, with the class list they share."""

    folder: Path
    splits: dict[str, _Split]
    class_ids: tuple[str, ...]


@functools.lru_cache(maxsize=4)
def _read(folder: str, stamps: tuple) -> WsolMetadata:
    root = Path(folder)
    splits = {
        sub.name: _read_split(sub)
        for sub in sorted(root.iterdir())
        if (sub / "image_ids.txt").is_file()
    }
    if not splits:
        raise FileNotFoundError(
            f"No split folder with image_ids.txt in {root}: not wsolevaluation metadata "
            "(METADATA_DIR/{train,val,test}/image_ids.txt, class_labels.txt, ...)."
        )
    num_classes = 1 + max(r.label for s in splits.values() for r in s.records)
    folders: list[set[str]] = [set() for _ in range(num_classes)]
    for split in splits.values():
        for r in split.records:
            folders[r.label].add(r.path.split("/")[0] if "/" in r.path else "")
    names = []
    for label, found in enumerate(folders):
        only = next(iter(found)) if len(found) == 1 else ""
        names.append(only or str(label))
    if len(set(names)) != len(names):
        names = [str(i) for i in range(num_classes)]
    return WsolMetadata(root, splits, tuple(names))


def read_wsol_metadata(folder: str | Path) -> WsolMetadata:
    """Parses every split folder under `folder` (cached while the files are unchanged).

    Raises:
        FileNotFoundError: no split folder; ValueError: a malformed line (naming file and line),
            a path in one file that image_ids.txt does not list, a box outside its stated size.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"wsolevaluation metadata folder not found: {root}.")
    stamps = tuple(
        file_stamp(sub / name)
        for sub in sorted(root.iterdir())
        if sub.is_dir()
        for name in FILES
        if (sub / name).is_file()
    )
    return _read(str(root.resolve()), stamps)


def _split_records(spec: Any, options: dict[str, Any], split: str):
    meta = read_wsol_metadata(spec.path)
    if split not in meta.splits:
        raise ValueError(
            f"`split` must be one of {sorted(meta.splits)} (the folders of {meta.folder}). "
            f"Received: split={split!r}"
        )
    groups, kept = select(
        meta.splits[split].records,
        meta.class_ids,
        classes=options.get("classes"),
        max_per_class=options.get("max_per_class"),
        where=str(meta.folder),
    )
    if split == "train":
        records = interleave(groups)
    else:
        order = {r.id: i for i, r in enumerate(meta.splits[split].records)}
        records = sorted((r for g in groups for r in g), key=lambda r: order[r.id])
    records = cap(records, options.get("num_images"))
    if not records:
        raise no_images_error(split, meta.folder, options.get("classes"))
    return records, kept, meta


def wsol_image_ids(spec: Any, split: str, **options: Any) -> list[str]:
    """The ids (image paths) of a split, from the metadata alone."""
    records, _, _ = _split_records(spec, options, split)
    return [r.id for r in records]


def load_wsol(spec: Any, split: str, **options: Any) -> tuple[tf.data.Dataset, DatasetInfo]:
    """A split of wsolevaluation metadata as element dicts (the `wsol:` source of `load_dataset`).

    Args:
        spec: a `DataSpec` "wsol:METADATA_DIR" with `data_dir` the image root.
        split: a split folder of METADATA_DIR ("train", "val", "test").
        **options: `classes` (None, K or a list of class names), `max_per_class`, `num_images`,
            `image_size`, `strict_boxes`, `skip_bad_images`, `max_image_pixels`.

    Raises:
        FileNotFoundError / ValueError: a missing folder or file, a malformed line (named with
            its line), an image listed but missing under the image root, an unreadable image, a
            size that differs from image_sizes.txt, a box entirely outside its image (see
            `data.checks`).
    """
    records, kept, meta = _split_records(spec, options, split)
    root = spec.image_root
    if not root.is_dir():
        raise FileNotFoundError(f"Image root not found: {root} (`data_dir` of {spec}).")
    check_present(records, FolderListing(root), str(root))
    records, checked = check_records(records, options, source=str(spec), root=root)
    ds = records_dataset(records, root=root, image_size=options.get("image_size"))
    info = dataset_info(
        "wsol", records, meta.class_ids, meta.class_ids, kept, options.get("image_size"), checked
    )
    return ds, info
