"""A small generated dataset in a preset's own layout with the preset's classes: VOC's folders and split lists,
or COCO's image folders, instances JSON files and mask folder. The images are the demo world's, drawn at the
real datasets' image sizes."""

import json
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from qaclims.data.labels import write_label_png
from qaclims.demo.dataset import write_demo_dataset
from qaclims.demo.world import render
from qaclims.runtime.atomic import atomic_directory

# (smallest, largest) side in pixels: VOC's images are at most 500 px, COCO's at most 640 px.
IMAGE_SIDES = {"voc12": (333, 500), "coco14": (427, 640)}
MAX_OBJECTS = 3
OBJECT_SIZE = (0.12, 0.3)
JPEG_QUALITY = 90
# COCO's 80 category ids run from 1 to 90 with these gaps.
COCO_CATEGORY_IDS = [i for i in range(1, 91) if i not in {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}]


def write_voc(root: str, classes: Sequence[str], sizes: dict[str, int], seed: int) -> None:
    """train is the start of train_aug, as in the real lists; val is apart."""
    low, high = IMAGE_SIDES["voc12"]
    write_demo_dataset(root, classes, seed, sizes["train"], sizes["train_aug"] - sizes["train"], sizes["val"],
                       low, high, MAX_OBJECTS, JPEG_QUALITY, object_size=OBJECT_SIZE)


def write_coco(root: str, dataset: dict, sizes: dict[str, int], seed: int) -> None:
    """Images named and numbered as COCO's, an instances JSON per split (an annotation per object) and the
    VOC-style masks (0 background, 1..80 the categories in id order, 255 ignore) named by the COCO id."""
    classes = dataset["classes"]
    categories = [{"id": i, "name": name} for i, name in zip(COCO_CATEGORY_IDS, classes)]
    low, high = IMAGE_SIDES["coco14"]
    coco_id = 0
    with atomic_directory(root) as staging:
        for split in dataset["splits"]:
            images, annotations = [], []
            for _ in range(sizes[split]):
                coco_id += 1
                sample = render(np.random.default_rng([seed, coco_id]), classes, None, low, high, MAX_OBJECTS,
                                OBJECT_SIZE)
                file_name = f"COCO_{split}2014_{coco_id:012d}.jpg"
                image_path = os.path.join(staging, dataset["coco_images"].format(split=split), file_name)
                os.makedirs(os.path.dirname(image_path), exist_ok=True)
                Image.fromarray(sample.image).save(image_path, quality=JPEG_QUALITY)
                height, width = sample.label.shape
                images.append({"id": coco_id, "file_name": file_name, "height": height, "width": width})
                for obj in sample.objects:
                    x0, y0, x1, y1 = obj.box
                    annotations.append({"id": len(annotations) + 1, "image_id": coco_id, "iscrowd": 0,
                                        "category_id": COCO_CATEGORY_IDS[obj.class_index],
                                        "bbox": [x0, y0, x1 - x0, y1 - y0]})
                mask = dataset["mask_pattern"].format(split=split, coco_id=coco_id, image_id=file_name[:-4])
                write_label_png(os.path.join(staging, mask), sample.label)
            path = os.path.join(staging, dataset["coco_annotations"].format(split=split))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as handle:
                json.dump({"images": images, "annotations": annotations, "categories": categories}, handle)


def write_dataset(root: str, dataset: dict, sizes: dict[str, int], seed: int) -> None:
    """The dataset of the preset's ``dataset`` section under ``root``, ``sizes`` images per split."""
    if dataset["kind"] == "voc12":
        write_voc(root, dataset["classes"], sizes, seed)
    else:
        write_coco(root, dataset, sizes, seed)
