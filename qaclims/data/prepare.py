"""A folder dataset as every stage reads it: each photo upright, RGB and within the long-side cap, made once."""

import csv
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image
from tqdm import tqdm

from qaclims.data.folder import IMAGES_FOLDER, LABELS_FILE, MASK_PATTERN, SEPARATOR
from qaclims.data.images import load_upright_rgb
from qaclims.data.index import DatasetIndex, split_column
from qaclims.data.labels import read_label_png, write_label_png
from qaclims.runtime.atomic import atomic_path


@dataclass
class PreparedImage:
    size: tuple[int, int]  # upright (height, width) of the original
    prepared_size: tuple[int, int]
    mode: str
    oriented: bool


def prepare_image(image_path: str, mask_path: str | None, image_id: str, out_root: str,
                  max_long_side: int) -> PreparedImage:
    """Write the image upright and capped as a PNG, and its mask, if any, at the same size by nearest neighbour."""
    photo = load_upright_rgb(image_path, max_long_side)
    with atomic_path(os.path.join(out_root, IMAGES_FOLDER, f"{image_id}.png")) as partial:
        photo.image.save(partial, format="PNG")
    if mask_path is not None:
        mask = Image.fromarray(read_label_png(mask_path))
        # Nearest neighbour keeps every value a class index, ignore (255) included.
        resized = mask.resize(photo.image.size, Image.Resampling.NEAREST) if mask.size != photo.image.size else mask
        write_label_png(os.path.join(out_root, MASK_PATTERN.format(image_id=image_id)), np.asarray(resized))
    return PreparedImage(photo.size, (photo.image.height, photo.image.width), photo.mode, photo.oriented)


def write_labels(index: DatasetIndex, path: str) -> None:
    """labels.csv of the prepared images, each row with its classes and its splits spelled out."""
    frame = index.frame
    labels = index.labels().astype(bool)
    in_split = frame[[split_column(split) for split in index.splits]].to_numpy()
    classes, splits = np.asarray(index.classes), np.asarray(index.splits)
    with atomic_path(path) as partial, open(partial, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "classes", "split"])
        for image_id, image_labels, image_splits in zip(frame["image_id"], labels, in_split):
            writer.writerow([f"{image_id}.png", SEPARATOR.join(classes[image_labels]),
                             SEPARATOR.join(splits[image_splits])])


def prepare_folder(index: DatasetIndex, out_root: str, max_long_side: int, threads: int) -> list[PreparedImage]:
    """The prepared copy of a checked folder dataset under ``out_root``, in the same layout."""
    frame = index.frame

    def prepare(row) -> PreparedImage:
        return prepare_image(row.image_path, row.mask_path, row.image_id, out_root, max_long_side)

    # PIL releases the GIL while decoding, resizing and encoding.
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        prepared = list(tqdm(pool.map(prepare, frame.itertuples()), total=len(frame), desc="preparing images",
                             unit="img", mininterval=1.0))
    write_labels(index, os.path.join(out_root, LABELS_FILE))
    return prepared


def preparation_summary(prepared: list[PreparedImage], max_long_side: int) -> list[str]:
    """What the preparation changed, in lines for the log."""
    capped = [image for image in prepared if image.size != image.prepared_size]
    lines = [f"prepared {len(prepared)} images"]
    if capped:
        largest = max(capped, key=lambda image: image.size[0] * image.size[1]).size
        lines.append(f"{len(capped)} images shrunk to a long side of {max_long_side} px (dataset.max_long_side; "
                     f"the largest was {largest[1]}x{largest[0]}); masks, where there are any, by nearest neighbour")
    oriented = sum(image.oriented for image in prepared)
    if oriented:
        lines.append(f"{oriented} images turned upright by their EXIF orientation")
    modes = Counter(image.mode for image in prepared if image.mode != "RGB")
    if modes:
        lines.append("converted to RGB: " + ", ".join(f"{count} {mode}" for mode, count in sorted(modes.items())))
    return lines
