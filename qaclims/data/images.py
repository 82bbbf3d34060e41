"""Reading dataset images."""

import os

import numpy as np
from PIL import Image

from qaclims.errors import DatasetError


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """The image at ``path`` as RGB, fully decoded; a missing or corrupt file names the path."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError) as error:
        raise DatasetError(f"image {path} cannot be read ({error}); replace the file or fix the index") from error


IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def imagenet_normalise(image: Image.Image) -> np.ndarray:
    """[H, W, 3] float32 pixels normalised with ImageNet statistics, as the CAM networks expect."""
    return (np.asarray(image, dtype=np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
