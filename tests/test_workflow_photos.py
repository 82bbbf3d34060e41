"""The whole pipeline on real photographs (scikit-image's) as a folder dataset without masks, with the tiny models."""

import numpy as np
import pandas as pd
import pytest
import yaml
from photos import PHOTO_CLASSES, PHOTOS, write_photo_folder
from PIL import Image
from workflow_runs import REPO, TINY, finished_demo

from qaclims.config import merge
from qaclims.data.labels import read_label_png

pytestmark = pytest.mark.workflow

MAX_LONG_SIDE = 96  # the photos are 451 to 741 px wide: every one is shrunk, as a phone photo would be


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    folder = write_photo_folder(root / "photos")
    preset = yaml.safe_load((REPO / "workflow" / "configs" / "folder.yaml").read_text())
    config = merge(merge(preset, TINY), {"dataset": {"root": str(folder), "classes": PHOTO_CLASSES,
                                                     "max_long_side": MAX_LONG_SIDE},
                                         "predict": {"images": str(folder / "images")}})
    workdir, _ = finished_demo(root, config)
    return workdir / "results" / "folder"


def image_paths(photo_run) -> pd.Series:
    """The index's image paths, which are relative to the folder Snakemake ran in."""
    index = pd.read_parquet(photo_run / "data" / "index.parquet").set_index("image_id")
    return index["image_path"].map(lambda path: photo_run.parents[1] / path)


def test_every_labelled_photo_is_prepared_upright_in_rgb_within_the_cap(photo_run):
    index = pd.read_parquet(photo_run / "data" / "index.parquet").set_index("image_id")
    assert sorted(index.index) == sorted(name.rsplit(".", 1)[0] for name, _ in PHOTOS.values())
    paths = image_paths(photo_run)
    for image_id, row in index.iterrows():
        with Image.open(paths[image_id]) as image:
            assert image.mode == "RGB" and image.size == (row["width"], row["height"])
            assert max(image.size) == MAX_LONG_SIDE
    assert index.loc["cameraman", ["height", "width"]].tolist() == [96, 96]
    log = (photo_run / "logs" / "prepare_images.log").read_text()
    assert "6 images shrunk to a long side of 96 px" in log and "converted to RGB: 1 L" in log
    assert "1 images have no class and are left out of training" in log


def test_cams_and_labels_of_every_photo_have_its_size_and_classes(photo_run):
    index = pd.read_parquet(photo_run / "data" / "index.parquet").set_index("image_id")
    labels = index[[f"label:{name}" for name in PHOTO_CLASSES]].to_numpy()
    for network in ("baseline", "ritc"):
        cams = {path.stem: path for path in (photo_run / "cam" / network / "maps").glob("shard-*/*.npz")}
        assert set(cams) == set(index.index)
        for position, (image_id, row) in enumerate(index.iterrows()):
            with np.load(cams[image_id]) as maps:
                assert maps["high_res"].shape == (labels[position].sum(), row["height"], row["width"])
                assert maps["keys"].tolist() == np.flatnonzero(labels[position]).tolist()
    for stage in ("ir_label", "pseudo_label"):
        pngs = {path.stem: path for path in (photo_run / stage).glob("shard-*/*.png")}
        assert set(pngs) == set(index.index)
        for position, (image_id, row) in enumerate(index.iterrows()):
            label = read_label_png(pngs[image_id])
            assert label.shape == (row["height"], row["width"])
            assert set(np.unique(label)) <= {0, 255, *(np.flatnonzero(labels[position]) + 1)}
    assert (photo_run / "seg" / "deeplab.pt").stat().st_size > 0


def test_without_masks_nothing_is_scored_and_the_report_shows_the_overlays(photo_run):
    assert not (photo_run / "eval").exists() and not (photo_run / "seg" / "train").exists()
    for folder in ("baseline", "ritc", "labels"):
        assert len(list((photo_run / "overlays" / folder).glob("*.png"))) == TINY["eval_cam"]["overlays"]
    report = photo_run / "report"
    assert "No scores" in (report / "miou.html").read_text()
    assert "No scores" in (report / "ablation.html").read_text()
    log = (photo_run / "logs" / "report_summary.log").read_text()
    assert "wrote the report summary of the overlays, VQA samples and resources" in log
    assert "pseudo labels and segmentation" not in log
    for montage in ("cam_overlays.png", "label_overlays.png"):
        with Image.open(report / montage) as picture:
            assert picture.height > 3 * MAX_LONG_SIDE  # overlay strips, not the text of an empty montage


def test_predict_labels_every_new_image_at_its_original_size(photo_run):
    folder = photo_run / "predict"
    originals = sorted((photo_run.parents[2] / "photos" / "images").iterdir())
    assert sorted(path.stem for path in (folder / "labels").iterdir()) == [path.stem for path in originals]
    for path in originals:
        with Image.open(path) as image:
            assert read_label_png(folder / "labels" / f"{path.stem}.png").shape == (image.height, image.width)
        assert (folder / "overlays" / f"{path.stem}.png").is_file()
    assert pd.read_csv(folder / "classes.csv")["class"].tolist() == ["background", *PHOTO_CLASSES]


def test_export_holds_every_training_pseudo_label_and_image(photo_run):
    export = photo_run / "export"
    ids = (export / "ImageSets" / "Segmentation" / "train.txt").read_text().split()
    assert ids == sorted(name.rsplit(".", 1)[0] for name, _ in PHOTOS.values())
    for image_id in ids:
        pseudo = next((photo_run / "pseudo_label").glob(f"shard-*/{image_id}.png"))
        assert (export / "SegmentationClassAug" / f"{image_id}.png").read_bytes() == pseudo.read_bytes()
        assert (export / "JPEGImages" / f"{image_id}.png").is_file()
