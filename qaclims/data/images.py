"""Reading dataset images."""

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from qaclims.errors import DatasetError

# EXIF orientations 5 to 8 turn the picture by a quarter, so its upright width is its stored height.
EXIF_ORIENTATION = 0x0112
QUARTER_TURNS = (5, 6, 7, 8)


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """The image at ``path`` as RGB, fully decoded; a missing or corrupt file names the path."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError) as error:
        raise DatasetError(f"image {path} cannot be read ({error}); replace the file or fix the index") from error


def upright_size(image: Image.Image) -> tuple[int, int]:
    """(height, width) of an opened image as it shows once its EXIF orientation is applied."""
    width, height = image.size
    return (width, height) if image.getexif().get(EXIF_ORIENTATION) in QUARTER_TURNS else (height, width)


@dataclass
class Photo:
    image: Image.Image  # upright RGB, shrunk to the cap
    size: tuple[int, int]  # upright (height, width) before shrinking
    mode: str  # the file's own mode, RGB or another
    oriented: bool  # whether the file's EXIF orientation turned or mirrored it


def load_upright_rgb(path: str | os.PathLike, max_long_side: int | None = None) -> Photo:
    """A photo as the pipeline sees it: this is the one place where a folder dataset's photos and the new images
    to predict are turned upright, so an image, its CAM and its mask line up.

    The EXIF orientation is applied, every mode (grayscale, palette, RGBA, CMYK) becomes RGB, and with
    ``max_long_side`` a larger image is shrunk to that long side.
    """
    try:
        with Image.open(path) as image:
            size, mode = upright_size(image), image.mode
            oriented = image.getexif().get(EXIF_ORIENTATION, 1) != 1
            if max_long_side is not None and max(size) > max_long_side:
                # A JPEG decodes at a fraction of its size for free; draft keeps at least the requested size.
                image.draft("RGB", (max_long_side, max_long_side))
            rgb = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, SyntaxError) as error:
        raise DatasetError(f"image {path} cannot be read ({error}); replace the file or remove it") from error
    if max_long_side is not None and max(rgb.size) > max_long_side:
        rgb = rgb.resize(capped_size(rgb.size, max_long_side), Image.Resampling.BICUBIC, reducing_gap=2.0)
    return Photo(rgb, size, mode, oriented)


def capped_size(size: tuple[int, int], max_long_side: int) -> tuple[int, int]:
    """A (width, height) shrunk, aspect kept, so that its long side is at most ``max_long_side``."""
    scale = min(1.0, max_long_side / max(size))
    return tuple(max(1, round(side * scale)) for side in size)


IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def imagenet_normalise(image: Image.Image) -> np.ndarray:
    """[H, W, 3] float32 pixels normalised with ImageNet statistics, as the CAM networks expect."""
    return (np.asarray(image, dtype=np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
