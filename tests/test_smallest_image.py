"""The smallest image that the index accepts goes through every stage that runs over images; a smaller one is
refused by name before any of them."""

import json

import pytest
from helpers import write_cams_following_masks
from PIL import Image

from qaclims.cli import main
from qaclims.config import validate_config
from qaclims.data.index import MIN_IMAGE_SIDE, read_index
from qaclims.demo.dataset import write_demo_dataset
from qaclims.models.cam import BaselineCAMNetwork
from qaclims.models.irn import IRNetwork
from qaclims.models.weights import save_weights
from qaclims.seg.network import network_from_config

CLASSES = ["cat", "dog"]


def dataset_with_an_image_of_side(base, side: int) -> tuple[dict, str]:
    """A VOC-layout demo dataset whose first train_aug image, and its mask, shrink to ``side`` x ``side``."""
    root = base / "VOC2012"
    write_demo_dataset(str(root), CLASSES, seed=4, num_train=2, num_train_extra=1, num_val=1, min_size=40,
                       max_size=48, max_objects=1, jpeg_quality=90)
    image_id = (root / "ImageSets" / "Segmentation" / "train_aug.txt").read_text().split()[0]
    for path, resample in ((root / "JPEGImages" / f"{image_id}.jpg", Image.Resampling.BICUBIC),
                           (root / "SegmentationClass" / f"{image_id}.png", Image.Resampling.NEAREST)):
        if path.exists():
            with Image.open(path) as image:
                image.load()
            image.resize((side, side), resample).save(path)
    return {"kind": "voc12", "root": str(root), "classes": CLASSES}, str(root / "JPEGImages" / f"{image_id}.jpg")


def test_an_image_below_the_minimum_is_refused_by_name_by_check_data_and_the_index(tmp_path, capsys):
    dataset, small = dataset_with_an_image_of_side(tmp_path, MIN_IMAGE_SIDE - 1)
    config = json.dumps({"dataset": dataset})
    assert main(["check-data", "--config", config]) == 2
    assert main(["index", "--config", config, "--root", dataset["root"], "--out", str(tmp_path / "index.parquet")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 2 and all(small in error and f"at least {MIN_IMAGE_SIDE} pixels" in error for error in errors)


@pytest.fixture(scope="module")
def smallest_image_dataset(tmp_path_factory):
    base = tmp_path_factory.mktemp("smallest")
    dataset, _ = dataset_with_an_image_of_side(base, MIN_IMAGE_SIDE)
    index = str(base / "index.parquet")
    assert main(["index", "--config", json.dumps({"dataset": dataset}), "--root", dataset["root"], "--out", index]) == 0
    return base, dataset, index


def test_the_smallest_image_gets_cams_seed_labels_pseudo_labels_and_a_segmentation(smallest_image_dataset):
    base, dataset, index = smallest_image_dataset
    config = json.dumps({"dataset": dataset, "device": "cpu", "cam": {"backbone": "resnet10"},
                         "seg": {"backbone": "resnet10", "backbone_weights": "none"}})
    cam_weights, irn_weights, seg_weights = (str(base / name) for name in ("cam.pt", "irn.pt", "seg.pt"))
    save_weights(cam_weights, BaselineCAMNetwork("resnet10", len(CLASSES)), CLASSES, {}, "test")
    save_weights(irn_weights, IRNetwork("resnet10"), CLASSES, {}, "test")
    seg = network_from_config(validate_config(json.loads(config))["seg"], len(CLASSES), "none")
    save_weights(seg_weights, seg, CLASSES, {}, "test")
    assert main(["make-cam", "--config", config, "--index", index, "--weights", cam_weights, "--network", "baseline",
                 "--out", str(base / "cams")]) == 0
    # The seed labels read CAMs that follow the masks, so that the CRF sees foreground on the small image too.
    write_cams_following_masks(read_index(index), "train_aug", base / "cams")
    assert main(["ir-label", "--config", config, "--index", index, "--cams", str(base / "cams"),
                 "--out", str(base / "seeds")]) == 0
    assert main(["pseudo-label", "--config", config, "--index", index, "--cams", str(base / "cams"),
                 "--weights", irn_weights, "--out", str(base / "pseudo")]) == 0
    assert main(["infer-seg", "--config", config, "--index", index, "--weights", seg_weights, "--split", "train_aug",
                 "--out", str(base / "raw"), "--crf-out", str(base / "crf")]) == 0
