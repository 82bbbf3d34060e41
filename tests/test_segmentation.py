"""DeepLab: networks, the class-balanced loss, multi-scale fusion, CRF post-processing, resume, evaluation."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydensecrf.densecrf as densecrf
import pytest
import torch
import torch.nn.functional as F
from helpers import indexed_demo_dataset, kill_after_first_checkpoint
from pydensecrf.utils import unary_from_softmax

from qaclims.cli import main
from qaclims.config import load_config, validate_config
from qaclims.data.index import read_index
from qaclims.data.labels import read_label_png, write_label_png
from qaclims.data.voc import SERVER_FOLDER
from qaclims.errors import ConfigError
from qaclims.models.deeplab import segmentation_network
from qaclims.refine.crf import CRFSettings
from qaclims.seg.inference import InferenceSettings, crf_postprocess, fused_logits
from qaclims.seg.objective import balanced_cross_entropy, multi_scale_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")
VOC_PRESET = Path(__file__).resolve().parents[1] / "workflow" / "configs" / "voc12.yaml"


def test_the_balanced_loss_averages_the_background_and_foreground_means():
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]], [[1.0, 3.0]]]])  # [1, 3 classes, 1, 2]
    logits = torch.cat([logits, logits.flip(-1)], dim=-1)  # 4 pixels
    labels = torch.tensor([[[0, 2, 255, 1]]])
    per_pixel = -torch.log_softmax(logits, dim=1)[0, :, 0]  # [3, 4]
    background = per_pixel[0, 0]
    foreground = (per_pixel[2, 1] + per_pixel[1, 3]) / 2
    assert balanced_cross_entropy(logits, labels).item() == pytest.approx(((background + foreground) / 2).item())
    # Plain cross-entropy weighs the three pixels equally instead.
    assert F.cross_entropy(logits, labels, ignore_index=255).item() == pytest.approx(
        ((per_pixel[0, 0] + per_pixel[2, 1] + per_pixel[1, 3]) / 3).item())
    only_background = torch.tensor([[[0, 0, 255, 255]]])
    assert balanced_cross_entropy(logits, only_background).item() == pytest.approx(
        ((per_pixel[0, 0] + per_pixel[0, 1]) / 2).item())


def test_fusion_of_a_model_that_returns_its_input():
    image = torch.rand(3, 8, 12)
    mirrored = torch.cat([image[..., :6], image[..., :6].flip(-1)], dim=-1)
    for fusion in ("max", "mean"):
        # Every scale resized back is the image again, up to resampling; the mirror adds nothing new.
        fused = fused_logits(lambda batch: batch, mirrored, InferenceSettings((1.0,), True, fusion, "image"))
        assert torch.allclose(fused, mirrored)
    shifted = {"max": None, "mean": None}
    for fusion in shifted:
        shifted[fusion] = fused_logits(lambda batch: batch + 1 - batch.shape[-1] / 12, image,
                                       InferenceSettings((0.5, 1.0), False, fusion, "image"))
    # Scale 1 adds 0 to the image, scale 0.5 adds 0.5 to its half-size copy: max takes the second, mean halves it.
    half = F.interpolate(F.interpolate(image[None], scale_factor=0.5, mode="bilinear", align_corners=False),
                         (8, 12), mode="bilinear", align_corners=False)[0] + 0.5
    assert torch.allclose(shifted["max"], torch.maximum(half, image))
    assert torch.allclose(shifted["mean"], (half + image) / 2)


@pytest.fixture(scope="module")
def tiny_deeplab():
    torch.manual_seed(0)
    return segmentation_network("deeplabv2", "resnet10", 4).eval()


def upsample(logits, size):
    return F.interpolate(logits, size, mode="bilinear", align_corners=False)


def rescale(image, scale):
    """The reference's MSC input at ``scale``: resized by the factor, not to a rounded size."""
    return F.interpolate(image[None], scale_factor=scale, mode="bilinear", align_corners=False)


def test_the_default_and_voc_inference_is_the_reference_msc_max_at_the_scale_one_logit_size(tiny_deeplab):
    sections = [validate_config({})["infer_seg"], load_config([str(VOC_PRESET)])["infer_seg"]]
    assert InferenceSettings.from_config(sections[0]) == InferenceSettings.from_config(sections[1]) == \
        InferenceSettings((1.0, 0.5, 0.75), False, "max", "logits")
    image = torch.randn(3, 61, 83)
    with torch.no_grad():
        # CLIMS segmentation/deeplabv2 MSC.forward at test time: the base logits, those of the 0.5 and
        # 0.75 inputs resized to them, the pixel-wise max; main_v2.py then resizes that to the image.
        base = tiny_deeplab(image[None])
        smaller = [tiny_deeplab(rescale(image, scale)) for scale in (0.5, 0.75)]
        expected = upsample(torch.stack([base, *(upsample(item, base.shape[-2:]) for item in smaller)]).amax(dim=0),
                            (61, 83))[0]
    assert base.shape[-2:] == (8, 11) and [item.shape[-2:] for item in smaller] == [(4, 6), (6, 8)]
    fused = fused_logits(tiny_deeplab, image, InferenceSettings.from_config(sections[0]))
    torch.testing.assert_close(fused, expected, rtol=0, atol=1e-5)


def test_flip_and_fusion_after_upsampling_change_the_logits_as_computed_by_hand(tiny_deeplab):
    image = torch.randn(3, 61, 83)
    with torch.no_grad():
        inputs = [image[None], rescale(image, 0.5), rescale(image, 0.75)]
        plain = [tiny_deeplab(item) for item in inputs]
        mirrors = [tiny_deeplab(item.flip(-1)).flip(-1) for item in inputs]
    reference = fused_logits(tiny_deeplab, image, InferenceSettings((1.0, 0.5, 0.75), False, "max", "logits"))
    flipped = fused_logits(tiny_deeplab, image, InferenceSettings((1.0, 0.5, 0.75), True, "max", "logits"))
    late = fused_logits(tiny_deeplab, image, InferenceSettings((1.0, 0.5, 0.75), False, "max", "image"))
    late_mean = fused_logits(tiny_deeplab, image, InferenceSettings((1.0, 0.5, 0.75), True, "mean", "image"))
    logit_size = plain[0].shape[-2:]
    torch.testing.assert_close(flipped, upsample(torch.stack([upsample(item, logit_size) for item in plain + mirrors])
                                                 .amax(dim=0), (61, 83))[0], rtol=0, atol=1e-5)
    torch.testing.assert_close(late, torch.stack([upsample(item, (61, 83)) for item in plain]).amax(dim=0)[0],
                               rtol=0, atol=1e-5)
    torch.testing.assert_close(late_mean, torch.stack([upsample(item, (61, 83)) for item in plain + mirrors])
                               .mean(dim=0)[0], rtol=0, atol=1e-5)
    for variant in (flipped, late, late_mean):
        assert variant.shape == reference.shape == (4, 61, 83)
        assert (variant - reference).abs().max() > 1e-3


def test_the_config_refuses_fusion_at_the_logit_size_without_scale_one():
    with pytest.raises(ConfigError, match=r"config key infer_seg.scales: \[0.5, 0.75\] does not contain"):
        validate_config({"infer_seg": {"scales": [0.5, 0.75]}})
    assert validate_config({"infer_seg": {"scales": [0.5, 0.75], "fuse_at": "image"}})["infer_seg"]["scales"] == [0.5, 0.75]
    assert validate_config({"infer_seg": {"scales": [0.5, 1]}})["infer_seg"]["fuse_at"] == "logits"


def test_crf_postprocessing_equals_direct_pydensecrf_calls():
    rng = np.random.default_rng(0)
    image = np.full((24, 32, 3), 60, np.uint8)
    image[6:18, 8:24] = (220, 40, 40)
    logits = rng.normal(0, 1, (3, 24, 32)).astype(np.float32)
    logits[1, 6:18, 8:24] += 1.5
    settings = CRFSettings.from_config(validate_config({})["infer_seg"]["crf"])
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=0)
    crf = densecrf.DenseCRF2D(32, 24, 3)
    crf.setUnaryEnergy(unary_from_softmax(probabilities.astype(np.float32)))
    crf.addPairwiseGaussian(sxy=1, compat=3)
    crf.addPairwiseBilateral(sxy=67, srgb=3, rgbim=image.copy(), compat=4)
    expected = np.argmax(np.array(crf.inference(10)).reshape(3, 24, 32), axis=0)
    result = crf_postprocess(image, logits, settings)
    np.testing.assert_array_equal(result, expected)
    assert (result != logits.argmax(axis=0)).any()  # the CRF changed something


def test_networks_give_logits_per_class_and_background_with_frozen_batch_norm():
    torch.manual_seed(0)
    network = segmentation_network("deeplabv2", "resnet10", 4).train()
    logits = network(torch.randn(2, 3, 65, 49))
    assert logits.shape == (2, 4, 9, 7)  # output stride 8
    assert not any(layer.training for layer in network.modules() if isinstance(layer, torch.nn.BatchNorm2d))
    backbone, weights, biases = network.parameter_groups()
    assert len(weights) == len(biases) == 4  # the four ASPP rates
    assert all(parameter.requires_grad for parameter in backbone)
    loss = multi_scale_loss(network, torch.randn(2, 3, 48, 48), torch.randint(0, 4, (2, 48, 48)), [1.0, 0.75, 0.5],
                            balanced_cross_entropy)
    loss.backward()
    assert all(parameter.grad is not None for parameter in weights)


@pytest.fixture(scope="module")
def labelled_dataset(tmp_path_factory):
    base = tmp_path_factory.mktemp("seg")
    index, dataset = indexed_demo_dataset(base, ["cat", "dog"], seed=5, num_train=6, num_train_extra=0, num_val=3,
                                          min_size=40, max_size=56)
    labels = base / "pseudo"
    for row in read_index(str(index)).split("train").itertuples():
        write_label_png(labels / f"{row.image_id}.png", read_label_png(row.mask_path))
    return base, index, dataset, labels


def seg_config(dataset, **seg):
    return {"device": "cpu", "dataset": dataset,
            "seg": {"backbone": "resnet10", "backbone_weights": "none", "split": "train", "iterations": 9,
                    "batch_size": 2, "crop_size": 32, "checkpoint_every": 3, "log_every": 1, **seg},
            "infer_seg": {"scales": [0.75, 1.0], "test_split": "train"}}


def test_a_killed_segmentation_training_resumes_to_the_same_weights(labelled_dataset):
    base, index, dataset, labels = labelled_dataset

    def command(out, checkpoints):
        return [sys.executable, "-m", "qaclims", "train-seg", "--config", json.dumps(seg_config(dataset)),
                "--index", str(index), "--labels", str(labels), "--out", str(out), "--checkpoint-dir", str(checkpoints)]

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command(base / "a.pt", base / "ckpt-a"), capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "step 9/9 total=" in result.stdout
    kill_after_first_checkpoint(command(base / "b.pt", base / "ckpt-b"), base / "ckpt-b", env)
    assert not (base / "b.pt").exists(), "training finished before it could be killed"
    result = subprocess.run(command(base / "b.pt", base / "ckpt-b"), capture_output=True, text=True, env=env)
    assert result.returncode == 0 and "resuming from" in result.stdout
    a = torch.load(base / "a.pt", weights_only=True)["state_dict"]
    b = torch.load(base / "b.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_inference_evaluation_and_submission_through_the_command_line(labelled_dataset, tmp_path):
    base, index, dataset, labels = labelled_dataset
    config = json.dumps(seg_config(dataset, iterations=3))
    weights = tmp_path / "deeplab.pt"
    assert main(["train-seg", "--config", config, "--index", str(index), "--labels", str(labels),
                 "--out", str(weights), "--checkpoint-dir", str(tmp_path / "ckpt")]) == 0
    for shard in range(2):
        assert main(["infer-seg", "--config", config, "--index", str(index), "--weights", str(weights),
                     "--split", "val", "--shard", str(shard), "--num-shards", "2", "--out", str(tmp_path / f"raw-{shard}"),
                     "--crf-out", str(tmp_path / f"crf-{shard}")]) == 0
    val = read_index(str(index)).split("val")
    for row in val.itertuples():
        shard = next(s for s in range(2) if (tmp_path / f"raw-{s}" / f"{row.image_id}.png").exists())
        for variant in ("raw", "crf"):
            prediction = read_label_png(tmp_path / f"{variant}-{shard}" / f"{row.image_id}.png")
            assert prediction.shape == (row.height, row.width) and prediction.max() <= 2
    summary, per_class = tmp_path / "seg.json", tmp_path / "seg_per_class.csv"
    assert main(["eval-seg", "--config", config, "--index", str(index),
                 "--predictions", str(tmp_path / "raw-0"), str(tmp_path / "raw-1"),
                 "--crf-predictions", str(tmp_path / "crf-0"), str(tmp_path / "crf-1"),
                 "--summary", str(summary), "--per-class", str(per_class)]) == 0
    result = json.loads(summary.read_text())
    assert result["images"] == 3 and result["split"] == "val"
    assert 0 <= result["miou"] <= 1 and 0 <= result["miou_crf"] <= 1
    assert per_class.read_text().splitlines()[0] == "class,iou,precision,recall,iou_crf,precision_crf,recall_crf"

    assert main(["infer-seg", "--config", config, "--index", str(index), "--weights", str(weights),
                 "--split", "train", "--out", str(tmp_path / "test-raw")]) == 0
    assert main(["seg-submission", "--config", config, "--index", str(index), "--predictions", str(tmp_path / "test-raw"),
                 "--out", str(tmp_path / "submission")]) == 0
    submitted = sorted(path.name for path in (tmp_path / "submission" / SERVER_FOLDER).iterdir())
    assert submitted == sorted(f"{image_id}.png" for image_id in read_index(str(index)).split("train")["image_id"])
