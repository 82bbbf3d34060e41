"""Pictures for people: label overlays and image montages."""

from collections.abc import Sequence

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from qaclims.cam.labels import label_map
from qaclims.data.labels import VOC_PALETTE


def overlay_label(image: np.ndarray, label: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend the VOC colour of every labelled pixel into an [H, W, 3] uint8 image.

    Background (0) stays as it is; the ignore band (255) shows in its palette colour.
    """
    colours = VOC_PALETTE[label].astype(np.float32)
    blended = image.astype(np.float32)
    labelled = label != 0
    blended[labelled] = (1 - alpha) * blended[labelled] + alpha * colours[labelled]
    return blended.round().astype(np.uint8)


def captioned_tile(picture: np.ndarray, caption: str, width: int, height: int) -> Image.Image:
    """Fit a picture into a ``width`` x ``height`` box (aspect kept) with a caption strip below."""
    tile = Image.new("RGB", (width, height + 14), "white")
    image = Image.fromarray(picture)
    image.thumbnail((width, height), Image.Resampling.BILINEAR)
    tile.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    ImageDraw.Draw(tile).text((2, height + 1), caption, fill="black")
    return tile


def side_by_side(*pictures: np.ndarray, gap: int = 4) -> np.ndarray:
    """[H, W, 3] pictures of one height next to each other, white between them."""
    spacer = np.full((pictures[0].shape[0], gap, 3), 255, dtype=np.uint8)
    return np.concatenate([part for picture in pictures for part in (picture, spacer)][:-1], axis=1)


def montage(tiles: Sequence[Image.Image], columns: int, gap: int = 4) -> Image.Image:
    """Lay equally sized tiles out in a grid."""
    if not tiles:
        raise ValueError("a montage needs at least one tile")
    width, height = tiles[0].size
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * (width + gap) + gap, rows * (height + gap) + gap), (230, 230, 230))
    for position, tile in enumerate(tiles):
        row, column = divmod(position, columns)
        sheet.paste(tile, (gap + column * (width + gap), gap + row * (height + gap)))
    return sheet


def heatmap(image: np.ndarray, cam: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """An [H, W] map in [0, 1] drawn over the image, blue (low) through green to red (high)."""
    value = np.clip(cam.astype(np.float32), 0, 1)[..., None]
    colours = np.concatenate([np.clip(2 * value - 1, 0, 1), 1 - np.abs(2 * value - 1), np.clip(1 - 2 * value, 0, 1)], axis=-1)
    return ((1 - alpha) * image.astype(np.float32) + alpha * 255 * colours).round().astype(np.uint8)


def cam_overlay(image: np.ndarray, cams: dict, threshold: float, *labels: np.ndarray) -> np.ndarray:
    """The image, a heat map per labelled class, the prediction at ``threshold`` and any further label maps (the
    ground truth), side by side."""
    prediction = label_map(cams["high_res"], cams["keys"], threshold)
    return side_by_side(image, *(heatmap(image, cam) for cam in cams["high_res"]),
                        *(label_picture(label) for label in (prediction, *labels)))


def label_picture(label: np.ndarray) -> np.ndarray:
    """A label map in the VOC colours (background black, ignore light)."""
    return VOC_PALETTE[label]


def evenly_spaced(frame: pd.DataFrame, count: int) -> pd.DataFrame:
    """Up to ``count`` rows spread over the whole frame, first and last included: pictures to show."""
    positions = np.unique(np.linspace(0, len(frame) - 1, num=min(count, len(frame))).round().astype(int))
    return frame.iloc[positions]
