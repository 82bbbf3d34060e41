"""The dataset index: one row per image with its splits, size, labels and mask path.

Every later stage reads this table instead of the raw dataset. Columns:
``image_id``, ``image_path``, ``mask_path`` (None without a mask), ``height``, ``width``,
one boolean ``split_<name>`` per split and one uint8 ``label:<class>`` per class.
The class and split lists are also stored in the parquet metadata.
"""

import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from tqdm import tqdm

from qaclims.data.images import capped_size, upright_size
from qaclims.data.labels import IGNORE_INDEX, read_label_png
from qaclims.data.records import ImageRecord
from qaclims.errors import DatasetError
from qaclims.runtime.atomic import atomic_path

METADATA_KEY = b"qaclims"


def split_column(split: str) -> str:
    return f"split_{split}"


def label_column(class_name: str) -> str:
    return f"label:{class_name}"


def image_size(path: str, decode: bool, upright: bool = False) -> tuple[int, int]:
    """(height, width) of an image, with ``upright`` as its EXIF orientation shows it; with ``decode`` the whole
    file is decoded to catch corruption."""
    if not os.path.isfile(path):
        raise DatasetError(f"image {path} does not exist; every image in a split list needs one")
    try:
        with Image.open(path) as image:
            width, height = image.size
            size = upright_size(image) if upright else (height, width)
            if decode:
                # A reduced-scale JPEG decode still reads every entropy-coded block,
                # so truncation and corruption are caught at a fraction of the cost.
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
    except (OSError, SyntaxError) as error:
        raise DatasetError(f"image {path} cannot be read ({error}); replace the file") from error
    return size


def mask_size(path: str) -> tuple[int, int]:
    try:
        with Image.open(path) as mask:
            width, height = mask.size
    except OSError as error:
        raise DatasetError(f"mask {path} cannot be read ({error}); replace the file") from error
    return height, width


# The smallest image side that every stage takes: the multi-scale CAMs and segmentation shrink an image to half its
# size and less, and a side that rounds to no pixel fails deep inside a worker, naming no file.
MIN_IMAGE_SIDE = 8


@dataclass(frozen=True)
class ImageChecks:
    """How inspect_record checks a record beyond its size and its mask's size."""
    classes: Sequence[str]  # a mask's value k is classes[k - 1]
    decode: bool  # decode every image, and every mask to check its classes against the image's labels
    upright: bool = False  # the size is the one the EXIF orientation shows (a folder's photos are turned upright)
    max_long_side: int | None = None  # where the images will be shrunk to this long side (a folder's photos)


def inspect_record(record: ImageRecord, checks: ImageChecks) -> ImageRecord:
    """Fill the image size, checking that the image reads, is not too small, also once shrunk where it will be, and
    that the mask matches it."""
    record.height, record.width = image_size(record.image_path, checks.decode, checks.upright)
    if min(record.height, record.width) < MIN_IMAGE_SIDE:
        raise DatasetError(f"image {record.image_path} is {record.width}x{record.height}; every image needs at least "
                           f"{MIN_IMAGE_SIDE} pixels on each side; remove it from the dataset or enlarge it")
    if checks.max_long_side is not None:
        width, height = capped_size((record.width, record.height), checks.max_long_side)
        if min(height, width) < MIN_IMAGE_SIDE:
            raise DatasetError(f"image {record.image_path} is {record.width}x{record.height}, and {width}x{height} "
                               f"once shrunk to dataset.max_long_side {checks.max_long_side}; every image needs at "
                               f"least {MIN_IMAGE_SIDE} pixels on each side; crop it, remove it from the dataset, or "
                               "raise dataset.max_long_side")
    if record.mask_path is not None:
        size = mask_size(record.mask_path)
        if size != (record.height, record.width):
            raise DatasetError(
                f"mask {record.mask_path} is {size[1]}x{size[0]} but image {record.image_path} is "
                f"{record.width}x{record.height}; a mask must have its image's size"
            )
        if checks.decode:
            check_mask_classes(record, checks.classes)
    return record


def check_mask_classes(record: ImageRecord, classes: Sequence[str]) -> None:
    """A mask may hold only the classes its image is labelled with, besides background and ignore. Another one is
    most often a mask numbered for another class list, which would score every image wrongly."""
    values = np.unique(read_label_png(record.mask_path))
    classes_of_mask = values[(values != 0) & (values != IGNORE_INDEX)].astype(int) - 1  # 0 is background
    unlabelled = [index for index in classes_of_mask if index not in record.labels]
    if unlabelled:
        value = unlabelled[0] + 1
        named = f"class {value} ({classes[unlabelled[0]]})" if unlabelled[0] < len(classes) else (
            f"value {value}, which is no class of the {len(classes)} in dataset.classes")
        labels = [classes[index] for index in sorted(record.labels)]
        raise DatasetError(f"mask {record.mask_path} holds {named}, which its image is not labelled with {labels}; "
                           f"a mask's value k must be dataset.classes[k-1] (0 background, {IGNORE_INDEX} ignore): fix the "
                           "mask, or the order of dataset.classes")


def inspect_records(records: list[ImageRecord], checks: ImageChecks, threads: int) -> list[ImageRecord]:
    # PIL releases the GIL while decoding, so threads overlap the I/O and the decode.
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        return list(tqdm(
            pool.map(lambda record: inspect_record(record, checks), records),
            total=len(records), desc="checking images", unit="img", mininterval=1.0,
        ))


def check_masks_present(records: list[ImageRecord], mask_splits: Sequence[str], mask_pattern: str) -> None:
    for split in mask_splits:
        missing = [r.image_id for r in records if split in r.splits and r.mask_path is None]
        if missing:
            raise DatasetError(
                f"{len(missing)} images of split {split!r} have no mask matching dataset.mask_pattern "
                f"{mask_pattern!r}, first: {missing[:5]}; add the masks or remove {split!r} from "
                "dataset.mask_splits"
            )


def to_frame(records: list[ImageRecord], classes: Sequence[str], splits: Sequence[str]) -> pd.DataFrame:
    labels = np.zeros((len(records), len(classes)), dtype=np.uint8)
    for row, record in enumerate(records):
        labels[row, list(record.labels)] = 1
    columns = {
        "image_id": [r.image_id for r in records],
        "image_path": [r.image_path for r in records],
        "mask_path": pd.Series([r.mask_path for r in records], dtype=object),
        "height": np.array([r.height for r in records], dtype=np.int32),
        "width": np.array([r.width for r in records], dtype=np.int32),
    }
    for split in splits:
        columns[split_column(split)] = np.array([split in r.splits for r in records], dtype=bool)
    for k, name in enumerate(classes):
        columns[label_column(name)] = labels[:, k]
    return pd.DataFrame(columns)


@dataclass
class DatasetIndex:
    frame: pd.DataFrame
    classes: list[str]
    splits: list[str]

    def split(self, name: str) -> pd.DataFrame:
        if name not in self.splits:
            raise DatasetError(f"split {name!r} is not in the index; it has {self.splits}")
        return self.frame[self.frame[split_column(name)]]

    def labels(self, frame: pd.DataFrame | None = None) -> np.ndarray:
        """[N, C] uint8 multi-hot labels of ``frame`` (default: all images)."""
        frame = self.frame if frame is None else frame
        return frame[[label_column(name) for name in self.classes]].to_numpy(dtype=np.uint8)


def write_index(index: DatasetIndex, path: str) -> None:
    table = pa.Table.from_pandas(index.frame, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[METADATA_KEY] = json.dumps({"classes": index.classes, "splits": index.splits}).encode()
    with atomic_path(path) as partial:
        pq.write_table(table.replace_schema_metadata(metadata), partial)


def read_index(path: str) -> DatasetIndex:
    if not os.path.isfile(path):
        raise DatasetError(f"dataset index {path} does not exist; run the index stage first")
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise DatasetError(f"{path} is not a qaclims dataset index (no {METADATA_KEY.decode()} metadata)")
    meta = json.loads(raw)
    frame = table.to_pandas()
    # pandas reads a string column with gaps as NaN; the index promises None for "no mask".
    frame["mask_path"] = frame["mask_path"].astype(object).where(frame["mask_path"].notna(), None)
    return DatasetIndex(frame=frame, classes=meta["classes"], splits=meta["splits"])
