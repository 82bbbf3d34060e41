"""From class maps to label maps, the way every stage of the reference does it.

A constant background plane goes in front of the K maps of an image's labelled classes, the
argmax picks a plane, and plane i > 0 becomes class id keys[i - 1] + 1.
"""

import numpy as np

from qaclims.data.labels import IGNORE_INDEX


def thresholded_planes(maps: np.ndarray, threshold: float) -> np.ndarray:
    """[H, W] index of the winning plane when a constant ``threshold`` plane leads the [K, H, W] maps."""
    planes = np.concatenate([np.full((1, *maps.shape[1:]), threshold, np.float32), maps.astype(np.float32)])
    return planes.argmax(axis=0)


def planes_to_class_ids(planes: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """uint8 label map: plane 0 is background, plane i is class id keys[i - 1] + 1, 255 stays ignore."""
    class_ids = np.concatenate([[0], np.asarray(keys, dtype=np.int64) + 1])
    ignored = planes == IGNORE_INDEX
    return np.where(ignored, IGNORE_INDEX, class_ids[np.where(ignored, 0, planes)]).astype(np.uint8)


def label_map(maps: np.ndarray, keys: np.ndarray, threshold: float) -> np.ndarray:
    """uint8 [H, W] label map of the [K, H, W] maps of classes ``keys`` behind a background plane ``threshold``."""
    return planes_to_class_ids(thresholded_planes(maps, threshold), keys)
