"""IRNet seed labels: the CRF against direct pydensecrf calls, the combination rule, odd CAMs, the sharded stage."""

import json
import sys

import numpy as np
import pydensecrf.densecrf as densecrf
import pytest
import torch
from helpers import (
    blob_maps,
    indexed_demo_dataset,
    kill_once_written,
    write_cams_following_masks,
)
from pydensecrf.utils import unary_from_labels

from qaclims.cam.inference import ImageCams, save_cams
from qaclims.cli import main
from qaclims.config import validate_config
from qaclims.data.index import read_index
from qaclims.errors import QaclimsError
from qaclims.refine import seed_labels
from qaclims.refine.crf import CRFSettings, dense_crf
from qaclims.refine.seed_labels import (
    combine_confident_labels,
    ir_label,
    settings_from_config,
)

SETTINGS = settings_from_config(validate_config({})["ir_label"])


def scene(height: int = 64, width: int = 96) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = np.full((height, width, 3), 200, np.uint8)
    image[10:30, 8:28] = (220, 30, 40)
    image[20:44, 36:60] = (30, 40, 210)
    image[0:8, 40:64] = (40, 200, 40)
    image = np.clip(image + rng.integers(-10, 10, image.shape), 0, 255).astype(np.uint8)
    cams = blob_maps(height, width, [(20, 18), (32, 48)], sigma=6.0)
    cams[1, 22:42, 38:58] = 0.6
    cams[1, 0:8, 40:64] = 0.2  # between the two thresholds: in doubt
    return image, cams


def direct_crf_pass(image: np.ndarray, cams: np.ndarray, threshold: float) -> np.ndarray:
    """One pass written straight against pydensecrf with the reference's numbers."""
    planes = np.concatenate([np.full((1, *cams.shape[1:]), threshold, np.float32), cams]).argmax(axis=0)
    height, width = planes.shape
    crf = densecrf.DenseCRF2D(width, height, len(cams) + 1)
    crf.setUnaryEnergy(unary_from_labels(planes, len(cams) + 1, gt_prob=0.7, zero_unsure=False))
    crf.addPairwiseGaussian(sxy=3, compat=3)
    crf.addPairwiseBilateral(sxy=50, srgb=5, rgbim=np.ascontiguousarray(image.copy()), compat=10)
    return np.argmax(np.array(crf.inference(10)).reshape(len(cams) + 1, height, width), axis=0)


def test_seed_labels_equal_direct_pydensecrf_calls():
    image, cams = scene()
    keys = np.array([4, 11])
    foreground, background = direct_crf_pass(image, cams, 0.30), direct_crf_pass(image, cams, 0.10)
    expected = np.concatenate([[0], keys + 1])[foreground].astype(np.uint8)
    expected[foreground == 0] = 255
    expected[(foreground == 0) & (background == 0)] = 0
    labels = ir_label(image, cams, keys, SETTINGS)
    assert labels.dtype == np.uint8 and labels.shape == image.shape[:2]
    np.testing.assert_array_equal(labels, expected)
    # The scene is not trivial: all four outcomes occur.
    assert set(np.unique(labels)) == {0, 5, 12, 255}


def test_combination_keeps_foreground_ignores_doubt_and_trusts_agreed_background():
    foreground = np.array([[1, 2, 0, 0],
                           [0, 1, 0, 2]])
    background = np.array([[1, 0, 0, 1],
                           [0, 1, 2, 2]])
    np.testing.assert_array_equal(combine_confident_labels(foreground, background),
                                  [[1, 2, 0, 255],
                                   [0, 1, 255, 2]])


def test_all_zero_cams_single_class_and_no_class_give_sensible_labels():
    image, cams = scene()
    assert (ir_label(image, np.zeros_like(cams), np.array([3, 7]), SETTINGS) == 0).all()
    single = ir_label(image, cams[:1], np.array([6]), SETTINGS)
    assert set(np.unique(single)) <= {0, 7, 255} and (single == 7).any() and (single == 0).any()
    assert (ir_label(image, cams[:0], np.array([], dtype=np.int64), SETTINGS) == 0).all()


def test_a_crf_that_returns_nan_fails_loudly():
    image, _ = scene(8, 8)
    unary = np.full((2, 64), 0.5, np.float32)
    unary[0, 5] = np.nan
    settings = CRFSettings(iterations=2, gaussian_sxy=3, gaussian_compat=3, bilateral_sxy=50, bilateral_srgb=5,
                           bilateral_compat=10)
    with pytest.raises(QaclimsError, match="non-finite values on a 8x8 image with 2 labels"):
        dense_crf(image, unary, settings)


@pytest.fixture(scope="module")
def dataset_with_cams(tmp_path_factory):
    """A small VOC-layout dataset, its index and a CAM npz per train_aug image."""
    base = tmp_path_factory.mktemp("ir_label")
    index, dataset = indexed_demo_dataset(base, ["cat", "dog", "person"], seed=2, num_train=6, num_train_extra=2,
                                          num_val=1, min_size=40, max_size=56)
    table = read_index(str(index))
    cams_dir = base / "cams"
    write_cams_following_masks(table, "train_aug", cams_dir)
    return base, index, dataset, cams_dir, table


def run_ir_label(base, index, dataset, cams_dir, out, threads, shard=0, shards=1):
    config = {"dataset": dataset}
    return main(["ir-label", "--config", json.dumps(config), "--index", str(index), "--cams", str(cams_dir),
                 "--shard", str(shard), "--num-shards", str(shards), "--out", str(out), "--threads", str(threads)])


def test_the_stage_writes_the_same_files_whatever_the_number_of_workers(dataset_with_cams):
    base, index, dataset, cams_dir, table = dataset_with_cams
    assert run_ir_label(base, index, dataset, cams_dir, base / "one", threads=1) == 0
    assert run_ir_label(base, index, dataset, cams_dir, base / "two", threads=2) == 0
    names = sorted(path.name for path in (base / "one").iterdir())
    assert names == sorted(f"{image_id}.png" for image_id in table.split("train_aug")["image_id"])
    assert names == sorted(path.name for path in (base / "two").iterdir())
    for name in names:
        assert (base / "one" / name).read_bytes() == (base / "two" / name).read_bytes()
    # Shards split the images between them.
    assert run_ir_label(base, index, dataset, cams_dir, base / "half", threads=2, shard=1, shards=2) == 0
    assert 0 < len(list((base / "half").iterdir())) < len(names)


def test_a_cam_of_the_wrong_size_is_named(dataset_with_cams, tmp_path, capsys):
    base, index, dataset, cams_dir, table = dataset_with_cams
    image_id = table.split("train_aug")["image_id"].iloc[0]
    broken = tmp_path / "cams"
    broken.mkdir()
    for path in cams_dir.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    labels = table.labels(table.frame[table.frame["image_id"] == image_id])[0]
    keys = np.flatnonzero(labels)
    cams = ImageCams(keys, torch.rand(len(keys), 7, 9), torch.rand(len(keys), 2, 3))
    save_cams(str(broken / f"{image_id}.npz"), cams, "float16")
    assert run_ir_label(base, index, dataset, broken, tmp_path / "out", threads=2) == 2
    error = capsys.readouterr().err
    assert f"{image_id}.npz is 7x9 but its image is" in error and "Traceback" not in error
    assert not (tmp_path / "out").exists()


# ir-label with a pause before each label file it writes, so that a kill comes while the shard is under way.
PACED_IR_LABEL = """
import sys, time
import qaclims.refine.seed_labels as seed_labels
from qaclims.cli import main
write = seed_labels.write_label_png
seed_labels.write_label_png = lambda *args: (time.sleep(0.3), write(*args))
sys.exit(main(["ir-label", *sys.argv[1:]]))
"""


def killed_ir_label(base, index, dataset, cams_dir, out):
    """ir-label of all images into ``out``, killed after two label files: the number of files it finished."""
    arguments = ["--config", json.dumps({"dataset": dataset}), "--index", str(index), "--cams", str(cams_dir),
                 "--out", str(out), "--threads", "1"]
    work = out.with_name(f".{out.name}.work")
    kill_once_written([sys.executable, "-c", PACED_IR_LABEL, *arguments], work, "*/items/*.png", 2)
    assert not out.exists()
    return len(list(work.glob("*/items/*.png")))


@pytest.fixture
def label_files_written(monkeypatch):
    """The label files that ir-label writes in this process, counted."""
    written = []
    write = seed_labels.write_label_png
    monkeypatch.setattr(seed_labels, "write_label_png", lambda path, label: (written.append(path), write(path, label)))
    return written


def test_the_rerun_of_a_killed_shard_labels_only_the_rest_into_the_same_files(dataset_with_cams, tmp_path,
                                                                              label_files_written, capsys):
    base, index, dataset, cams_dir, table = dataset_with_cams
    total = len(table.split("train_aug"))
    kept = killed_ir_label(base, index, dataset, cams_dir, tmp_path / "resumed")
    assert 0 < kept < total
    assert run_ir_label(base, index, dataset, cams_dir, tmp_path / "resumed", threads=1) == 0
    assert len(label_files_written) == total - kept
    assert f"kept {kept} of {total} images" in capsys.readouterr().out
    assert run_ir_label(base, index, dataset, cams_dir, tmp_path / "whole", threads=1) == 0
    names = sorted(path.name for path in (tmp_path / "whole").iterdir())
    assert sorted(path.name for path in (tmp_path / "resumed").iterdir()) == names
    for name in names:
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_a_changed_config_labels_a_killed_shard_afresh(dataset_with_cams, tmp_path, label_files_written):
    base, index, dataset, cams_dir, table = dataset_with_cams
    assert killed_ir_label(base, index, dataset, cams_dir, tmp_path / "out") > 0
    config = {"dataset": dataset, "ir_label": {"crf": {"iterations": 3}}}
    assert main(["ir-label", "--config", json.dumps(config), "--index", str(index), "--cams", str(cams_dir),
                 "--out", str(tmp_path / "out")]) == 0
    assert len(label_files_written) == len(table.split("train_aug"))
