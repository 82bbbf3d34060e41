"""The demo dataset in the PASCAL VOC 2012 layout, small enough to run the pipeline on a CPU.

Besides VOC's files it writes what only the demo knows: ``world.csv`` (each image's background and
whether it is a habitat of the image's classes, and the kind of each class in it) and split lists of
the habitat images and the other images of each split (``train_habitat``, ``train_other``, ...), so
that the pipeline can score those groups as it scores any split. The same seed gives byte-identical files.
"""

import os
from collections.abc import Sequence
from xml.etree import ElementTree

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from qaclims.data.classes import VOC_CLASSES, voc_xml_name
from qaclims.data.labels import write_label_png
from qaclims.demo.world import WorldObject, render
from qaclims.runtime.atomic import atomic_directory

WORLD_FILE = "world.csv"
SPLITS = ("train", "train_aug", "val")
# The groups each split is also listed in: images whose background is a habitat of their classes, and the rest.
GROUPS = ("habitat", "other")


def annotation_xml(image_id: str, width: int, height: int, objects: list[WorldObject], classes: Sequence[str]) -> bytes:
    root = ElementTree.Element("annotation")
    ElementTree.SubElement(root, "folder").text = "VOC2012"
    ElementTree.SubElement(root, "filename").text = f"{image_id}.jpg"
    size = ElementTree.SubElement(root, "size")
    for key, value in (("width", width), ("height", height), ("depth", 3)):
        ElementTree.SubElement(size, key).text = str(value)
    ElementTree.SubElement(root, "segmented").text = "1"
    for obj in objects:
        node = ElementTree.SubElement(root, "object")
        ElementTree.SubElement(node, "name").text = voc_xml_name(classes[obj.class_index])
        for key in ("pose", "truncated", "difficult"):
            ElementTree.SubElement(node, key).text = "Unspecified" if key == "pose" else "0"
        box = ElementTree.SubElement(node, "bndbox")
        for key, value in zip(("xmin", "ymin", "xmax", "ymax"), obj.box):
            ElementTree.SubElement(box, key).text = str(value)
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="utf-8")


def demo_splits(num_train: int, num_train_extra: int, num_val: int) -> dict[str, list[str]]:
    ids = [f"demo_{i:05d}" for i in range(num_train + num_train_extra + num_val)]
    return {
        "train": ids[:num_train],
        "train_aug": ids[:num_train + num_train_extra],
        "val": ids[num_train + num_train_extra:],
    }


def group_splits(splits: dict[str, list[str]], habitat: dict[str, bool]) -> dict[str, list[str]]:
    """Each split's habitat images and other images, as splits of their own."""
    return {f"{split}_{group}": [i for i in splits[split] if habitat[i] == (group == "habitat")]
            for split in SPLITS for group in GROUPS}


def write_demo_dataset(
    root: str,
    classes: Sequence[str],
    seed: int,
    num_train: int,
    num_train_extra: int,
    num_val: int,
    min_size: int,
    max_size: int,
    max_objects: int,
    jpeg_quality: int,
    habitat_rate: float | None = None,
    object_size: Sequence[float] = (0.14, 0.26),
) -> dict[str, list[str]]:
    """Write the dataset under ``root`` (replacing it as a whole) and return its splits.

    ``habitat_rate`` None draws every background equally often (no habitat correlation).
    """
    unknown = [name for name in classes if name not in VOC_CLASSES]
    if unknown:
        raise ValueError(f"demo classes must be VOC class names; unknown: {unknown}")
    if min_size > max_size:
        raise ValueError(f"demo min_size {min_size} is larger than max_size {max_size}")
    splits = demo_splits(num_train, num_train_extra, num_val)
    rows, habitat = [], {}
    with atomic_directory(root) as staging:
        folders = {name: os.path.join(staging, name) for name in
                   ("JPEGImages", "Annotations", "SegmentationClass", "ImageSets/Segmentation")}
        for folder in folders.values():
            os.makedirs(folder)
        for number, image_id in enumerate(tqdm(splits["train_aug"] + splits["val"], desc="demo images", unit="img",
                                               mininterval=1.0)):
            # One generator per image: an image does not change when the split sizes do.
            sample = render(np.random.default_rng([seed, number]), classes, habitat_rate, min_size, max_size,
                            max_objects, object_size)
            Image.fromarray(sample.image).save(
                os.path.join(folders["JPEGImages"], f"{image_id}.jpg"), quality=jpeg_quality
            )
            write_label_png(os.path.join(folders["SegmentationClass"], f"{image_id}.png"), sample.label)
            height, width = sample.label.shape
            with open(os.path.join(folders["Annotations"], f"{image_id}.xml"), "wb") as handle:
                handle.write(annotation_xml(image_id, width, height, sample.objects, classes))
            habitat[image_id] = sample.habitat
            rows += [(image_id, classes[k], kind, sample.background, sample.habitat)
                     for k, kind in sorted(sample.kinds.items())]
        splits |= group_splits(splits, habitat)
        for split, ids in splits.items():
            with open(os.path.join(folders["ImageSets/Segmentation"], f"{split}.txt"), "w") as handle:
                handle.write("".join(f"{image_id}\n" for image_id in ids))
        pd.DataFrame(rows, columns=["image_id", "class", "kind", "background", "habitat"]).to_csv(
            os.path.join(staging, WORLD_FILE), index=False)
    return splits


def read_world(root: str) -> pd.DataFrame:
    """The demo's truth about its images: a row per (image, class) with the class's kind and the background."""
    return pd.read_csv(os.path.join(root, WORLD_FILE))
