"""COCO 2014 instances annotations: image-level labels from instances_{split}2014.json."""

import json
import os
from collections.abc import Sequence
from pathlib import Path

from qaclims.data.records import ImageRecord
from qaclims.errors import DatasetError


def _load_annotations(path: str) -> dict:
    if not os.path.isfile(path):
        raise DatasetError(f"COCO annotation file {path} does not exist; check dataset.root and dataset.coco_annotations")
    try:
        with open(path) as handle:
            data = json.load(handle)
    except json.JSONDecodeError as error:
        raise DatasetError(f"COCO annotation file {path} is not valid JSON ({error})") from error
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise DatasetError(f"COCO annotation file {path} has no {key!r} list")
    return data


def category_index(categories: list[dict], classes: Sequence[str], path: str) -> dict[int, int]:
    """Map COCO's sparse category ids to 0-based class indices, in id order."""
    ordered = sorted(categories, key=lambda category: category["id"])
    names = [category["name"] for category in ordered]
    if names != list(classes):
        missing = [name for name in names if name not in classes]
        unknown = [name for name in classes if name not in names]
        raise DatasetError(
            f"dataset.classes must list the categories of {path} in id order; "
            f"not in dataset.classes: {missing[:10]}, unknown to the file: {unknown[:10]}"
            + ("" if missing or unknown else " (same names, different order)")
        )
    return {category["id"]: k for k, category in enumerate(ordered)}


def read_coco(
    root: str,
    classes: Sequence[str],
    splits: Sequence[str],
    annotations_pattern: str,
    images_pattern: str,
    mask_pattern: str,
) -> tuple[list[ImageRecord], dict[str, int]]:
    """Records of the images that carry at least one label, and per split how many had none."""
    records: list[ImageRecord] = []
    unlabelled: dict[str, int] = {}
    for split in splits:
        path = os.path.join(root, annotations_pattern.format(split=split))
        data = _load_annotations(path)
        class_of_category = category_index(data["categories"], classes, path)
        labels: dict[int, set[int]] = {}
        for annotation in data["annotations"]:
            category = annotation["category_id"]
            if category not in class_of_category:
                raise DatasetError(
                    f"COCO annotation file {path}: annotation {annotation.get('id')} has category_id "
                    f"{category}, which is not among its categories; fix or remove the annotation"
                )
            labels.setdefault(annotation["image_id"], set()).add(class_of_category[category])
        image_dir = os.path.join(root, images_pattern.format(split=split))
        unlabelled[split] = 0
        for image in sorted(data["images"], key=lambda entry: entry["file_name"]):
            if image["id"] not in labels:
                unlabelled[split] += 1
                continue
            image_id = Path(image["file_name"]).stem
            mask = os.path.join(root, mask_pattern.format(image_id=image_id, split=split, coco_id=image["id"]))
            records.append(ImageRecord(
                image_id=image_id,
                image_path=os.path.join(image_dir, image["file_name"]),
                labels=frozenset(labels[image["id"]]),
                splits={split},
                mask_path=mask if os.path.isfile(mask) else None,
            ))
    return records, unlabelled
