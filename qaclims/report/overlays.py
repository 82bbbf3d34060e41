"""Montages of the evaluation overlays: whole overlay strips, one under another, each with a caption."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from qaclims.data.images import load_rgb
from qaclims.evaluation.pictures import evenly_spaced

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


OVERLAY_HEIGHT = 160  # the most pixels an overlay strip keeps in the montages


def overlay_montage(sources: dict[str, str], count: int, captions: dict[str, str], missing_text: str) -> Image.Image:
    """Up to ``count`` images drawn in every overlay folder of ``sources`` (row label -> folder), a row per folder."""
    shared = set.intersection(*({path.stem for path in Path(folder).glob("*.png")} for folder in sources.values()))
    chosen = evenly_spaced(pd.DataFrame({"image_id": sorted(shared)}), count)["image_id"]
    rows = [(f"{image_id} ({captions.get(image_id, '')}): {label}",
             np.asarray(load_rgb(Path(folder) / f"{image_id}.png")))
            for image_id in chosen for label, folder in sources.items()]
    return stacked_rows(rows, OVERLAY_HEIGHT) if rows else text_picture(missing_text)
