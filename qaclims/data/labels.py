"""Label maps as 8-bit PNGs: 0 background, 1..C classes, 255 ignore, VOC colour map."""

import os

import numpy as np
from PIL import Image

from qaclims.errors import DatasetError
from qaclims.runtime.atomic import atomic_path

IGNORE_INDEX = 255


def voc_colormap(size: int = 256) -> np.ndarray:
    """The PASCAL VOC palette: the bits of each index spread over R, G and B, high bits first."""
    index = np.arange(size)
    colours = np.zeros((size, 3), dtype=np.uint8)
    for shift in range(7, -1, -1):
        for channel in range(3):
            bit = (index >> channel) & 1
            colours[:, channel] |= (bit << shift).astype(np.uint8)
        index = index >> 3
    return colours


VOC_PALETTE = voc_colormap()


def write_label_png(path: str | os.PathLike, label: np.ndarray) -> None:
    """Write a [H, W] uint8 label map as a palette PNG, atomically."""
    if label.ndim != 2 or label.dtype != np.uint8:
        raise ValueError(f"a label map must be a 2-D uint8 array, got {label.dtype} {label.shape}")
    image = Image.fromarray(label)
    image.putpalette(VOC_PALETTE.tobytes())
    with atomic_path(path) as partial:
        image.save(partial, format="PNG")


def read_label_png(path: str | os.PathLike) -> np.ndarray:
    """Read a label PNG (palette or single-channel index image) as a [H, W] uint8 array."""
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L"):
                raise DatasetError(
                    f"{path}: label PNG has mode {image.mode!r}; expected a palette ('P') or "
                    "single-channel ('L') index image. Convert colour masks to class indices first."
                )
            return np.asarray(image, dtype=np.uint8).copy()
    except OSError as error:
        raise DatasetError(f"{path}: cannot read label PNG ({error})") from error
