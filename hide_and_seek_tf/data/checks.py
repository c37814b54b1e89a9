"""Images and boxes checked in Python, before a pipeline is built or a run directory written.

Every file source (`cub:`, `imagenet:`, `wsol:`, `csv:`, `tiny-imagenet:`) passes its selected
images through `check_images` when it loads a split:

- **Headers, not pixels.** Each image's header is read (`read_header`: JPEG SOF, PNG IHDR, GIF and
  BMP headers, and the last bytes for the JPEG / PNG end marker), a few hundred bytes per file,
  in parallel threads. An empty file, a file that is no JPEG, PNG, GIF or BMP (whatever its
  extension), a JPEG or PNG without its end marker (a truncated download), a JPEG TensorFlow cannot
  decode (lossless or 12-bit) and an unreadable archive member are *bad images*: loading stops
  with one line naming the file and the annotation line that listed it, unless
  `skip_bad_images=True` (`--skip-bad-images`), which drops them and counts them.
- **Decompression bombs.** An image whose header declares more than `max_image_pixels` pixels
  (default `MAX_IMAGE_PIXELS`, 100 million: the largest ILSVRC image, 4,288 x 5,005, has 21.5
  million; the environment variable `HIDE_AND_SEEK_MAX_IMAGE_PIXELS` changes the default) is a bad
  image too, refused before anything decodes it.
- **One annotation policy.** A box that extends past its image (CUB's `bounding_boxes.txt` has
  boxes 1-2 px, once 33 px, past the border) is clipped to the image and counted; a box entirely
  outside it is an error naming the annotation line. `strict_boxes=True` (`--strict-boxes`)
  refuses any box past the border instead. A size the metadata states (wsolevaluation's
  `image_sizes.txt`, ImageNet's XML) that differs from the header's is an error.

The counts go into `DatasetInfo` (`num_clipped_boxes`, `num_skipped_images` and examples of each),
with a one-line warning per load, and from there into the run's config.json and evaluation's
metrics.json. `DatasetInfo.scan` keeps the scan's statistics (`ScanSummary`) for
`hide-and-seek-data check`.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import contextvars
import dataclasses
import io
import logging
import os
import struct
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO

logger = logging.getLogger("hide_and_seek_tf.data")

#: Default pixel limit (width x height) above which an image is refused from its header.
MAX_IMAGE_PIXELS: int = 100_000_000
#: Environment variable that overrides `MAX_IMAGE_PIXELS`.
MAX_PIXELS_ENV = "HIDE_AND_SEEK_MAX_IMAGE_PIXELS"
#: Examples of clipped boxes and skipped images kept for messages (the counts are exact).
EXAMPLES_KEPT = 5
#: Threads reading headers (the work is waiting on the disk, not Python).
READ_THREADS = 16

_JPEG_TAIL = 64  # the end marker (FF D9) must be in the last bytes; a little padding is tolerated
_LOSSLESS_SOF = {0xC3, 0xC7, 0xCB, 0xCF}
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PNG_COLOR = {0: "gray", 2: "rgb", 3: "palette", 4: "gray_alpha", 6: "rgba"}
_JPEG_COLOR = {1: "gray", 3: "rgb", 4: "cmyk"}


class BadImage(ValueError):
    """An image that cannot be decoded (or must not be): the message says why."""


@dataclasses.dataclass(frozen=True, slots=True)
class ImageHeader:
    """What an image's header says.

    Attributes:
        format: "jpeg", "png", "gif" or "bmp" (by content, not by the file's extension).
        width, height: pixels.
        color: "gray", "rgb", "cmyk" (JPEG), "palette", "gray_alpha", "rgba" (PNG), ...
    """

    format: str
    width: int
    height: int
    color: str

    @property
    def kind(self) -> str:
        """format and colour model in one word, e.g. "jpeg_gray", "png_rgba"."""
        return f"{self.format}_{self.color}"


def max_image_pixels(value: int | None = None) -> int:
    """The pixel limit: `value` when given, else $HIDE_AND_SEEK_MAX_IMAGE_PIXELS, else the default.

    Raises:
        ValueError: a limit that is not a positive integer, naming where it came from.
    """
    name, text = "max_image_pixels", value
    if value is None:
        text = os.environ.get(MAX_PIXELS_ENV)
        if text is None:
            return MAX_IMAGE_PIXELS
        name = MAX_PIXELS_ENV
    try:
        limit = int(text)
    except (TypeError, ValueError):
        limit = 0
    if isinstance(text, bool) or limit < 1 or (isinstance(text, float) and text != limit):
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={text!r}")
    return limit


# ----------------------------------------------------------------------------------------------
# Headers
# ----------------------------------------------------------------------------------------------


def _unpack(fmt: str, data: bytes, what: str) -> tuple:
    if len(data) < struct.calcsize(fmt):
        raise BadImage(f"truncated {what} header")
    return struct.unpack(fmt, data[: struct.calcsize(fmt)])


def _jpeg_header(f: BinaryIO) -> ImageHeader:
    f.seek(2)
    while True:
        byte = f.read(1)
        if not byte:
            raise BadImage("truncated JPEG: the file ends before its frame header")
        if byte != b"\xff":
            continue  # garbage between segments: libjpeg skips it too
        marker = f.read(1)
        while marker == b"\xff":  # fill bytes
            marker = f.read(1)
        if not marker:
            raise BadImage("truncated JPEG: the file ends before its frame header")
        m = marker[0]
        if m == 0x01 or 0xD0 <= m <= 0xD8:  # standalone markers
            continue
        if m in (0xD9, 0xDA):
            raise BadImage("JPEG without a frame header (SOF) before its image data")
        (length,) = _unpack(">H", f.read(2), "JPEG segment")
        if length < 2:
            raise BadImage(f"corrupt JPEG: segment FF{m:02X} of length {length}")
        if m in _SOF:
            precision, height, width, components = _unpack(">BHHB", f.read(6), "JPEG frame")
            if m in _LOSSLESS_SOF:
                raise BadImage("lossless JPEG, which TensorFlow cannot decode")
            if precision != 8:
                raise BadImage(f"{precision}-bit JPEG, which TensorFlow cannot decode")
            if width < 1 or height < 1:
                raise BadImage(f"JPEG frame header declares a {width} x {height} image")
            color = _JPEG_COLOR.get(components)
            if color is None:
                raise BadImage(f"JPEG with {components} colour components")
            return ImageHeader("jpeg", width, height, color)
        f.seek(length - 2, io.SEEK_CUR)


def _png_header(f: BinaryIO) -> ImageHeader:
    f.seek(8)
    length, chunk, width, height, _, color_type = _unpack(">I4sIIBB", f.read(18), "PNG")
    if chunk != b"IHDR" or width < 1 or height < 1 or color_type not in _PNG_COLOR:
        raise BadImage("corrupt PNG: no valid IHDR chunk")
    return ImageHeader("png", width, height, _PNG_COLOR[color_type])


def _gif_header(f: BinaryIO) -> ImageHeader:
    f.seek(6)
    width, height = _unpack("<HH", f.read(4), "GIF")
    if width < 1 or height < 1:
        raise BadImage(f"GIF header declares a {width} x {height} image")
    return ImageHeader("gif", width, height, "palette")


def _bmp_header(f: BinaryIO) -> ImageHeader:
    f.seek(14)
    (dib,) = _unpack("<I", f.read(4), "BMP")
    fmt = "<hh" if dib == 12 else "<ii"
    width, height = _unpack(fmt, f.read(struct.calcsize(fmt)), "BMP")
    height = abs(height)  # negative: rows stored top-down
    if width < 1 or height < 1:
        raise BadImage(f"BMP header declares a {width} x {height} image")
    return ImageHeader("bmp", width, height, "rgb")


def read_header(f: BinaryIO, size: int) -> ImageHeader:
    """The header of the image in `f` (a seekable binary file of `size` bytes), checked.

    Reads the first bytes up to the frame header (skipping EXIF, ICC and other segments by their
    lengths) and the last 64: the cost does not depend on the image's pixel count.

    Raises:
        BadImage: the file is empty, no JPEG/PNG/GIF/BMP, truncated (a JPEG or PNG without its end
            marker), or a JPEG TensorFlow cannot decode.
    """
    if size == 0:
        raise BadImage("empty file (0 bytes)")
    f.seek(0)
    head = f.read(8)
    if head.startswith(b"\xff\xd8\xff"):
        header = _jpeg_header(f)
    elif head.startswith(b"\x89PNG\r\n\x1a\n"):
        header = _png_header(f)
    elif head.startswith(b"GIF8"):
        header = _gif_header(f)
    elif head.startswith(b"BM"):
        header = _bmp_header(f)
    else:
        raise BadImage(f"not a JPEG, PNG, GIF or BMP image (starts with {head[:8]!r})")
    if header.format in ("jpeg", "png"):
        f.seek(max(0, size - _JPEG_TAIL))
        tail = f.read()
        if header.format == "jpeg" and b"\xff\xd9" not in tail:
            raise BadImage("truncated JPEG (no end marker FF D9)")
        if header.format == "png" and (len(tail) < 12 or tail[-8:-4] != b"IEND"):
            raise BadImage("truncated PNG (no IEND chunk at its end)")
    return header


def check_pixels(header: ImageHeader, limit: int) -> ImageHeader:
    """`header`, unless it declares more than `limit` pixels (a decompression bomb).

    Raises:
        BadImage: naming the declared size and the limit.
    """
    pixels = header.width * header.height
    if pixels > limit:
        raise BadImage(
            f"its header declares {header.width} x {header.height} = {pixels:,} pixels, above "
            f"the limit of {limit:,} (max_image_pixels, ${MAX_PIXELS_ENV}): refused before "
            "decoding"
        )
    return header


def header_of_bytes(data: bytes) -> ImageHeader:
    """`read_header` of an image held in memory."""
    return read_header(io.BytesIO(data), len(data))


def header_of_file(path: str | os.PathLike) -> ImageHeader:
    """`read_header` of an image file.

    Raises:
        BadImage: as `read_header`, or the file cannot be read (its OS error).
    """
    try:
        with open(path, "rb") as f:
            return read_header(f, os.fstat(f.fileno()).st_size)
    except OSError as err:
        raise BadImage(f"cannot be read ({err.strerror or err})") from None


# ----------------------------------------------------------------------------------------------
# Scans with a progress report
# ----------------------------------------------------------------------------------------------

_PROGRESS: contextvars.ContextVar[Callable[[int, int], None] | None] = contextvars.ContextVar(
    "hide_and_seek_scan_progress", default=None
)


@contextlib.contextmanager
def scan_progress(callback: Callable[[int, int], None]) -> Iterator[None]:
    """Within the block, every header scan calls `callback(done, total)` as it goes (the data check
    command draws its progress bar with it)."""
    token = _PROGRESS.set(callback)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


# Recent scans by the caller's key (what was read and its files' sizes and modification times):
# training loads its split more than once (the data, its statistics, the evaluation's baseline).
_SCANS: collections.OrderedDict[Any, list] = collections.OrderedDict()
_SCANS_KEPT = 4


def files_key(paths: Sequence[str | os.PathLike]) -> tuple | None:
    """A `check_images` cache key for image files: each path with its size and modification time
    (None when one cannot be read: that scan is not cached)."""
    try:
        return tuple((str(p), st.st_size, st.st_mtime_ns) for p in paths for st in [os.stat(p)])
    except OSError:
        return None


def scan_headers(
    items: Sequence[Any], header_of: Callable[[Any], ImageHeader]
) -> list[ImageHeader | BadImage]:
    """`header_of(item)` for every item, in parallel threads, in order; a `BadImage` is returned
    in the item's place, not raised."""

    def one(item: Any) -> ImageHeader | BadImage:
        try:
            return header_of(item)
        except BadImage as err:
            return err

    progress = _PROGRESS.get()
    total = len(items)
    if total < 64:
        results = [one(item) for item in items]
        if progress:
            progress(total, total)
        return results
    results: list[ImageHeader | BadImage] = []
    chunk = 256
    with concurrent.futures.ThreadPoolExecutor(READ_THREADS) as pool:
        for start in range(0, total, chunk):
            results.extend(pool.map(one, items[start : start + chunk]))
            if progress:
                progress(len(results), total)
    return results


# ----------------------------------------------------------------------------------------------
# The policy
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ImageEntry:
    """One image of a split, as `check_images` sees it.

    Attributes:
        location: where the file is, for messages ("/data/CUB_200_2011/images/....jpg").
        id: the element's id.
        where: the annotation that listed it ("FILE line N").
        boxes: inclusive x0, y0, x1, y1 boxes as annotated (possibly past the image).
        box_lines: per box, (where, line) of its annotation, or None (then `where`).
        stated_size: (width, height) the metadata states, or None.
        size_where: the annotation that states it, or None (`where`).
    """

    location: str
    id: str
    where: str
    boxes: Sequence[tuple[float, float, float, float]]
    box_lines: Sequence[tuple[str, str]] | None = None
    stated_size: tuple[int, int] | None = None
    size_where: str | None = None


@dataclasses.dataclass(frozen=True)
class ScanSummary:
    """What a header scan of a split found (for `hide-and-seek-data check`).

    Attributes:
        num_images: images scanned (bad ones included).
        kinds: (kind, count) pairs, e.g. ("jpeg_rgb", 5790), ("jpeg_gray", 4), ("png_rgb", 1).
        largest: (location, width, height) of the image with the most pixels, or None.
        bad: (location, reason) of the first few bad images; `num_bad` counts them all.
        num_bad: bad images (skipped or not).
        box_counts: per kept image, its number of boxes.
        area_fractions: per box (after clipping), its area (inclusive pixels) over its image's.
    """

    num_images: int
    kinds: tuple[tuple[str, int], ...]
    largest: tuple[str, int, int] | None
    bad: tuple[tuple[str, str], ...]
    num_bad: int
    box_counts: tuple[int, ...] = ()
    area_fractions: tuple[float, ...] = ()


@dataclasses.dataclass(frozen=True)
class CheckedImages:
    """The result of `check_images`.

    Attributes:
        kept: indices (into the entries) of the images kept, in order.
        boxes: per kept image, its boxes clipped to the image.
        sizes: per kept image, (width, height) from its header.
        num_clipped_boxes, clipped_boxes: how many boxes were clipped, and the first few
            ("LOCATION: (x0, y0, x1, y1) -> (...) at WHERE").
        num_skipped_images, skipped_images: bad images skipped, and the first few
            ("LOCATION: reason").
        scan: the scan's statistics.
    """

    kept: tuple[int, ...]
    boxes: tuple[list[tuple[float, float, float, float]], ...]
    sizes: tuple[tuple[int, int], ...]
    num_clipped_boxes: int
    clipped_boxes: tuple[str, ...]
    num_skipped_images: int
    skipped_images: tuple[str, ...]
    scan: ScanSummary

    def info_fields(self) -> dict[str, Any]:
        """The `DatasetInfo` fields this result fills."""
        return {
            "num_clipped_boxes": self.num_clipped_boxes,
            "clipped_boxes": self.clipped_boxes,
            "num_skipped_images": self.num_skipped_images,
            "skipped_images": self.skipped_images,
            "scan": self.scan,
        }


def _box_text(box: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in box) + ")"


def clip_box(
    box: Sequence[float], width: int, height: int
) -> tuple[tuple[float, float, float, float], bool] | None:
    """`box` (inclusive x0, y0, x1, y1, x0 <= x1, y0 <= y1) clipped to a `width` x `height` image:
    (clipped box, whether it changed), or None when nothing of it is inside the image."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if x0 > width - 1 or y0 > height - 1 or x1 < 0 or y1 < 0:
        return None
    out = (max(x0, 0.0), max(y0, 0.0), min(x1, width - 1.0), min(y1, height - 1.0))
    return out, out != (x0, y0, x1, y1)


def check_images(
    entries: Sequence[ImageEntry],
    header_of: Callable[[int], ImageHeader],
    *,
    source: str,
    strict_boxes: bool = False,
    skip_bad_images: bool = False,
    max_pixels: int | None = None,
    cache_key: Any = None,
) -> CheckedImages:
    """Reads every image's header and applies the policy of the module docstring.

    Args:
        entries: the split's images.
        header_of: `i -> ImageHeader` of entry i (raises `BadImage`); called from threads.
        source: the spec, for the warning.
        strict_boxes: refuse a box past its image instead of clipping it.
        skip_bad_images: drop bad images (counted) instead of refusing them.
        max_pixels: the pixel limit (None: `max_image_pixels()`).
        cache_key: identifies the files read and their state (`files_key`); a scan with the same
            key reuses the headers read last time. None: always read.

    Returns:
        A `CheckedImages`; a warning is logged when boxes were clipped or images skipped.

    Raises:
        ValueError: one line naming the file and the annotation line: a bad image (without
            `skip_bad_images`), a box entirely outside its image, a box past it with
            `strict_boxes`, a stated size that differs from the header's.
    """
    limit = max_image_pixels(max_pixels)
    key = None if cache_key is None else (cache_key, limit)
    headers = _SCANS.get(key) if key is not None else None
    if headers is None:
        headers = scan_headers(range(len(entries)), lambda i: check_pixels(header_of(i), limit))
        if key is not None:
            _SCANS[key] = headers
            while len(_SCANS) > _SCANS_KEPT:
                _SCANS.popitem(last=False)
    else:
        _SCANS.move_to_end(key)
    kept, boxes_out, sizes, clipped, skipped, bad = [], [], [], [], [], []
    num_clipped = 0
    kinds: Counter[str] = Counter()
    largest: tuple[str, int, int] | None = None
    for i, (entry, header) in enumerate(zip(entries, headers, strict=True)):
        if isinstance(header, BadImage):
            bad.append((entry.location, str(header)))
            if not skip_bad_images:
                raise ValueError(
                    f"Unreadable image {entry.location} (listed at {entry.where}): {header}. "
                    "Replace the file, or pass --skip-bad-images (`skip_bad_images=True`) to "
                    "train without it."
                )
            skipped.append(f"{entry.location}: {header}")
            continue
        kinds[header.kind] += 1
        width, height = header.width, header.height
        if largest is None or width * height > largest[1] * largest[2]:
            largest = (entry.location, width, height)
        if entry.stated_size is not None and tuple(entry.stated_size) != (width, height):
            stated = entry.stated_size
            raise ValueError(
                f"Image {entry.location} is {width} x {height} (width x height) but "
                f"{entry.size_where or entry.where} states {stated[0]} x {stated[1]}."
            )
        boxes = []
        for k, box in enumerate(entry.boxes):
            at, line = entry.box_lines[k] if entry.box_lines else (entry.where, None)
            received = (
                f" Received: {line!r}" if line is not None else f" Received: {_box_text(box)}"
            )
            result = clip_box(box, width, height)
            if result is None:
                raise ValueError(
                    f"Box at {at} lies entirely outside the {width} x {height} image "
                    f"{entry.location}: x0 <= {width - 1}, y0 <= {height - 1}, x1 >= 0 and "
                    f"y1 >= 0 are needed.{received}"
                )
            new, changed = result
            if changed:
                if strict_boxes:
                    raise ValueError(
                        f"Box at {at} extends past the {width} x {height} image {entry.location}: "
                        f"{_box_text(box)} (inclusive corners; --strict-boxes refuses it, without "
                        f"it the box would be clipped to {_box_text(new)}).{received}"
                    )
                num_clipped += 1
                if len(clipped) < EXAMPLES_KEPT:
                    clipped.append(
                        f"{entry.location}: {_box_text(box)} -> {_box_text(new)} at {at}"
                    )
            boxes.append(new)
        kept.append(i)
        boxes_out.append(boxes)
        sizes.append((width, height))
    if entries and not kept:
        raise ValueError(
            f"{source}: none of the {len(entries)} images can be read (e.g. {skipped[0]})."
        )
    if num_clipped:
        logger.warning(
            "%s: clipped %d box(es) that extend past their image (e.g. %s); --strict-boxes "
            "refuses them instead.",
            source,
            num_clipped,
            "; ".join(clipped[:2]),
        )
    if skipped:
        logger.warning(
            "%s: skipped %d unreadable image(s) (--skip-bad-images), e.g. %s.",
            source,
            len(skipped),
            "; ".join(skipped[:2]),
        )
    scan = ScanSummary(
        num_images=len(entries),
        kinds=tuple(sorted(kinds.items())),
        largest=largest,
        bad=tuple(bad[:EXAMPLES_KEPT]),
        num_bad=len(bad),
        box_counts=tuple(len(b) for b in boxes_out),
        area_fractions=tuple(
            (x1 - x0 + 1) * (y1 - y0 + 1) / (w * h)
            for boxes, (w, h) in zip(boxes_out, sizes, strict=True)
            for x0, y0, x1, y1 in boxes
        ),
    )
    return CheckedImages(
        kept=tuple(kept),
        boxes=tuple(boxes_out),
        sizes=tuple(sizes),
        num_clipped_boxes=num_clipped,
        clipped_boxes=tuple(clipped),
        num_skipped_images=len(skipped),
        skipped_images=tuple(skipped[:EXAMPLES_KEPT]),
        scan=scan,
    )


def data_checks_record(info: Any) -> dict[str, Any]:
    """What the checks changed, for a run's config.json and an evaluation's metrics.json."""
    return {
        "clipped_boxes": int(getattr(info, "num_clipped_boxes", 0)),
        "clipped_examples": list(getattr(info, "clipped_boxes", ())),
        "skipped_images": int(getattr(info, "num_skipped_images", 0)),
        "skipped_examples": list(getattr(info, "skipped_images", ())),
    }


__all__ = [
    "BadImage",
    "CheckedImages",
    "ImageEntry",
    "ImageHeader",
    "MAX_IMAGE_PIXELS",
    "MAX_PIXELS_ENV",
    "ScanSummary",
    "check_images",
    "check_pixels",
    "clip_box",
    "data_checks_record",
    "files_key",
    "header_of_bytes",
    "header_of_file",
    "max_image_pixels",
    "read_header",
    "scan_headers",
    "scan_progress",
]
