"""A TFDS builder for Tiny ImageNet with boxes, prepared offline from the official zip.

Importing this module registers the dataset name "tiny_imagenet_hs" with TFDS. Prepare it once::

    import tensorflow_datasets as tfds
    import hide_and_seek_tf.data.tfds_tiny_imagenet_builder  # registers the builder
    builder = tfds.builder("tiny_imagenet_hs", data_dir=DATA_DIR)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=DIR_WITH_THE_ZIP))

then `tfds.load("tiny_imagenet_hs", data_dir=DATA_DIR)` or
`load_dataset("tfds:tiny_imagenet_hs", "val", data_dir=DATA_DIR)` works offline.

Features: "image" (64, 64, 3) uint8 (the original JPEG bytes, stored unchanged), "label"
ClassLabel named by wnid in wnids.txt order, "objects"/"bbox" a sequence of TFDS normalized
(ymin, xmin, ymax, xmax) boxes, and "id" (the file name). Boxes are stored as ymin = y0 / H,
ymax = (y1 + 1) / H (and likewise for x), so the inclusive pixel box is recovered exactly by
`elements.normalized_to_inclusive`. The human-readable class names are in
`info.metadata["class_names"]`.
Splits: "train" (100,000 images) and "validation" (10,000).
"""

from __future__ import annotations

import inspect
import zipfile
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from hide_and_seek_tf.data.tiny_imagenet import (
    IMAGE_SIZE,
    TinyImageNetIndex,
    read_tiny_imagenet_index,
)

_ZIP_NAME = "tiny-imagenet-200.zip"

_DESCRIPTION = """
Tiny ImageNet (Stanford CS231n): 200 ImageNet classes at 64 x 64 pixels, 500 train and 50 val images
per class, each with one object bounding box. Read from the official zip without unzipping.
"""

_CITATION = """
@misc{tinyimagenet,
  title = {Tiny ImageNet Visual Recognition Challenge},
  author = {Le, Ya and Yang, Xuan},
  howpublished = {CS231N, Stanford},
  year = {2015}
}
"""


def find_source(manual_dir: Path) -> Path:
    """The zip or folder to read inside `manual_dir`.

    Accepts `manual_dir/tiny-imagenet-200.zip` (or a single other `tiny-imagenet*.zip`),
    `manual_dir/tiny-imagenet-200/`, or `manual_dir` itself being the extracted folder.

    Raises:
        FileNotFoundError: none of these is there (the message repeats the instructions).
    """
    manual_dir = Path(manual_dir)
    zips = sorted(manual_dir.glob("tiny-imagenet*.zip"))
    candidates = [manual_dir / _ZIP_NAME, *(zips if len(zips) == 1 else [])]
    candidates += [manual_dir / "tiny-imagenet-200", manual_dir]
    for candidate in candidates:
        if candidate.is_file() or (candidate / "wnids.txt").is_file():
            return candidate
    raise FileNotFoundError(
        f"No {_ZIP_NAME} (or extracted tiny-imagenet-200 folder) in manual_dir={manual_dir}. "
        + TinyImagenetHs.MANUAL_DOWNLOAD_INSTRUCTIONS
    )


class _ClassProperty:
    def __init__(self, fget):
        self.fget = fget

    def __get__(self, obj, owner=None):
        return self.fget(owner)


class TinyImagenetHs(tfds.core.GeneratorBasedBuilder):
    """Tiny ImageNet with bounding boxes, from a manually downloaded zip."""

    # TFDS 4.9.x finds this file through `importlib_resources`, which it does not install on
    # Python >= 3.9 (tensorflow/datasets#11212); give the path directly.
    code_path = _ClassProperty(lambda cls: epath.Path(inspect.getfile(cls)))

    name = "tiny_imagenet_hs"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: train and validation with one box per image."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download tiny-imagenet-200.zip from http://cs231n.stanford.edu/tiny-imagenet-200.zip "
        "and put it (or its extracted tiny-imagenet-200 folder) in the manual_dir, e.g. "
        "`download_config=tfds.download.DownloadConfig(manual_dir=DIR)`."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(*IMAGE_SIZE, 3), encoding_format="jpeg"),
                    # Names (wnids) are set from wnids.txt when the data is prepared.
                    "label": tfds.features.ClassLabel(),
                    "objects": tfds.features.Sequence({"bbox": tfds.features.BBoxFeature()}),
                    "id": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="http://cs231n.stanford.edu/tiny-imagenet-200.zip",
            citation=_CITATION,
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        source = find_source(Path(dl_manager.manual_dir))
        train = read_tiny_imagenet_index(source, "train")
        val = read_tiny_imagenet_index(source, "val")
        self.info.features["label"].names = list(train.wnids)
        self.info.metadata["class_names"] = list(train.class_names)
        return {"train": self._generate_examples(train), "validation": self._generate_examples(val)}

    def _generate_examples(self, index: TinyImageNetIndex):
        height, width = IMAGE_SIZE
        scale = np.array([height, width, height, width], np.float32)
        zf = zipfile.ZipFile(index.source) if index.is_zip else None
        try:
            for member, label, box, image_id in zip(
                index.members, index.labels, index.boxes, index.ids, strict=True
            ):
                if zf is not None:
                    data = zf.read(index.root + member)
                else:
                    data = (index.source / member).read_bytes()
                x0, y0, x1, y1 = box
                bbox = np.array([y0, x0, y1 + 1.0, x1 + 1.0], np.float32) / scale
                yield (
                    image_id,
                    {
                        "image": data,
                        "label": int(label),
                        "objects": {"bbox": [tfds.features.BBox(*bbox.tolist())]},
                        "id": image_id,
                    },
                )
        finally:
            if zf is not None:
                zf.close()
