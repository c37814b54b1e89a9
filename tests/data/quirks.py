"""Generated files that reproduce the real datasets' quirks (REFERENCE.md, "Real files and their
quirks"), in every file source's layout: a damaged image in place of a good one, a box past the
image, a JPEG with ICC and EXIF segments, a PNG that declares a huge size."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from tests.data.layouts import (
    WSOL_CLASSES,
    csv_files,
    cub_files,
    imagenet_files,
    write_cub,
    write_files,
    wsol_files,
)
from tests.fake_tiny_imagenet import tiny_imagenet_files, write_tiny_imagenet

#: Every file source, in each form it reads (folder, archive).
FORMS = ("cub", "cub-tgz", "imagenet", "wsol", "csv", "tiny-zip", "tiny-folder")


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_declaring(width: int, height: int) -> bytes:
    """A complete PNG of about 100 bytes whose header declares `width` x `height` RGB pixels (a
    20,000 x 20,000 one would decode to 1.2 GB)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def with_icc_and_exif(jpeg: bytes, orientation: int = 0) -> bytes:
    """`jpeg` with an EXIF segment (APP1) holding an Orientation tag of `orientation` (ILSVRC val
    has one image with the invalid value 0) and an ICC profile segment (APP2) before its frame."""
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + b"\x00\x00\x00\x00"
    exif = b"Exif\x00\x00" + tiff
    icc = b"ICC_PROFILE\x00\x01\x01" + bytes(range(256)) * 12  # a 3 KB stand-in profile
    segments = b"".join(
        b"\xff" + marker + struct.pack(">H", len(body) + 2) + body
        for marker, body in ((b"\xe1", exif), (b"\xe2", icc))
    )
    return jpeg[:2] + segments + jpeg[2:]


#: Ways an image file is damaged, as downloads and copies damage them.
DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda data: data[: len(data) // 2],
    "zero-bytes": lambda data: b"",
    "not-an-image": lambda data: b"<html>404 Not Found</html>\n",
    "pixel-bomb": lambda data: png_declaring(20_000, 20_000),
}


def write_form(
    form: str, root: Path, replace: Callable[[bytes], bytes] | None = None
) -> tuple[str, str | None, str, str]:
    """Writes a small copy of `form`'s layout under `root`, with one image's bytes passed through
    `replace`; returns (spec, data_dir, split holding the image, the image's path in the spec's
    terms, for matching messages)."""
    data_dir = None
    if form in ("cub", "cub-tgz"):
        files, truth = cub_files()
        victim = f"images/{truth[1]['path']}"
        split = "train"
    elif form == "imagenet":
        files, _ = imagenet_files(xml=False)
        victim = "ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00000001.JPEG"
        split = "val"
    elif form == "wsol":
        meta, files, _ = wsol_files()
        victim = f"{WSOL_CLASSES[0]}/val_0.jpg"
        split = "val"
    elif form == "csv":
        files, _ = csv_files()
        victim = "photos/val/cat_0.jpg"
        split = "val"
    else:
        files = tiny_imagenet_files()
        victim = "val/images/val_3.JPEG"
        split = "val"
    if replace is not None:
        files[victim] = replace(files[victim])
    if form in ("cub", "cub-tgz"):
        spec = f"cub:{write_cub(files, root, as_tgz=form == 'cub-tgz')}"
    elif form == "imagenet":
        spec = f"imagenet:{write_files(files, root)}"
    elif form == "wsol":
        spec = f"wsol:{write_files(meta, root / 'meta')}"
        data_dir = str(write_files(files, root / "images"))
    elif form == "csv":
        spec = f"csv:{write_files(files, root) / 'data.csv'}"
    else:
        spec = f"tiny-imagenet:{write_tiny_imagenet(files, root, as_zip=form == 'tiny-zip')}"
    return spec, data_dir, split, victim
