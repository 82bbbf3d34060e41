"""Prediction on new images with a trained DeepLab file, and the export of the pseudo labels."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from photos import PHOTO_CLASSES, write_photo_folder
from PIL import Image

from qaclims.cli import main
from qaclims.data.images import EXIF_ORIENTATION
from qaclims.data.labels import VOC_PALETTE, read_label_png, write_label_png
from qaclims.models.weights import save_weights
from qaclims.seg.network import network_from_config

SEG = {"model": "deeplabv2", "backbone": "resnet10", "aspp_rates": [2, 4], "backbone_weights": "none"}


def config(**dataset) -> str:
    # No seg section: the network is the one the model file records, not the schema's ResNet-101.
    return json.dumps({"device": "cpu", "infer_seg": {"scales": [1.0]},
                       "dataset": {"classes": PHOTO_CLASSES, "max_long_side": 64, **dataset}})


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("model") / "deeplab.pt")
    network = network_from_config({**SEG}, len(PHOTO_CLASSES), "none")
    save_weights(path, network, PHOTO_CLASSES, {"seg": SEG}, "test")
    return path


def test_predict_writes_a_label_at_each_images_own_upright_size_an_overlay_and_the_classes(model_file, tmp_path,
                                                                                              capsys):
    images = write_photo_folder(tmp_path / "photos", unlabelled=False) / "images"
    turned = Image.new("RGB", (90, 50), (20, 120, 200))
    exif = turned.getexif()
    exif[EXIF_ORIENTATION] = 8
    turned.save(images / "turned.jpg", exif=exif)
    out = tmp_path / "predict"
    assert main(["predict", "--config", config(), "--weights", model_file, "--images", str(images),
                 "--out", str(out)]) == 0
    assert "within a long side of 64 px" in capsys.readouterr().out
    for path in images.iterdir():
        with Image.open(path) as image:
            width, height = image.size
        if path.name == "turned.jpg":
            width, height = height, width
        label = read_label_png(out / "labels" / f"{path.stem}.png")
        assert label.shape == (height, width) and label.max() <= len(PHOTO_CLASSES)
        with Image.open(out / "labels" / f"{path.stem}.png") as written:
            assert np.array_equal(np.asarray(written.getpalette(), dtype=np.uint8).reshape(-1, 3)[:21],
                                  VOC_PALETTE[:21])
        with Image.open(out / "overlays" / f"{path.stem}.png") as overlay:
            assert max(overlay.height, (overlay.width - 4) // 2) == 64
    classes = pd.read_csv(out / "classes.csv")
    assert classes["class"].tolist() == ["background", *PHOTO_CLASSES]
    assert classes[["red", "green", "blue"]].to_numpy().tolist() == VOC_PALETTE[:7].tolist()


def test_a_model_of_another_class_set_is_an_error_naming_the_file(model_file, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (20, 20)).save(images / "a.png")
    assert main(["predict", "--config", config(classes=["cat", "dog"]), "--weights", model_file,
                 "--images", str(images), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert f"model file {model_file} was trained on the classes" in error and "dog" in error
    assert not (tmp_path / "out").exists()


def test_a_model_file_that_records_no_seg_config_is_an_error_naming_it(tmp_path, capsys):
    path = str(tmp_path / "bare.pt")
    save_weights(path, network_from_config(SEG, len(PHOTO_CLASSES), "none"), PHOTO_CLASSES, {}, "test")
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (20, 20)).save(images / "a.png")
    assert main(["predict", "--config", config(), "--weights", path, "--images", str(images),
                 "--out", str(tmp_path / "out")]) == 2
    assert f"model file {path} records no seg config" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_unreadable_image_is_an_error_naming_the_file(model_file, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    assert main(["predict", "--config", config(), "--weights", model_file, "--images", str(images),
                 "--out", str(tmp_path / "out")]) == 2
    assert f"image {images / 'broken.jpg'} cannot be read" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_export_lays_out_the_pseudo_labels_images_and_list_as_voc_augmented_labels(tmp_path, capsys):
    images = write_photo_folder(tmp_path / "photos", unlabelled=False)
    dataset = {"kind": "folder", "root": str(images), "classes": PHOTO_CLASSES, "splits": ["train"],
               "mask_splits": []}
    index = tmp_path / "index.parquet"
    assert main(["index", "--config", json.dumps({"dataset": dataset}), "--root", str(images),
                 "--out", str(index)]) == 0
    frame = pd.read_parquet(index)
    shard = tmp_path / "pseudo_label" / "shard-0"
    for row in frame.itertuples():
        write_label_png(shard / f"{row.image_id}.png", np.full((row.height, row.width), 1, dtype=np.uint8))
    out = tmp_path / "export"
    assert main(["export-labels", "--config", json.dumps({"seg": {"split": "train"}}), "--index", str(index),
                 "--labels", str(shard), "--out", str(out)]) == 0
    assert f"{2 * len(frame)} hard links, 0 copies" in capsys.readouterr().out
    ids = (out / "ImageSets" / "Segmentation" / "train.txt").read_text().split()
    assert ids == sorted(frame["image_id"])
    for row in frame.itertuples():
        label = out / "SegmentationClassAug" / f"{row.image_id}.png"
        assert os.path.samefile(label, shard / f"{row.image_id}.png")
        image = out / "JPEGImages" / f"{row.image_id}{os.path.splitext(row.image_path)[1]}"
        assert os.path.samefile(image, row.image_path)


def test_link_or_copy_copies_where_no_link_can_be_made(tmp_path, monkeypatch):
    from qaclims.runtime import links

    source = tmp_path / "a.png"
    source.write_bytes(b"label")

    def refuse(*_):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(links.os, "link", refuse)
    assert links.link_or_copy(source, tmp_path / "b.png") is False
    assert (tmp_path / "b.png").read_bytes() == b"label" and not os.path.samefile(source, tmp_path / "b.png")
