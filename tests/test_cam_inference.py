"""Multi-scale CAMs with flips, their files in either precision, the threshold sweep and its best threshold,
and the CAM evaluation's checks."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from qaclims.cam.cam_files import checked_cams, load_cams
from qaclims.cam.inference import (
    ImageCams,
    multiscale_cams,
    save_cams,
    scaled_inputs,
)
from qaclims.cli import main
from qaclims.data.index import read_index
from qaclims.data.labels import read_label_png, write_label_png
from qaclims.data.stage_outputs import checked_label_map, files_by_image
from qaclims.demo.dataset import write_demo_dataset
from qaclims.errors import DatasetError
from qaclims.evaluation.metrics import (
    ConfusionMatrix,
    ThresholdSweep,
    best_position,
    first_drop_position,
)
from qaclims.models.cam import BaselineCAMNetwork
from qaclims.models.weights import save_weights

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def direct_prediction(cams, keys, threshold):
    """argmax over [threshold plane, cams...] mapped to class ids, written out plainly."""
    height, width = cams.shape[1:]
    prediction = np.zeros((height, width), dtype=np.int64)
    for y in range(height):
        for x in range(width):
            best, label = threshold, 0
            for cam, key in zip(cams[:, y, x], keys):
                if cam > best:
                    best, label = cam, key + 1
            prediction[y, x] = label
    return prediction


def test_sweep_on_a_hand_made_image():
    # One class (key 1 -> label 2) over a 1x4 image; ground truth [0, 2, 2, 255].
    cams = np.array([[[0.1, 0.3, 0.6, 0.9]]])
    gt = np.array([[0, 2, 2, 255]])
    sweep = ThresholdSweep([0.2, 0.5], num_classes=3)
    sweep.update(cams, np.array([1]), gt)
    # t=0.2: predictions [0, 2, 2, -]: all three valid pixels right.
    assert sweep.confusion(0).matrix.tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 2]]
    # t=0.5: predictions [0, 0, 2, -]: one class-2 pixel lost to background.
    assert sweep.confusion(1).matrix.tolist() == [[1, 0, 0], [0, 0, 0], [1, 0, 1]]
    assert sweep.mean_ious() == pytest.approx([1.0, (1 / 2 + 1 / 2) / 2])


def test_sweep_equals_a_direct_computation_for_every_threshold_including_ties():
    rng = np.random.default_rng(4)
    thresholds = [0.1, 0.2, 0.3, 0.5]
    sweep = ThresholdSweep(thresholds, num_classes=4)
    direct = [ConfusionMatrix(4) for _ in thresholds]
    for _ in range(3):
        keys = np.sort(rng.choice(3, size=2, replace=False))
        cams = rng.choice([0.0, 0.1, 0.2, 0.3, 0.45, 0.5, 0.8], size=(2, 5, 6))  # values on the thresholds: ties
        gt = rng.integers(0, 4, size=(5, 6))
        gt[0, :2] = 255
        sweep.update(cams, keys, gt)
        for matrix, threshold in zip(direct, thresholds):
            matrix.update(direct_prediction(cams, keys, threshold), gt)
    for position, matrix in enumerate(direct):
        assert np.array_equal(sweep.confusion(position).matrix, matrix.matrix)


@pytest.mark.parametrize("mean_ious, expected", [
    ([0.3, 0.4, 0.5, 0.45, 0.6], 2),  # the later, higher 0.6 is never reached
    ([0.3, 0.4, 0.5], 2),
    ([0.5, 0.4, 0.6], 0),
    ([0.3, 0.3, 0.5], 0),  # an equal mIoU is no improvement
    ([0.3, np.nan, 0.5], 0),
    ([0.3], 0),
])
def test_first_drop_stops_at_the_first_threshold_that_does_not_improve(mean_ious, expected):
    assert first_drop_position(np.array(mean_ious)) == expected


def test_best_position_by_pick_and_the_fixed_threshold_off_the_sweep():
    # 0.15 is the fixed threshold, not on the 0.1-by-0.1 sweep: only the highest-mIoU pick sees it.
    thresholds, swept = np.array([0.1, 0.15, 0.2, 0.3]), np.array([0.1, 0.2, 0.3])
    mean_ious = np.array([0.4, 0.9, 0.5, 0.45])
    assert best_position(thresholds, mean_ious, swept, "max") == 1
    assert best_position(thresholds, mean_ious, swept, "first_drop") == 2
    # On the sweep, the fixed threshold is a step of the walk like any other.
    assert best_position(thresholds, mean_ious, thresholds, "first_drop") == 1


class ReturnsItsInput(torch.nn.Module):
    """A 'network' whose CAM logits are its input channels, at full resolution."""

    def forward(self, images):
        return images


def test_a_network_that_returns_its_input_gives_its_input_map_with_flips_undone():
    height, width = 32, 48  # multiples of 16: no padding to crop
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 4, 0] = 255  # a bright red strip on the left only
    pixels[height // 2:, :, 1] = 200
    image = Image.fromarray(pixels)
    cams = multiscale_cams(ReturnsItsInput(), scaled_inputs(image, [1.0]), height, width, np.array([0, 1]),
                           torch.device("cpu"))
    normalised = (pixels / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    expected = np.maximum(normalised.transpose(2, 0, 1)[:2], 0) * 2  # the image and its un-flipped mirror
    expected /= expected.max(axis=(1, 2), keepdims=True) + 1e-5
    assert torch.allclose(cams.high_res, torch.from_numpy(expected).float(), atol=1e-5)
    # Were the mirror not flipped back, the red strip would also show on the right.
    assert cams.high_res[0, :, -1].max() == 0
    strided = F.interpolate(torch.from_numpy(expected).float()[None], (8, 12), mode="bilinear", align_corners=False)[0]
    assert torch.allclose(cams.strided, strided / (strided.amax(dim=(1, 2), keepdim=True) + 1e-5), atol=1e-5)


def test_scales_are_summed_at_the_image_size_and_cropped():
    height, width = 40, 56  # not multiples of 16: padded to 48 x 64, then cropped
    pixels = np.full((height, width, 3), 128, dtype=np.uint8)
    pixels[:, :20, 0] = 255
    image = Image.fromarray(pixels)
    one = multiscale_cams(ReturnsItsInput(), scaled_inputs(image, [1.0]), height, width, np.array([0]), torch.device("cpu"))
    two = multiscale_cams(ReturnsItsInput(), scaled_inputs(image, [1.0, 2.0]), height, width, np.array([0]),
                          torch.device("cpu"))
    assert one.high_res.shape == two.high_res.shape == (1, height, width)
    assert one.strided.shape == (1, 10, 14)
    # The doubled image, resized back, is the same map up to resampling: the sum keeps its shape.
    assert torch.allclose(one.high_res, two.high_res, atol=0.05)
    assert scaled_inputs(image, [0.5])[0].shape == (3, 20, 28)


def test_cams_round_trip_as_npz_without_pickles_in_either_precision(tmp_path):
    cams = ImageCams(np.array([2, 5]), torch.rand(2, 6, 7), torch.rand(2, 2, 2))
    for dtype in ("float16", "float32"):
        save_cams(str(tmp_path / f"{dtype}.npz"), cams, dtype)
    half, single = (load_cams(str(tmp_path / f"{dtype}.npz")) for dtype in ("float16", "float32"))
    assert half["keys"].tolist() == single["keys"].tolist() == [2, 5]
    assert half["high_res"].dtype == half["strided"].dtype == np.float16
    assert single["high_res"].dtype == single["strided"].dtype == np.float32
    np.testing.assert_array_equal(single["high_res"], cams.high_res.numpy())
    np.testing.assert_array_equal(single["strided"], cams.strided.numpy())
    assert np.abs(half["high_res"].astype(np.float32) - cams.high_res.numpy()).max() <= 2.5e-4


def test_bad_inputs_name_what_is_wrong(tmp_path):
    save_cams(str(tmp_path / "a.npz"), ImageCams(np.array([0]), torch.rand(1, 4, 4), torch.rand(1, 1, 1)), "float16")
    with pytest.raises(DatasetError, match=r"2 images have no \.npz file .* first: \['b', 'c'\]"):
        files_by_image([str(tmp_path)], ["a", "b", "c"], ".npz", "make_cam")
    with pytest.raises(DatasetError, match=r"a\.npz has classes \[0\] but the image is labelled \[1\]"):
        checked_cams(str(tmp_path / "a.npz"), np.array([0, 1]))
    mask = np.zeros((4, 4), dtype=np.uint8)
    mask[0, 0] = 7
    write_label_png(str(tmp_path / "gt.png"), mask)
    with pytest.raises(DatasetError, match=r"gt\.png has values \[7\] outside 0\.\.3 and 255"):
        checked_label_map(str(tmp_path / "gt.png"), num_classes=3)
    with pytest.raises(DatasetError, match=r"a\.npz is 4x4 but its image is 4x5"):
        checked_cams(str(tmp_path / "a.npz"), np.array([1]), image_size=(4, 5))
    write_label_png(str(tmp_path / "ok.png"), np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"ok\.png is 4x4 but its image is 5x4"):
        checked_label_map(str(tmp_path / "ok.png"), num_classes=3, image_size=(5, 4))


def small_indexed_dataset(folder, classes: list[str]) -> str:
    """Four train images of 32 to 40 px in VOC layout under ``folder``, and the path of their index."""
    write_demo_dataset(str(folder / "VOC2012"), classes, seed=1, num_train=4, num_train_extra=0, num_val=1,
                       min_size=32, max_size=40, max_objects=2, jpeg_quality=90)
    index = str(folder / "index.parquet")
    dataset = {"kind": "voc12", "root": str(folder / "VOC2012"), "classes": classes}
    assert main(["index", "--config", json.dumps({"dataset": dataset}), "--root", dataset["root"], "--out", index]) == 0
    return index


def test_make_cam_stores_the_maps_in_the_configured_precision(tmp_path, one_torch_thread):
    index = small_indexed_dataset(tmp_path, ["cat", "dog"])
    torch.manual_seed(0)
    weights = str(tmp_path / "baseline.pt")
    save_weights(weights, BaselineCAMNetwork("resnet10", 2), ["cat", "dog"], {}, "test")
    stored = {}
    for dtype in ("float16", "float32"):
        config = {"make_cam": {"split": "train", "scales": [1.0], "dtype": dtype}, "cam": {"backbone": "resnet10"},
                  "device": "cpu"}
        assert main(["make-cam", "--config", json.dumps(config), "--index", index, "--weights", weights,
                     "--network", "baseline", "--out", str(tmp_path / dtype)]) == 0
        stored[dtype] = {path.name: load_cams(str(path)) for path in sorted((tmp_path / dtype).glob("*.npz"))}
    assert len(stored["float32"]) == 4 and stored["float16"].keys() == stored["float32"].keys()
    for name, single in stored["float32"].items():
        half = stored["float16"][name]
        for maps in ("high_res", "strided"):
            assert (half[maps].dtype, single[maps].dtype) == (np.float16, np.float32)
            # The same maps: float16 is float32 rounded, nothing else differs.
            np.testing.assert_array_equal(half[maps], single[maps].astype(np.float16))


def write_random_cams(folder, dataset_index, frame, rng, dtype: str, off_class=(0.05, 0.25)) -> None:
    """Random CAMs for the images of ``frame``: 0.15 or 0.45 on their class, one of ``off_class`` elsewhere."""
    for row, labels in zip(frame.itertuples(), dataset_index.labels(frame)):
        keys = np.flatnonzero(labels)
        on_class = read_label_png(row.mask_path)[None] == keys[:, None, None] + 1
        values = np.where(on_class, rng.choice([0.15, 0.45], on_class.shape), rng.choice(off_class, on_class.shape))
        cams = torch.from_numpy(values.astype(np.float32))
        save_cams(str(folder / f"{row.image_id}.npz"), ImageCams(keys, cams, cams[:, ::4, ::4]), dtype)


def direct_confusion(folder, dataset_index, frame, threshold: float) -> ConfusionMatrix:
    """The confusion matrix of the stored CAMs of ``frame``'s images at ``threshold``, computed directly."""
    direct = ConfusionMatrix(len(dataset_index.classes) + 1)
    for row, labels in zip(frame.itertuples(), dataset_index.labels(frame)):
        stored = load_cams(str(folder / f"{row.image_id}.npz"))["high_res"].astype(np.float64)
        direct.update(direct_prediction(stored, np.flatnonzero(labels), threshold), read_label_png(row.mask_path))
    return direct


def run_eval_cam(cams, index: str, config: dict, out) -> tuple[dict, pd.DataFrame]:
    """eval-cam on the CAMs of ``cams``, written under ``out``: its summary and per-class table."""
    outputs = {name: str(out / name) for name in ("cam.json", "per_class.csv", "sweep.csv", "overlays")}
    assert main(["eval-cam", "--config", json.dumps(config), "--index", index, "--cams", str(cams),
                 "--summary", outputs["cam.json"], "--per-class", outputs["per_class.csv"],
                 "--sweep", outputs["sweep.csv"], "--overlays", outputs["overlays"]]) == 0
    return json.loads(open(outputs["cam.json"]).read()), pd.read_csv(outputs["per_class.csv"])


# The sweep of this data: mIoU 0.39, 0.26, 0.64, 0.64, 0.26 at 0.1 to 0.5.
@pytest.mark.parametrize("dtype, pick, best_threshold", [("float16", "max", 0.3), ("float32", "first_drop", 0.1)])
def test_eval_cam_stage_against_a_direct_computation(tmp_path, dtype, pick, best_threshold):
    classes = ["cat", "dog"]
    index = small_indexed_dataset(tmp_path, classes)
    dataset_index = read_index(index)
    train = dataset_index.split("train")
    # Random maps: the mIoU dips after 0.1 and peaks later, so the reference's walk stops before the highest threshold.
    write_random_cams(tmp_path / "cams", dataset_index, train, np.random.default_rng(0), dtype)
    direct = direct_confusion(tmp_path / "cams", dataset_index, train, 0.3)
    sweep_settings = {"start": 0.1, "stop": 0.5, "step": 0.1, "pick": pick}
    config = {"eval_cam": {"threshold": 0.3, "overlays": 2, "sweep": sweep_settings}}
    summary, per_class = run_eval_cam(tmp_path / "cams", index, config, tmp_path / "eval")
    assert summary["miou"] == pytest.approx(direct.mean_iou())
    assert summary["background_false_activation"] == pytest.approx(direct.background_false_activation())
    assert summary["foreground_under_activation"] == pytest.approx(direct.foreground_under_activation())
    # Off-class maps stay below 0.3: no false activation, and under-activation where the class is at 0.15.
    assert summary["background_false_activation"] == 0 and 0 < summary["foreground_under_activation"] < 1
    np.testing.assert_allclose(per_class["background_false_activation"], direct.false_activation_per_class())
    np.testing.assert_allclose(per_class["foreground_under_activation"], direct.under_activation_per_class())
    assert summary["splits"] == {}
    assert summary["threshold"] == pytest.approx(0.3) and summary["images"] == 4
    assert "tuned on the evaluation labels" in summary["note"]
    sweep = pd.read_csv(tmp_path / "eval" / "sweep.csv")
    assert len(sweep) == 5
    # first_drop stops at the dip after 0.1, as the reference's walk does; max finds the peak.
    best_miou = sweep["miou"][np.isclose(sweep["threshold"], best_threshold)].item()
    assert (summary["best_threshold"], summary["best_miou"]) == pytest.approx((best_threshold, best_miou))
    assert summary["best_pick"] == pick
    assert len(list((tmp_path / "eval" / "overlays").glob("*.png"))) == 2


def test_eval_cam_scores_each_extra_split_at_the_fixed_threshold_and_leaves_the_rest_alone(tmp_path):
    classes = ["cat", "dog"]
    root = tmp_path / "VOC2012"
    write_demo_dataset(str(root), classes, seed=1, num_train=4, num_train_extra=0, num_val=2, min_size=32,
                       max_size=40, max_objects=2, jpeg_quality=90)
    # A split of any name, with images of two other splits.
    lists = root / "ImageSets" / "Segmentation"
    train_ids, val_ids = ((lists / f"{split}.txt").read_text().split() for split in ("train", "val"))
    (lists / "picked.txt").write_text(f"{train_ids[1]}\n{train_ids[3]}\n{val_ids[0]}\n")
    dataset = {"kind": "voc12", "root": str(root), "classes": classes, "splits": ["train", "val", "picked"]}
    index = str(tmp_path / "index.parquet")
    assert main(["index", "--config", json.dumps({"dataset": dataset}), "--root", str(root), "--out", index]) == 0
    dataset_index = read_index(index)
    rng = np.random.default_rng(0)
    for split in ("train", "val"):  # off-class maps above 0.3 here and there: false activations too
        write_random_cams(tmp_path / "cams", dataset_index, dataset_index.split(split), rng, "float32", (0.05, 0.35))
    settings = {"threshold": 0.3, "overlays": 2, "sweep": {"start": 0.1, "stop": 0.5, "step": 0.1}}
    alone, _ = run_eval_cam(tmp_path / "cams", index, {"eval_cam": settings}, tmp_path / "alone")
    summary, _ = run_eval_cam(tmp_path / "cams", index, {"eval_cam": {**settings, "extra_splits": ["picked", "val"]}},
                              tmp_path / "extra")
    assert {key: value for key, value in summary.items() if key != "splits"} == \
        {key: value for key, value in alone.items() if key != "splits"}
    assert list(summary["splits"]) == ["picked", "val"]
    for split, images in (("picked", 3), ("val", 2)):
        direct = direct_confusion(tmp_path / "cams", dataset_index, dataset_index.split(split), 0.3)
        scores = summary["splits"][split]
        assert scores == pytest.approx({"miou": direct.mean_iou(), "images": images,
                                        "background_false_activation": direct.background_false_activation(),
                                        "foreground_under_activation": direct.foreground_under_activation()})
        assert 0 < scores["background_false_activation"] < 1 and 0 < scores["foreground_under_activation"] < 1
    # Overlays come from the evaluation split alone.
    assert {path.stem for path in (tmp_path / "extra" / "overlays").glob("*.png")} <= set(train_ids)
