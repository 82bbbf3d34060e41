"""Per-image files that one stage hands the next (CAM npz, label PNGs), found across shard folders and checked."""

import glob
import os

import numpy as np

from qaclims.data.labels import IGNORE_INDEX, read_label_png
from qaclims.errors import DatasetError


def files_by_image(folders: list[str], image_ids, suffix: str, producer: str) -> dict[str, str]:
    """{image_id: path} of ``<folder>/<image_id><suffix>`` for every image id, or an error naming the gap."""
    found = {os.path.basename(path)[:-len(suffix)]: path
             for folder in folders for path in glob.glob(os.path.join(glob.escape(folder), f"*{suffix}"))}
    missing = [image_id for image_id in image_ids if image_id not in found]
    if missing:
        raise DatasetError(f"{len(missing)} images have no {suffix} file in {folders}, first: {missing[:5]}; "
                           f"run {producer} on a split that contains them")
    return found


def checked_label_map(path: str, num_classes: int, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """A label PNG whose values are 0..num_classes or 255 and, if given, whose size (H, W) is the image's."""
    label = read_label_png(path)
    bad = np.setdiff1d(np.unique(label), np.r_[np.arange(num_classes + 1), IGNORE_INDEX])
    if bad.size:
        raise DatasetError(f"label map {path} has values {bad.tolist()} outside 0..{num_classes} and {IGNORE_INDEX}")
    if image_size is not None and label.shape != tuple(image_size):
        raise DatasetError(f"label map {path} is {label.shape[0]}x{label.shape[1]} but its image is "
                           f"{image_size[0]}x{image_size[1]}; make it again from the current images")
    return label
