"""A folder of your own images: ``images/``, ``labels.csv`` and, for evaluation only, ``masks/``.

``labels.csv`` has a header and one row per image: ``image`` (its file name in ``images/``), ``classes`` (its
class names separated by ``;``) and an optional ``split`` (its splits, separated by ``;``). Without the split
column every image is in every split of dataset.splits. A mask is ``masks/<image file stem>.png``, with 0 for
background, 1..C in the order of dataset.classes and 255 for ignore.
"""

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qaclims.data.records import ImageRecord
from qaclims.errors import DatasetError

LABELS_FILE = "labels.csv"
IMAGES_FOLDER = "images"
MASK_PATTERN = os.path.join("masks", "{image_id}.png")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
COLUMNS = ("image", "classes")
SPLIT_COLUMN = "split"
SEPARATOR = ";"


@dataclass
class FolderDataset:
    records: list[ImageRecord]
    unlabelled: list[str] = field(default_factory=list)  # file names of the rows with no class
    unlisted: list[str] = field(default_factory=list)  # image files that labels.csv does not name


def _names(cell: str | None) -> list[str]:
    return [name.strip() for name in (cell or "").split(SEPARATOR) if name.strip()]


def _read_rows(path: str) -> tuple[list[dict], bool]:
    """The rows of labels.csv and whether it has the split column."""
    if not os.path.isfile(path):
        raise DatasetError(f"labels file {path} does not exist; write it with the header "
                           f"`image,classes` (or `image,classes,split`) and one row per image")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in COLUMNS if name not in header]
        if missing:
            raise DatasetError(f"labels file {path} has no column {', '.join(missing)} in its header {header}; "
                               "its first line must be `image,classes` or `image,classes,split`")
        reader.fieldnames = header
        return list(reader), SPLIT_COLUMN in header


def read_folder(root: str, classes: Sequence[str], splits: Sequence[str]) -> FolderDataset:
    """Records of the labelled images listed in labels.csv, with an error naming the row of any bad entry."""
    labels_path = os.path.join(root, LABELS_FILE)
    rows, has_split = _read_rows(labels_path)
    index_of_class = {name: k for k, name in enumerate(classes)}
    images_dir = os.path.join(root, IMAGES_FOLDER)
    records, unlabelled = [], []
    row_of_id: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        where = f"{labels_path} line {line}"
        name = (row.get("image") or "").strip()
        if not name:
            raise DatasetError(f"{where} has no image file name; fill the image column or remove the line")
        extra = [field.strip() for field in row.get(None) or []]
        if extra:
            columns = "image,classes,split" if has_split else "image,classes"
            classes_cell = SEPARATOR.join(_names(row.get("classes")) + ([] if has_split else extra))
            raise DatasetError(f"{where} has {len(extra)} more fields than the header `{columns}`: {extra}; separate "
                               f"the classes of one image by {SEPARATOR!r} in one field, as in "
                               f"`{name},{classes_cell}`")
        image_id, suffix = os.path.splitext(name)
        if suffix.lower() not in IMAGE_SUFFIXES:
            raise DatasetError(f"{where}: image {name!r} is not a JPEG or PNG file name ({', '.join(IMAGE_SUFFIXES)}); "
                               "convert the image or remove the line")
        if image_id in row_of_id:
            raise DatasetError(f"{where}: image {name!r} has the name stem of line {row_of_id[image_id]}; "
                               "list each image once, and give images of one stem different names")
        row_of_id[image_id] = line
        path = os.path.join(images_dir, name)
        if not os.path.isfile(path):
            raise DatasetError(f"{where}: image {path} does not exist; add the file or remove the line")
        unknown = [label for label in _names(row.get("classes")) if label not in index_of_class]
        if unknown:
            raise DatasetError(f"{where} names classes {unknown}, which are not in dataset.classes "
                               f"{list(classes)}; add them to dataset.classes or fix the line")
        image_splits = set(_names(row.get(SPLIT_COLUMN))) if has_split else set(splits)
        if has_split and not image_splits:
            raise DatasetError(f"{where} has no split; name its splits, or drop the split column so that every "
                               "image is in every split")
        unknown_splits = sorted(image_splits - set(splits))
        if unknown_splits:
            raise DatasetError(f"{where} names splits {unknown_splits}, which are not in dataset.splits "
                               f"{list(splits)}; add them there or fix the line")
        labels = frozenset(index_of_class[label] for label in _names(row.get("classes")))
        if not labels:
            unlabelled.append(name)
            continue
        mask = os.path.join(root, MASK_PATTERN.format(image_id=image_id))
        records.append(ImageRecord(image_id=image_id, image_path=path, labels=labels, splits=image_splits,
                                   mask_path=mask if os.path.isfile(mask) else None))
    if not records:
        raise DatasetError(f"labels file {labels_path} gives no image a class, so there is nothing to train on; add "
                           f"one row per image, as in `photo.jpg,{classes[0]}`")
    listed = {(row.get("image") or "").strip() for row in rows}
    unlisted = sorted(path.name for path in Path(images_dir).glob("*")
                      if path.suffix.lower() in IMAGE_SUFFIXES and path.name not in listed)
    return FolderDataset(sorted(records, key=lambda record: record.image_id), unlabelled, unlisted)
