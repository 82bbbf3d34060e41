"""The VOC reader, the index checks and the parquet index, on small demo trees broken one way at a time."""

import json
import re
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from qaclims.cli import main
from qaclims.config import validate_config
from qaclims.data.build import build_index
from qaclims.data.classes import VOC_CLASSES
from qaclims.data.index import DatasetIndex, read_index, write_index
from qaclims.data.labels import write_label_png
from qaclims.data.voc import read_voc
from qaclims.demo.dataset import write_demo_dataset
from qaclims.errors import ConfigError, DatasetError
from qaclims.run_layout import dataset_root

CLASSES = ["aeroplane", "cat", "dining table", "person", "tv monitor"]
IDS = [f"demo_{i:05d}" for i in range(9)]
TRAIN, TRAIN_AUG, VAL = IDS[:4], IDS[:6], IDS[6:]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("pristine") / "VOC2012"
    write_demo_dataset(str(root), CLASSES, seed=0, num_train=4, num_train_extra=2, num_val=3,
                       min_size=48, max_size=64, max_objects=3, jpeg_quality=90)
    return root


@pytest.fixture
def root(pristine, tmp_path):
    """A fresh copy of the demo tree that a test may break."""
    copy = tmp_path / "VOC2012"
    shutil.copytree(pristine, copy)
    return copy


def section(root, **dataset):
    return validate_config({"dataset": {"kind": "voc12", "root": str(root), "classes": CLASSES, **dataset}})["dataset"]


def build(root, threads=1, **dataset):
    return build_index(section(root, **dataset), str(root), threads)


def xml_labels(root: Path, image_id: str) -> set[str]:
    tree = ElementTree.parse(root / "Annotations" / f"{image_id}.xml")
    return {obj.findtext("name") for obj in tree.getroot().findall("object")}


def set_object_name(root: Path, image_id: str, name: str) -> Path:
    path = root / "Annotations" / f"{image_id}.xml"
    tree = ElementTree.parse(path)
    tree.getroot().find("object").find("name").text = name
    tree.write(path)
    return path


# ----------------------------------------------------------------------------- a valid tree

def test_valid_tree_gives_one_row_per_image(root):
    built = build(root)
    frame = built.index.frame
    assert list(frame["image_id"]) == IDS
    assert len(frame) == 9
    assert built.index.classes == CLASSES
    assert built.index.splits == ["train", "val", "train_aug"]
    assert list(frame.columns) == (
        ["image_id", "image_path", "mask_path", "height", "width", "split_train", "split_val", "split_train_aug"]
        + [f"label:{name}" for name in CLASSES]
    )
    assert list(frame["split_train"]) == [i in TRAIN for i in IDS]
    assert list(frame["split_val"]) == [i in VAL for i in IDS]
    assert list(frame["split_train_aug"]) == [i in TRAIN_AUG for i in IDS]
    assert built.split_counts() == {"train": 4, "val": 3, "train_aug": 6}


def test_labels_sizes_and_paths_match_the_files(root):
    frame = build(root).index.frame.set_index("image_id")
    xml_name = {"aeroplane": "aeroplane", "cat": "cat", "dining table": "diningtable",
                "person": "person", "tv monitor": "tvmonitor"}
    for image_id in IDS:
        row = frame.loc[image_id]
        names = xml_labels(root, image_id)
        for name in CLASSES:
            assert row[f"label:{name}"] == int(xml_name[name] in names), (image_id, name)
        assert sum(row[f"label:{name}"] for name in CLASSES) == len(names)
        with Image.open(root / "JPEGImages" / f"{image_id}.jpg") as image:
            assert (row["width"], row["height"]) == image.size
        assert row["image_path"] == str(root / "JPEGImages" / f"{image_id}.jpg")
        assert row["mask_path"] == str(root / "SegmentationClass" / f"{image_id}.png")
    assert frame["height"].dtype == np.int32 and frame["width"].dtype == np.int32
    assert frame["label:cat"].dtype == np.uint8
    assert frame["split_val"].dtype == bool


def test_voc12_warns_about_non_standard_split_sizes(root):
    warnings = build(root).warnings
    assert warnings == [
        "split train has 4 images; the standard voc12 split has 1464",
        "split val has 3 images; the standard voc12 split has 1449",
        "split train_aug has 6 images; the standard voc12 split has 10582",
    ]


def test_demo_kind_reads_the_demo_folder_under_output_dir_without_warnings(pristine, tmp_path):
    config = validate_config({"output_dir": str(tmp_path / "out"), "dataset": {"classes": CLASSES}})
    demo_root = dataset_root(config)
    assert demo_root == str(tmp_path / "out" / "demo" / "VOC2012")
    shutil.copytree(pristine, demo_root)
    built = build_index(config["dataset"], demo_root, 1)
    assert built.warnings == []
    assert list(built.index.frame["image_id"]) == IDS


def test_threads_give_the_same_frame(root):
    pd.testing.assert_frame_equal(build(root, threads=1).index.frame, build(root, threads=3).index.frame)


def test_only_configured_splits_are_read(root):
    built = build(root, splits=["val"], mask_splits=["val"])
    assert list(built.index.frame["image_id"]) == VAL
    assert [c for c in built.index.frame.columns if c.startswith("split_")] == ["split_val"]


def test_split_list_may_carry_extra_columns_and_blank_lines(root):
    (root / "ImageSets/Segmentation/val.txt").write_text("demo_00006 1\n\n  \ndemo_00008 -1\n")
    built = build(root, splits=["val"], mask_splits=["val"])
    assert list(built.index.frame["image_id"]) == ["demo_00006", "demo_00008"]


def test_read_voc_records_collect_all_splits_of_an_image(root):
    records = read_voc(str(root), CLASSES, ["train", "train_aug", "val"],
                       "ImageSets/Segmentation/{split}.txt", "SegmentationClass/{image_id}.png")
    by_id = {record.image_id: record for record in records}
    assert [r.image_id for r in records] == IDS
    assert by_id["demo_00000"].splits == {"train", "train_aug"}
    assert by_id["demo_00005"].splits == {"train_aug"}
    assert by_id["demo_00007"].splits == {"val"}
    for record in records:
        expected = {CLASSES.index(n) for n in CLASSES if n.replace(" ", "") in xml_labels(root, record.image_id)}
        assert record.labels == frozenset(expected)
        assert record.height == 0 and record.width == 0  # not inspected yet


# ----------------------------------------------------------------------------- the parquet index

def test_write_and_read_index_round_trip(root, tmp_path):
    built = build(root)
    path = tmp_path / "data" / "index.parquet"
    write_index(built.index, str(path))
    assert sorted(p.name for p in path.parent.iterdir()) == ["index.parquet"]
    read = read_index(str(path))
    assert read.classes == CLASSES
    assert read.splits == ["train", "val", "train_aug"]
    pd.testing.assert_frame_equal(read.frame, built.index.frame)

    train = read.split("train")
    assert list(train["image_id"]) == TRAIN
    assert list(read.split("val")["image_id"]) == VAL
    labels = read.labels()
    assert labels.shape == (9, 5) and labels.dtype == np.uint8
    expected = np.array([[int(n.replace(" ", "") in xml_labels(root, i)) for n in CLASSES] for i in IDS])
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(read.labels(train), expected[:4])


def test_unknown_split_of_an_index_names_it(root):
    index = build(root).index
    with pytest.raises(DatasetError, match="'test'"):
        index.split("test")


def test_read_index_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(DatasetError, match="nothing.parquet"):
        read_index(str(tmp_path / "nothing.parquet"))
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), foreign)
    with pytest.raises(DatasetError, match="foreign.parquet is not a qaclims dataset index"):
        read_index(str(foreign))


def test_image_without_mask_outside_mask_splits_has_mask_path_none(root, tmp_path):
    # demo_00005 is only in train_aug, which needs no mask.
    (root / "SegmentationClass" / "demo_00005.png").unlink()
    built = build(root)
    frame = built.index.frame.set_index("image_id")
    assert frame.loc["demo_00005", "mask_path"] is None
    assert frame.loc["demo_00004", "mask_path"] == str(root / "SegmentationClass" / "demo_00004.png")
    path = tmp_path / "index.parquet"
    write_index(built.index, str(path))
    assert read_index(str(path)).frame.set_index("image_id").loc["demo_00005", "mask_path"] is None


# ----------------------------------------------------------------------------- broken trees

def test_missing_jpeg_names_the_file(root):
    (root / "JPEGImages" / "demo_00001.jpg").unlink()
    with pytest.raises(DatasetError, match=r"demo_00001\.jpg does not exist"):
        build(root)


def test_missing_annotation_names_the_file(root):
    (root / "Annotations" / "demo_00007.xml").unlink()
    with pytest.raises(DatasetError, match=r"demo_00007\.xml does not exist"):
        build(root)


def test_check_data_refuses_masks_numbered_for_another_class_list_naming_the_mask_and_the_class(root, capsys):
    # The demo's 5-class masks under VOC's 20 classes: a cat is 2 in them, which is bicycle in VOC's list.
    config = {"dataset": {"kind": "voc12", "root": str(root), "classes": list(VOC_CLASSES)}}
    assert main(["check-data", "--config", json.dumps(config)]) == 2
    assert re.search(r"mask \S+/SegmentationClass/demo_\d+\.png holds class \d+ \([a-z ]+\), which its image is not "
                     r"labelled with \[.*\]; a mask's value k must be dataset.classes\[k-1\]", capsys.readouterr().err)
    assert main(["check-data", "--config", json.dumps({"dataset": {**config["dataset"], "classes": CLASSES}})]) == 0


def test_invalid_xml_names_the_file_and_how_to_fix_it(root):
    (root / "Annotations" / "demo_00002.xml").write_text("<annotation><object><name>cat</name></annotation>")
    with pytest.raises(DatasetError, match=r"demo_00002\.xml is not valid XML \(.*\); fix the file at that line"):
        build(root)


def test_unknown_class_in_an_annotation_names_file_and_class(root):
    path = set_object_name(root, "demo_00003", "dog")
    with pytest.raises(DatasetError) as error:
        build(root)
    assert str(path) in str(error.value)
    assert "'dog'" in str(error.value)


def test_xml_name_of_a_class_with_a_space_is_accepted(root):
    set_object_name(root, "demo_00003", "diningtable")
    frame = build(root).index.frame.set_index("image_id")
    assert frame.loc["demo_00003", "label:dining table"] == 1


def test_empty_split_list_names_the_file(root):
    (root / "ImageSets/Segmentation/val.txt").write_text("\n\n")
    with pytest.raises(DatasetError, match=r"val\.txt is empty"):
        build(root)


def test_missing_split_list_names_the_file(root):
    (root / "ImageSets/Segmentation/train_aug.txt").unlink()
    with pytest.raises(DatasetError, match=r"train_aug\.txt does not exist"):
        build(root)


def test_mask_of_another_size_names_mask_and_sizes(root):
    write_label_png(root / "SegmentationClass" / "demo_00006.png", np.zeros((10, 12), dtype=np.uint8))
    with Image.open(root / "JPEGImages" / "demo_00006.jpg") as image:
        width, height = image.size
    with pytest.raises(DatasetError) as error:
        build(root)
    message = str(error.value)
    assert "demo_00006.png is 12x10" in message
    assert f"demo_00006.jpg is {width}x{height}" in message


def test_truncated_jpeg_names_the_file(root):
    path = root / "JPEGImages" / "demo_00004.jpg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"demo_00004\.jpg cannot be read"):
        build(root)


def test_garbage_image_names_the_file(root):
    (root / "JPEGImages" / "demo_00004.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(DatasetError, match=r"demo_00004\.jpg cannot be read"):
        build(root, decode_images=False)


def test_missing_mask_in_a_mask_split_names_split_and_image(root):
    (root / "SegmentationClass" / "demo_00002.png").unlink()
    with pytest.raises(DatasetError) as error:
        build(root)
    message = str(error.value)
    assert "split 'train'" in message
    assert "demo_00002" in message
    assert "dataset.mask_splits" in message


def test_class_that_is_not_a_voc_name_is_a_config_error_for_the_demo_only(root):
    with pytest.raises(ConfigError, match=r"dataset\.classes: \['unicorn'\].*dataset.kind folder"):
        build(root, kind="demo", classes=["cat", "unicorn"])
    with pytest.raises(DatasetError, match=r"names class '\w+', which is not in dataset.classes"):
        build(root, classes=["cat", "unicorn"])


def test_mask_split_outside_splits_is_a_config_error(root):
    with pytest.raises(ConfigError, match=r"dataset\.mask_splits: \['test'\]"):
        build(root, mask_splits=["train", "test"])


# ----------------------------------------------------------------------------- the index stage

def run_index_stage(root, out, capsys=None):
    config = json.dumps({"dataset": {"kind": "voc12", "root": str(root), "classes": CLASSES}})
    return main(["index", "--config", config, "--root", str(root), "--out", str(out), "--threads", "1"])


def test_index_stage_writes_a_readable_index(root, tmp_path, capsys):
    out = tmp_path / "results" / "data" / "index.parquet"
    assert run_index_stage(root, out) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["index.parquet"]
    assert list(read_index(str(out)).frame["image_id"]) == IDS
    captured = capsys.readouterr()
    assert "indexed 9 images (train 4, val 3, train_aug 6)" in captured.out
    assert "WARNING: split train has 4 images" in captured.err


def test_failing_index_stage_writes_nothing(root, tmp_path, capsys):
    (root / "JPEGImages" / "demo_00001.jpg").unlink()
    out = tmp_path / "results" / "data" / "index.parquet"
    assert run_index_stage(root, out) == 2
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
    assert "demo_00001.jpg" in capsys.readouterr().err


def test_failing_index_stage_keeps_an_older_index(root, tmp_path):
    out = tmp_path / "index.parquet"
    assert run_index_stage(root, out) == 0
    before = out.read_bytes()
    (root / "Annotations" / "demo_00001.xml").write_text("<broken")
    assert run_index_stage(root, out) == 2
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".parquet")] == ["index.parquet"]


def test_datasetindex_labels_follow_the_class_order():
    frame = pd.DataFrame({"image_id": ["a", "b"], "split_x": [True, False],
                          "label:b": np.array([1, 0], dtype=np.uint8), "label:a": np.array([0, 1], dtype=np.uint8)})
    index = DatasetIndex(frame, ["a", "b"], ["x"])
    np.testing.assert_array_equal(index.labels(), [[0, 1], [1, 0]])
    assert list(index.split("x")["image_id"]) == ["a"]
