"""Montages of the evaluation overlays: whole overlay strips, one under another, each with a caption."""

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

CAPTION_HEIGHT = 14
GAP = 6


def stacked_rows(rows: Sequence[tuple[str, np.ndarray]], max_height: int) -> Image.Image:
    """Each (caption, [H, W, 3] picture) under its caption, one row after another, shrunk to ``max_height`` if taller.

    Overlay strips differ in width (one heat map per labelled class), so they are stacked
    rather than laid out in a grid. Small pictures are not enlarged, which would only
    make the file bigger.
    """
    if not rows:
        raise ValueError("a montage needs at least one row")
    pictures = []
    for _, picture in rows:
        image = Image.fromarray(picture)
        if image.height > max_height:
            image = image.resize((max(1, round(image.width * max_height / image.height)), max_height),
                                 Image.Resampling.BILINEAR)
        pictures.append(image)
    sheet = Image.new("RGB", (max(image.width for image in pictures) + 2 * GAP,
                              sum(CAPTION_HEIGHT + image.height + GAP for image in pictures) + GAP), "white")
    draw = ImageDraw.Draw(sheet)
    top = GAP
    for (caption, _), image in zip(rows, pictures):
        draw.text((GAP, top), caption, fill="black")
        sheet.paste(image, (GAP, top + CAPTION_HEIGHT))
        top += CAPTION_HEIGHT + image.height + GAP
    return sheet


def text_picture(text: str) -> Image.Image:
    """A small picture saying ``text``: what a montage shows when there is nothing to show."""
    picture = Image.new("RGB", (8 * len(text) + 2 * GAP, CAPTION_HEIGHT + 2 * GAP), "white")
    ImageDraw.Draw(picture).text((GAP, GAP), text, fill="black")
    return picture
