"""A fake dataset of any size for dry runs of a preset, and the jobs a dry run plans.

Only the files that the index rule takes as inputs are written (VOC split lists, COCO
annotation files), no image. Beside them goes a dataset index written by the package's own
writer, with plausible rows for every image, and newer than its inputs, so that Snakemake
takes the index as up to date and plans everything after it. Used by tests/test_presets.py and
benchmarks/dry_run_scale.py.
"""

import json
import os
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

from qaclims.config import load_config
from qaclims.data import voc
from qaclims.data.index import DatasetIndex, to_frame, write_index
from qaclims.data.records import ImageRecord

# COCO's 80 category ids run from 1 to 90 with these gaps.
COCO_CATEGORY_IDS = [i for i in range(1, 91) if i not in {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}]
HEIGHT, WIDTH = 375, 500


def scaled_sizes(sizes: dict[str, int], factor: float) -> dict[str, int]:
    """Split sizes times ``factor``, at least 2 images each."""
    return {split: max(2, round(count * factor)) for split, count in sizes.items()}


def _random_labels(rng: np.random.Generator, num_classes: int) -> frozenset[int]:
    return frozenset(rng.choice(num_classes, size=rng.integers(1, 4), replace=False).tolist())


def _voc_records(root: str, dataset: dict, sizes: dict[str, int], rng) -> list[ImageRecord]:
    """VOC ids; train is the start of train_aug, as in the real lists."""
    ids = {"train_aug": [f"2008_{k:06d}" for k in range(sizes.get("train_aug", 0))],
           "val": [f"2010_{k:06d}" for k in range(sizes.get("val", 0))]}
    ids["train"] = ids["train_aug"][:sizes.get("train", 0)]
    records: dict[str, ImageRecord] = {}
    for split in dataset["splits"]:
        for image_id in ids.get(split) or [f"{split}_{k:06d}" for k in range(sizes[split])]:
            record = records.setdefault(image_id, ImageRecord(
                image_id, voc.image_path(root, image_id), _random_labels(rng, len(dataset["classes"]))))
            record.splits.add(split)
    for record in records.values():
        if record.splits & set(dataset["mask_splits"]):
            record.mask_path = os.path.join(root, dataset["mask_pattern"].format(image_id=record.image_id))
    return [records[image_id] for image_id in sorted(records)]


def _coco_records(root: str, dataset: dict, sizes: dict[str, int], rng) -> list[ImageRecord]:
    records = []
    for split in dataset["splits"]:
        for k in range(sizes[split]):
            coco_id = len(records) + 1
            image_id = f"COCO_{split}2014_{coco_id:012d}"
            mask = dataset["mask_pattern"].format(image_id=image_id, split=split, coco_id=coco_id)
            records.append(ImageRecord(
                image_id, os.path.join(root, dataset["coco_images"].format(split=split), f"{image_id}.jpg"),
                _random_labels(rng, len(dataset["classes"])), {split},
                os.path.join(root, mask) if split in dataset["mask_splits"] else None))
    return records


def _write_voc_inputs(root: str, dataset: dict, records: list[ImageRecord]) -> list[str]:
    paths = []
    for split in dataset["splits"]:
        path = os.path.join(root, dataset["voc_split_list"].format(split=split))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.writelines(f"{r.image_id}\n" for r in records if split in r.splits)
        paths.append(path)
    return paths


def _write_coco_inputs(root: str, dataset: dict, records: list[ImageRecord]) -> list[str]:
    category_ids = COCO_CATEGORY_IDS[:len(dataset["classes"])]
    categories = [{"id": i, "name": name} for i, name in zip(category_ids, dataset["classes"])]
    paths = []
    for split in dataset["splits"]:
        images, annotations = [], []
        for record in records:
            if split not in record.splits:
                continue
            coco_id = int(record.image_id.rsplit("_", 1)[1])
            images.append({"id": coco_id, "file_name": f"{record.image_id}.jpg", "height": HEIGHT, "width": WIDTH})
            annotations += [{"id": len(annotations) + 1, "image_id": coco_id, "category_id": category_ids[k]}
                            for k in sorted(record.labels)]
        path = os.path.join(root, dataset["coco_annotations"].format(split=split))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            json.dump({"images": images, "annotations": annotations, "categories": categories}, handle)
        paths.append(path)
    return paths


def write_fake_dataset(folder: Path, preset: Path, sizes: dict[str, int], seed: int = 0) -> dict:
    """Write a fake root and an up-to-date index under ``folder``; return the config that points at them.

    ``sizes`` gives the images of every split of the preset's ``dataset.splits``.
    """
    dataset = load_config([str(preset)])["dataset"]
    root, output_dir = str(folder / "root"), str(folder / "results")
    rng = np.random.default_rng(seed)
    if dataset["kind"] == "voc12":
        records = _voc_records(root, dataset, sizes, rng)
        inputs = _write_voc_inputs(root, dataset, records)
    else:
        records = _coco_records(root, dataset, sizes, rng)
        inputs = _write_coco_inputs(root, dataset, records)
    for record in records:
        record.height, record.width = HEIGHT, WIDTH
    index_path = os.path.join(output_dir, "data", "index.parquet")
    os.makedirs(os.path.dirname(index_path), exist_ok=True)
    frame = to_frame(records, dataset["classes"], dataset["splits"])
    write_index(DatasetIndex(frame, list(dataset["classes"]), list(dataset["splits"])), index_path)
    # Inputs an hour old: the index is newer, whatever the file system's time resolution.
    hour_ago = time.time() - 3600
    for path in inputs:
        os.utime(path, (hour_ago, hour_ago))
    # The mask-prompt CLIP checkpoint is an input of train_ritc: an empty stand-in is enough to plan.
    checkpoint = folder / "ovseg_checkpoint.pth"
    checkpoint.touch()
    return {"output_dir": output_dir, "dataset": {"root": root}, "ritc": {"ovseg_checkpoint": str(checkpoint)}}


def planned_jobs(dry_run_output: str) -> Counter:
    """Jobs per rule in the output of ``snakemake -n``."""
    return Counter(re.findall(r"^(?:local)?rule (\w+):", dry_run_output, flags=re.MULTILINE))
