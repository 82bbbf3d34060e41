"""PASCAL VOC 2012 layout: JPEGImages, Annotations, ImageSets/Segmentation, SegmentationClass."""

import os
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence

from qaclims.data.classes import voc_xml_name
from qaclims.data.records import ImageRecord
from qaclims.errors import DatasetError


def image_path(root: str, image_id: str) -> str:
    return os.path.join(root, "JPEGImages", f"{image_id}.jpg")


def annotation_path(root: str, image_id: str) -> str:
    return os.path.join(root, "Annotations", f"{image_id}.xml")


def read_split_list(path: str) -> list[str]:
    if not os.path.isfile(path):
        raise DatasetError(
            f"split list {path} does not exist; check dataset.root and dataset.voc_split_list, "
            "or remove the split from dataset.splits"
        )
    with open(path) as handle:
        ids = [line.split()[0] for line in handle if line.strip()]
    if not ids:
        raise DatasetError(f"split list {path} is empty; it must name one image id per line")
    return ids


def read_object_names(path: str) -> list[str]:
    """The <object><name> entries of one annotation file, in file order."""
    if not os.path.isfile(path):
        raise DatasetError(f"annotation {path} does not exist; every listed image needs one")
    try:
        tree = ElementTree.parse(path)
    except ElementTree.ParseError as error:
        raise DatasetError(f"annotation {path} is not valid XML ({error}); fix the file at that line, or write it "
                           "again in the VOC form `<annotation><object><name>cat</name></object></annotation>`") from error
    # <name> also appears under <part> (person layout); only an object's own name counts.
    return [(obj.findtext("name") or "").strip() for obj in tree.getroot().findall("object")]


def read_voc(
    root: str,
    classes: Sequence[str],
    splits: Sequence[str],
    split_list_pattern: str,
    mask_pattern: str,
) -> list[ImageRecord]:
    """Records for every image of the given splits, labels from the annotation files."""
    index_of_xml_name = {voc_xml_name(name): k for k, name in enumerate(classes)}
    records: dict[str, ImageRecord] = {}
    for split in splits:
        for image_id in read_split_list(os.path.join(root, split_list_pattern.format(split=split))):
            if image_id not in records:
                records[image_id] = _read_record(root, image_id, index_of_xml_name, mask_pattern)
            records[image_id].splits.add(split)
    return [records[image_id] for image_id in sorted(records)]


def _read_record(root: str, image_id: str, index_of_xml_name: dict[str, int], mask_pattern: str) -> ImageRecord:
    xml = annotation_path(root, image_id)
    labels = set()
    for name in read_object_names(xml):
        key = voc_xml_name(name)
        if key not in index_of_xml_name:
            raise DatasetError(
                f"annotation {xml} names class {name!r}, which is not in dataset.classes "
                f"{sorted(index_of_xml_name)}; add it there or fix the annotation"
            )
        labels.add(index_of_xml_name[key])
    mask = os.path.join(root, mask_pattern.format(image_id=image_id))
    return ImageRecord(
        image_id=image_id,
        image_path=image_path(root, image_id),
        labels=frozenset(labels),
        mask_path=mask if os.path.isfile(mask) else None,
    )


SERVER_FOLDER = os.path.join("results", "VOC2012", "Segmentation", "comp6_test_cls")
