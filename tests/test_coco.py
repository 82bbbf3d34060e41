"""COCO 2014 instances annotations on a tiny hand-written dataset with sparse category ids."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from qaclims.config import validate_config
from qaclims.data.build import build_index
from qaclims.data.coco import category_index, read_coco
from qaclims.data.labels import write_label_png
from qaclims.errors import DatasetError

CLASSES = ["person", "car", "toothbrush"]  # COCO ids 1, 5, 90
ANNOTATIONS = "annotations/instances_{split}2014.json"
IMAGES = "{split}2014"
MASKS = "masks/{split}/{image_id}_{coco_id}.png"

# split -> [(coco id, file name, (width, height), category ids of its annotations)], deliberately unsorted
IMAGES_OF_SPLIT = {
    "train": [
        (14, "COCO_train2014_000000000014.jpg", (20, 12), [90]),
        (11, "COCO_train2014_000000000011.jpg", (16, 10), [1, 90, 1]),
        (13, "COCO_train2014_000000000013.jpg", (8, 8), []),
        (12, "COCO_train2014_000000000012.jpg", (12, 18), [5, 5]),
    ],
    "val": [
        (21, "COCO_val2014_000000000021.jpg", (24, 16), [5, 1]),
        (22, "COCO_val2014_000000000022.jpg", (10, 10), []),
        (23, "COCO_val2014_000000000023.jpg", (14, 9), [90]),
    ],
}


def write_coco(root, categories=None):
    categories = categories or [{"id": 90, "name": "toothbrush"}, {"id": 1, "name": "person"},
                                {"id": 5, "name": "car"}]
    annotation_id = 0
    for split, images in IMAGES_OF_SPLIT.items():
        data = {"images": [], "annotations": [], "categories": categories}
        for coco_id, file_name, (width, height), category_ids in images:
            data["images"].append({"id": coco_id, "file_name": file_name, "width": width, "height": height})
            for category_id in category_ids:
                annotation_id += 1
                data["annotations"].append({"id": annotation_id, "image_id": coco_id, "category_id": category_id})
            image_path = root / IMAGES.format(split=split) / file_name
            image_path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((height, width, 3), 100, dtype=np.uint8)).save(image_path, quality=90)
            mask = root / MASKS.format(split=split, image_id=file_name[:-4], coco_id=coco_id)
            write_label_png(mask, np.zeros((height, width), dtype=np.uint8))
        path = root / ANNOTATIONS.format(split=split)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))


@pytest.fixture
def coco_root(tmp_path):
    root = tmp_path / "coco"
    write_coco(root)
    return root


def read(root, classes=CLASSES, splits=("train", "val")):
    return read_coco(str(root), classes, list(splits), ANNOTATIONS, IMAGES, MASKS)


def test_category_index_maps_sparse_ids_in_id_order():
    categories = [{"id": 90, "name": "toothbrush"}, {"id": 1, "name": "person"}, {"id": 5, "name": "car"}]
    assert category_index(categories, CLASSES, "x.json") == {1: 0, 5: 1, 90: 2}


def test_read_coco_keeps_labelled_images_with_remapped_labels(coco_root):
    records, unlabelled = read(coco_root)
    assert unlabelled == {"train": 1, "val": 1}
    assert [r.image_id for r in records] == [
        "COCO_train2014_000000000011", "COCO_train2014_000000000012", "COCO_train2014_000000000014",
        "COCO_val2014_000000000021", "COCO_val2014_000000000023",
    ]
    by_id = {r.image_id: r for r in records}
    assert by_id["COCO_train2014_000000000011"].labels == frozenset({0, 2})  # person, toothbrush
    assert by_id["COCO_train2014_000000000012"].labels == frozenset({1})     # car twice
    assert by_id["COCO_train2014_000000000014"].labels == frozenset({2})
    assert by_id["COCO_val2014_000000000021"].labels == frozenset({0, 1})
    assert by_id["COCO_val2014_000000000023"].labels == frozenset({2})
    assert by_id["COCO_val2014_000000000021"].splits == {"val"}
    assert by_id["COCO_train2014_000000000012"].splits == {"train"}
    assert by_id["COCO_train2014_000000000011"].image_path == os.path.join(
        str(coco_root), "train2014", "COCO_train2014_000000000011.jpg")
    assert by_id["COCO_val2014_000000000023"].mask_path == os.path.join(
        str(coco_root), "masks", "val", "COCO_val2014_000000000023_23.png")


def test_read_coco_mask_path_none_without_a_mask_file(coco_root):
    os.remove(coco_root / "masks" / "train" / "COCO_train2014_000000000012_12.png")
    records, _ = read(coco_root, splits=["train"])
    by_id = {r.image_id: r for r in records}
    assert by_id["COCO_train2014_000000000012"].mask_path is None
    assert by_id["COCO_train2014_000000000011"].mask_path is not None


def test_class_list_in_another_order_names_the_json(coco_root):
    with pytest.raises(DatasetError) as error:
        read(coco_root, classes=["person", "toothbrush", "car"])
    message = str(error.value)
    assert str(coco_root / "annotations" / "instances_train2014.json") in message
    assert "same names, different order" in message


def test_class_list_with_other_names_names_json_and_classes(coco_root):
    with pytest.raises(DatasetError) as error:
        read(coco_root, classes=["person", "car", "bus"])
    message = str(error.value)
    assert "instances_train2014.json" in message
    assert "['toothbrush']" in message and "['bus']" in message
    assert "different order" not in message


def test_missing_annotation_file_names_it(coco_root):
    os.remove(coco_root / "annotations" / "instances_val2014.json")
    with pytest.raises(DatasetError, match=r"instances_val2014\.json does not exist"):
        read(coco_root)


def test_invalid_json_names_the_file(coco_root):
    (coco_root / "annotations" / "instances_train2014.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"instances_train2014\.json is not valid JSON"):
        read(coco_root)


def test_json_without_categories_names_the_missing_list(coco_root):
    (coco_root / "annotations" / "instances_train2014.json").write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(DatasetError, match=r"instances_train2014\.json has no 'categories' list"):
        read(coco_root)


def test_annotation_with_unknown_category_is_a_dataset_error(coco_root):
    path = coco_root / "annotations" / "instances_train2014.json"
    data = json.loads(path.read_text())
    data["annotations"].append({"id": 999, "image_id": 13, "category_id": 42})
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"instances_train2014\.json"):
        read(coco_root)


def coco_section(root, **dataset):
    return validate_config({"dataset": {
        "kind": "coco14", "root": str(root), "classes": CLASSES, "splits": ["train", "val"],
        "mask_splits": ["train", "val"], "coco_annotations": ANNOTATIONS, "coco_images": IMAGES,
        "mask_pattern": MASKS, **dataset,
    }})["dataset"]


def test_build_index_for_coco14_end_to_end(coco_root):
    built = build_index(coco_section(coco_root), str(coco_root), 2)
    frame = built.index.frame.set_index("image_id")
    assert built.index.classes == CLASSES
    assert sorted(frame.index) == [
        "COCO_train2014_000000000011", "COCO_train2014_000000000012", "COCO_train2014_000000000014",
        "COCO_val2014_000000000021", "COCO_val2014_000000000023",
    ]
    assert built.split_counts() == {"train": 3, "val": 2}
    row = frame.loc["COCO_train2014_000000000011"]
    assert (row["width"], row["height"]) == (16, 10)
    assert (row["label:person"], row["label:car"], row["label:toothbrush"]) == (1, 0, 1)
    assert bool(row["split_train"]) and not bool(row["split_val"])
    row = frame.loc["COCO_train2014_000000000012"]
    assert (row["width"], row["height"]) == (12, 18)
    assert (row["label:person"], row["label:car"], row["label:toothbrush"]) == (0, 1, 0)
    row = frame.loc["COCO_val2014_000000000021"]
    assert (row["width"], row["height"]) == (24, 16)
    assert (row["label:person"], row["label:car"], row["label:toothbrush"]) == (1, 1, 0)
    assert row["mask_path"] == os.path.join(str(coco_root), "masks", "val", "COCO_val2014_000000000021_21.png")
    assert built.warnings == [
        "1 train images have no label and are left out of the index",
        "1 val images have no label and are left out of the index",
        "split train has 3 images; the standard coco14 split has 82081",
        "split val has 2 images; the standard coco14 split has 40137",
    ]


def test_build_index_for_coco14_checks_mask_sizes(coco_root):
    write_label_png(coco_root / "masks" / "val" / "COCO_val2014_000000000023_23.png", np.zeros((3, 3), dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"COCO_val2014_000000000023_23\.png is 3x3"):
        build_index(coco_section(coco_root), str(coco_root), 1)


def test_build_index_for_coco14_needs_masks_only_in_mask_splits(coco_root):
    os.remove(coco_root / "masks" / "val" / "COCO_val2014_000000000021_21.png")
    with pytest.raises(DatasetError, match="split 'val'"):
        build_index(coco_section(coco_root), str(coco_root), 1)
    built = build_index(coco_section(coco_root, mask_splits=["train"]), str(coco_root), 1)
    assert built.split_counts() == {"train": 3, "val": 2}


def test_build_index_for_coco14_names_a_missing_image(coco_root):
    os.remove(coco_root / "train2014" / "COCO_train2014_000000000014.jpg")
    with pytest.raises(DatasetError, match=r"COCO_train2014_000000000014\.jpg does not exist"):
        build_index(coco_section(coco_root), str(coco_root), 1)
