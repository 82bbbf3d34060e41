"""CAM networks, the RITC objective on a batch, and the training loop's resume and NaN guard."""

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from helpers import indexed_demo_dataset, kill_after_first_checkpoint
from qaclims.models.cam import BaselineCAMNetwork, QACLIMSNetwork
from qaclims.models.demo import write_demo_clip
from qaclims.models.mask_clip import MaskPromptCLIP
from qaclims.ritc import ObjectiveSettings, PairTexts, ritc_losses
from qaclims.text.clip_text import load_clip
from qaclims.config import DEMO_CLIP_NAME

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CLASSES = ["cat", "dog", "person"]


def test_baseline_weights_load_strictly_into_the_qaclims_network():
    torch.manual_seed(0)
    baseline = BaselineCAMNetwork("resnet10", 3)
    network = QACLIMSNetwork("resnet10", 3)
    network.load_state_dict(baseline.state_dict(), strict=True)
    images = torch.randn(2, 3, 64, 48)
    baseline.eval(), network.eval()
    cams = network(images)
    assert cams.shape == (2, 3, 4, 3)  # output stride 16
    assert ((cams > 0) & (cams < 1)).all()
    # Same weights: the baseline's logits are the spatial mean of the CAM logits.
    assert torch.allclose(baseline(images), network.cam_logits(images).mean(dim=(2, 3)), atol=1e-5)


def test_conv1_and_bn1_are_frozen_and_batch_norm_is_live_only_in_qaclims():
    baseline, network = BaselineCAMNetwork("resnet10", 3).train(), QACLIMSNetwork("resnet10", 3).train()
    for model in (baseline, network):
        conv1, bn1 = model.stage1[0], model.stage1[1]
        assert not any(p.requires_grad for p in (*conv1.parameters(), *bn1.parameters()))
        assert not bn1.training
        backbone, head = model.parameter_groups()
        assert head == list(model.classifier.parameters())
        assert all(p.requires_grad for p in backbone) and all(p is not conv1.weight for p in backbone)
    assert not any(m.training for m in baseline.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert network.stage4[0].bn1.training


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    write_demo_clip(str(folder), image_size=32, seed=0)
    model, _ = load_clip(DEMO_CLIP_NAME, str(folder / f"{DEMO_CLIP_NAME}.pt"), str(folder), torch.device("cpu"))
    with pytest.warns(UserWarning):
        return MaskPromptCLIP(model, depth=3)


def objective_inputs(labels: torch.Tensor, dimension: int = 32):
    torch.manual_seed(1)
    samples, classes = labels.shape
    pair_of = torch.full((samples, classes), -1)
    pair_of[labels > 0] = torch.arange(int(labels.sum()))
    pairs = max(1, int(labels.sum()))
    texts = PairTexts(pair_of, torch.randn(pairs, dimension), torch.randint(0, 5, (pairs, 3)),
                      torch.tensor([[True, True, False]] * pairs), torch.nn.functional.normalize(torch.randn(5, dimension)))
    settings = ObjectiveSettings(0.1, 0.7, 10, 8, 0.2, 32, "imagenet", "fp32")
    return texts, settings


def test_a_batch_without_positive_pairs_gives_finite_losses(tiny_clip):
    labels = torch.zeros(2, 3)
    texts, settings = objective_inputs(labels)
    cams = torch.rand(2, 3, 4, 4, requires_grad=True)
    losses = ritc_losses(cams, torch.randn(2, 3, 64, 64), labels, torch.arange(2), tiny_clip, texts, settings)
    assert all(torch.isfinite(value) for value in losses.values())
    assert losses["foreground"].item() == 0 and losses["background"].item() == 0
    assert losses["total"].item() == pytest.approx(0.2 * cams.mean().item())
    losses["total"].backward()
    assert torch.isfinite(cams.grad).all()


def test_the_objective_trains_the_cams_through_the_pixel_product(tiny_clip):
    labels = torch.tensor([[1.0, 0, 1], [0, 1, 0]])
    texts, settings = objective_inputs(labels)
    cams = torch.rand(2, 3, 4, 4, requires_grad=True)
    losses = ritc_losses(cams, torch.randn(2, 3, 64, 64), labels, torch.arange(2), tiny_clip, texts, settings)
    expected = 10 * losses["foreground"] + 8 * losses["background"] + 0.2 * losses["area"]
    assert torch.allclose(losses["total"], expected)
    assert losses["foreground"].item() > 0 and losses["background"].item() > 0
    losses["total"].backward()
    # Absent classes get gradient only from the area term; present ones from the contrast too.
    area_only = torch.full_like(cams[0, 1], 0.2 / cams.numel())
    assert torch.allclose(cams.grad[0, 1], area_only)
    assert not torch.allclose(cams.grad[0, 0], area_only)


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    base = tmp_path_factory.mktemp("training")
    index, dataset = indexed_demo_dataset(base, CLASSES, seed=3, num_train=12, num_train_extra=0, num_val=1,
                                          min_size=64, max_size=80)
    return base, index, dataset


def train_cam_command(index, out, checkpoints, dataset, **recipe):
    config = {"device": "cpu", "dataset": dataset,
              "cam": {"backbone": "resnet10", "backbone_weights": "none",
                      "baseline": {"epochs": 5, "batch_size": 2, "crop_size": 64, "resize_long": [64, 96],
                                   "checkpoint_every": 3, "log_every": 1, **recipe}}}
    return [sys.executable, "-m", "qaclims", "train-cam", "--config", json.dumps(config), "--index", str(index),
            "--out", str(out), "--checkpoint-dir", str(checkpoints), "--threads", "1"]


def single_thread_env():
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def test_a_killed_training_resumes_to_the_same_weights(small_dataset):
    base, index, dataset = small_dataset
    uninterrupted = base / "uninterrupted.pt"
    result = subprocess.run(train_cam_command(index, uninterrupted, base / "ckpt-a", dataset),
                            capture_output=True, text=True, env=single_thread_env())
    assert result.returncode == 0, result.stderr
    assert "step 30/30" in result.stdout and not list((base / "ckpt-a").glob("*/last.pt"))

    resumed, checkpoints = base / "resumed.pt", base / "ckpt-b"
    kill_after_first_checkpoint(train_cam_command(index, resumed, checkpoints, dataset), checkpoints,
                                single_thread_env())
    assert not resumed.exists(), "training finished before it could be killed"

    result = subprocess.run(train_cam_command(index, resumed, checkpoints, dataset),
                            capture_output=True, text=True, env=single_thread_env())
    assert result.returncode == 0, result.stderr
    assert "resuming from" in result.stdout
    logged_steps = [int(step) for step in re.findall(r"^epoch \d+/\d+ step (\d+)/30", result.stdout, re.MULTILINE)]
    assert logged_steps[0] > 1 and logged_steps[-1] == 30  # it continued instead of starting over
    a = torch.load(uninterrupted, weights_only=True)["state_dict"]
    b = torch.load(resumed, weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_a_diverging_loss_stops_with_the_step_and_keeps_the_checkpoint(small_dataset):
    base, index, dataset = small_dataset
    checkpoints = base / "ckpt-nan"
    result = subprocess.run(train_cam_command(index, base / "nan.pt", checkpoints, dataset, lr=1e30),
                            capture_output=True, text=True, env=single_thread_env())
    assert result.returncode == 2
    assert "the loss became" in result.stderr and "at step" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (base / "nan.pt").exists()


def test_torchrun_with_two_processes_trains_like_one_process(small_dataset):
    # The baseline's batch norm is frozen and its loss is a batch mean, so DDP's averaged
    # gradients over two half batches equal the single process's gradient over the whole batch.
    base, index, dataset = small_dataset
    single = subprocess.run(train_cam_command(index, base / "single.pt", base / "ckpt-s", dataset, epochs=2),
                            capture_output=True, text=True, env=single_thread_env())
    assert single.returncode == 0, single.stderr
    command = train_cam_command(index, base / "ddp.pt", base / "ckpt-d", dataset, epochs=2)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "qaclims"]
    ddp = subprocess.run(launcher + command[3:], capture_output=True, text=True, env=single_thread_env())
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert ddp.stdout.count("step 12/12") == 1  # logged by the main process only
    a = torch.load(base / "single.pt", weights_only=True)["state_dict"]
    b = torch.load(base / "ddp.pt", weights_only=True)["state_dict"]
    assert all(torch.allclose(a[key].float(), b[key].float(), atol=1e-4) for key in a)
    assert not torch.equal(a["classifier.weight"], torch.zeros_like(a["classifier.weight"]))


def test_backbone_weights_load_from_a_file_and_bad_names_are_explained(tmp_path):
    from torchvision.models.resnet import BasicBlock, ResNet

    from qaclims.errors import QaclimsError
    from qaclims.models.backbone import output_stride_16_resnet

    torch.manual_seed(5)
    reference = ResNet(BasicBlock, [1, 1, 1, 1])
    path = tmp_path / "resnet10.pth"
    torch.save(reference.state_dict(), path)
    loaded = output_stride_16_resnet("resnet10", str(path))
    assert torch.equal(loaded.layer3[0].conv1.weight, reference.layer3[0].conv1.weight)
    # The last stage keeps stride 1: 64 px in gives 4 px out (stride 16), not 2.
    features = torch.nn.Sequential(*list(loaded.children())[:-2])(torch.randn(1, 3, 64, 64))
    assert features.shape[-2:] == (4, 4)
    with pytest.raises(QaclimsError, match="ResNet50_Weights.IMAGENET1K_V1"):
        output_stride_16_resnet("resnet50", "ImageNetWeightsThatDoNotExist")
    with pytest.raises(QaclimsError, match="unknown backbone"):
        output_stride_16_resnet("vgg16", "none")
