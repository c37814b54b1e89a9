"""CAM files in wsolevaluation's format: one `<image_id>.npy` per image, both ways.

`DIR/<image_id>.npy` holds the 2-D map of the ground-truth class, floats in [0, 1], where
`<image_id>` is the element's id: for `wsol:` sources the path relative to the image root, exactly
as the metadata's image_ids.txt names it (so wsolevaluation's `evaluation.py --scoremap_root DIR`
reads them); for other sources the id the loader gives (e.g. "synthetic/test/000012").
`evaluate_run(..., save_cams=DIR)` writes the CAMs it scores (float32; 224 x 224 under protocol
"wsolevaluation"); `evaluate_run(None, cams=DIR, ...)` scores CAMs another tool saved.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from hide_and_seek_tf._io import atomic_path

SUFFIX = ".npy"


class CamFiles:
    """A folder of `<image_id>.npy` CAM files.

    Args:
        folder: the folder (created on the first write).
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def path(self, image_id: str) -> Path:
        """`folder / (image_id + ".npy")`.

        Raises:
            ValueError: an id that is empty, absolute or climbs out of the folder.
        """
        parts = PurePosixPath(image_id).parts
        if not image_id or image_id.startswith("/") or ".." in parts or "\\" in image_id:
            raise ValueError(
                "CAM files are named by image ids that are relative paths. "
                f"Received: image_id={image_id!r}"
            )
        return self.folder.joinpath(*parts).with_name(parts[-1] + SUFFIX)

    def write(self, ids: Sequence[str], cams: np.ndarray) -> None:
        """Writes each map as float32 `<id>.npy`, atomically (a temporary file, then a rename)."""
        cams = np.asarray(cams, np.float32)
        paths = [self.path(str(i)) for i in ids]  # every id checked before anything is written
        for path, cam in zip(paths, cams, strict=True):
            with atomic_path(path, suffix=SUFFIX) as tmp, open(tmp, "wb") as f:
                np.save(f, cam)

    def read(self, ids: Sequence[str]) -> np.ndarray:
        """The maps of `ids`, stacked as saved (float32 or float64: wsolevaluation scores them in
        float64, so a float64 file is not rounded).

        Raises:
            ValueError: a missing file, or one that is not a finite 2-D float map in [0, 1] of
                the batch's shape (named).
        """
        maps = []
        for image_id in ids:
            path = self.path(str(image_id))
            if not path.is_file():
                raise ValueError(f"No CAM file for image {image_id!r}: {path} does not exist.")
            cam = np.load(path, allow_pickle=False)
            problem = None
            if cam.ndim != 2 or not np.issubdtype(cam.dtype, np.floating):
                problem = f"a {cam.ndim}-D {cam.dtype} array"
            elif not np.isfinite(cam).all():
                problem = "NaN or Inf values"
            elif cam.size and (cam.min() < 0 or cam.max() > 1):
                problem = f"values in [{cam.min():g}, {cam.max():g}]"
            elif maps and cam.shape != maps[0].shape:
                problem = f"shape {cam.shape}, the batch's first {maps[0].shape}"
            if problem:
                raise ValueError(
                    f"CAM file {path} must be a 2-D float map in [0, 1] (all of one shape). "
                    f"Received: {problem}"
                )
            maps.append(cam)
        return np.stack(maps)


__all__ = ["SUFFIX", "CamFiles"]
