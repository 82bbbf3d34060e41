"""IRNet: the network, affinity labels and losses, augmented training data, resume after a kill, pseudo labels."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import (
    indexed_demo_dataset,
    kill_after_first_checkpoint,
    write_cams_following_masks,
)
from PIL import Image

from qaclims.cli import main
from qaclims.data.index import read_index
from qaclims.data.labels import read_label_png, write_label_png
from qaclims.errors import DatasetError
from qaclims.models.irn import IRNetwork
from qaclims.refine.affinity import affinity_labels, irn_losses, search_offsets
from qaclims.train.data import LabelledImageDataset, ScaleAugmentation

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_affinity_labels_on_a_hand_made_label_map():
    label_map = torch.tensor([[0, 0, 1, 1],
                              [0, 255, 1, 2],
                              [0, 0, 2, 2]])
    masks = affinity_labels(label_map, radius=2)  # sources: rows 0..1, columns 1..2
    offsets = search_offsets(2)
    assert offsets == ((0, 1), (1, -1), (1, 0), (1, 1))

    def kinds(row, column, offset):
        return {name for name, mask in masks.items() if mask[offsets.index(offset), row, column - 1]}

    assert kinds(0, 1, (0, 1)) == {"negative"}                # 0 -> 1
    assert kinds(0, 1, (1, -1)) == {"background_positive"}    # 0 -> 0
    assert kinds(0, 1, (1, 0)) == set()                       # 0 -> ignore
    assert kinds(0, 2, (0, 1)) == {"foreground_positive"}     # 1 -> 1
    assert kinds(0, 2, (1, 1)) == {"negative"}                # 1 -> 2
    assert kinds(1, 1, (0, 1)) == set()                       # ignore -> 1
    assert kinds(1, 2, (1, 0)) == {"negative"}                # 1 -> 2
    assert kinds(1, 2, (0, 1)) == {"negative"}                # 1 -> 2
    assert masks["background_positive"].shape == (4, 2, 2)


def test_a_boundary_on_the_class_border_scores_better_than_no_boundary():
    label_map = torch.zeros(1, 12, 12, dtype=torch.long)
    label_map[:, :, 6:] = 1
    border = torch.full((1, 1, 12, 12), -6.0)
    border[..., 5:7] = 6.0
    blind = torch.full((1, 1, 12, 12), -6.0)
    good, bad = irn_losses(border, label_map, radius=4), irn_losses(blind, label_map, radius=4)
    assert good["negative_affinity"] < 0.01 < bad["negative_affinity"]
    assert good["total"] < bad["total"] and "foreground_displacement" not in good


def test_displacements_that_point_at_one_centre_cost_nothing():
    label_map = torch.ones(1, 10, 10, dtype=torch.long)
    ys, xs = torch.meshgrid(torch.arange(10.0), torch.arange(10.0), indexing="ij")
    to_centre = torch.stack([4.5 - ys, 4.5 - xs])[None]
    losses = irn_losses(torch.zeros(1, 1, 10, 10), label_map, radius=3, displacement=to_centre)
    assert losses["foreground_displacement"] < 1e-6
    scattered = irn_losses(torch.zeros(1, 1, 10, 10), label_map, radius=3, displacement=torch.zeros(1, 2, 10, 10))
    assert scattered["foreground_displacement"] > 0.1


def test_the_network_trains_only_its_branches_on_a_frozen_backbone():
    torch.manual_seed(0)
    network = IRNetwork("resnet10").train()
    assert network.displacement is None
    assert not any(layer.training for layer in network.backbone.modules())
    assert all(not parameter.requires_grad for parameter in network.backbone.parameters())
    boundary, displacement = network.parameter_groups()
    assert displacement == [] and boundary == list(network.boundary.parameters())
    logits, field = network(torch.randn(2, 3, 64, 48))
    assert logits.shape == (2, 1, 16, 12) and field is None
    logits.sum().backward()
    assert all(parameter.grad is not None for parameter in boundary)
    with_field = IRNetwork("resnet10", displacement=True)
    assert with_field(torch.randn(1, 3, 64, 48))[1].shape == (1, 2, 16, 12)


def test_the_boundary_map_averages_the_image_and_its_mirror():
    torch.manual_seed(0)
    network = IRNetwork("resnet10").eval()
    image = torch.randn(3, 50, 37)
    boundary = network.boundary_map(image, pad_to=64)
    assert boundary.shape == (13, 10) and ((boundary > 0) & (boundary < 1)).all()
    symmetric = torch.cat([image[..., :19], image[..., :18].flip(-1)], dim=-1)
    # A mirror-symmetric image has a mirror-symmetric map when nothing is padded: the padding would
    # sit on the right of both passes, so on opposite sides once the mirror's map is flipped back.
    mirrored = network.boundary_map(symmetric)
    assert torch.allclose(mirrored, mirrored.flip(-1), atol=1e-5)


def test_the_boundary_map_runs_on_the_unpadded_image_unless_padding_to_the_crop_is_asked_for():
    torch.manual_seed(0)
    network = IRNetwork("resnet10").eval()
    image = torch.randn(3, 50, 37)
    pair = torch.stack([image, image.flip(-1)])

    def expected(images):
        with torch.no_grad():
            logits = network(images)[0][:, 0, :13, :10]  # ceil(50 / 4) x ceil(37 / 4)
        return torch.sigmoid(logits[0] / 2 + logits[1].flip(-1) / 2)

    unpadded = network.boundary_map(image)
    padded = network.boundary_map(image, pad_to=64)
    torch.testing.assert_close(unpadded, expected(pair), rtol=0, atol=1e-6)
    torch.testing.assert_close(padded, expected(F.pad(pair, (0, 64 - 37, 0, 64 - 50))), rtol=0, atol=1e-6)
    # Group norm pools over the whole input, so the padding moves the map everywhere, not only at the border.
    assert (padded - unpadded).abs().max() > 0.01
    assert (padded - unpadded)[:4, :4].abs().max() > 0


def test_augmented_labels_are_cropped_with_the_image_and_padded_with_ignore(tmp_path):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8))
    image.save(tmp_path / "a.jpg")
    label = np.zeros((40, 30), np.uint8)
    label[:, 15:] = 2
    write_label_png(tmp_path / "a.png", label)
    dataset = LabelledImageDataset([str(tmp_path / "a.jpg")], [str(tmp_path / "a.png")],
                                   ScaleAugmentation(crop_size=64, scale_range=(0.9, 1.1)), seed=1)
    pixels, strided, sample = dataset[0]
    assert pixels.shape == (3, 64, 64) and strided.shape == (16, 16) and sample == 0
    assert set(strided.unique().tolist()) == {0, 2, 255}
    # Outside the image the pixels are zero and the labels ignored, in the same places.
    assert torch.equal((pixels[:, 2::4, 2::4] == 0).all(dim=0), strided == 255)
    again = dataset[0]
    assert torch.equal(again[0], pixels) and torch.equal(again[1], strided)
    dataset.epoch = 1
    assert not torch.equal(dataset[0][0], pixels)
    write_label_png(tmp_path / "a.png", np.zeros((40, 31), np.uint8))
    with pytest.raises(DatasetError, match=r"a\.png is 40x31 but its image is 40x30"):
        dataset[0]


@pytest.fixture(scope="module")
def seeded_dataset(tmp_path_factory):
    """A small dataset whose ground-truth masks stand in for the seed labels of every train_aug image."""
    base = tmp_path_factory.mktemp("irn")
    index, dataset = indexed_demo_dataset(base, ["cat", "dog", "person"], seed=4, num_train=8, num_train_extra=0,
                                          num_val=1, min_size=48, max_size=64)
    seeds = base / "seeds"
    seeds.mkdir()
    for row in read_index(str(index)).split("train_aug").itertuples():
        write_label_png(seeds / f"{row.image_id}.png", read_label_png(row.mask_path))
    return base, index, dataset, seeds


def train_irn_command(base, index, dataset, seeds, out, checkpoints):
    config = {"device": "cpu", "dataset": dataset, "cam": {"backbone": "resnet10", "backbone_weights": "none"},
              "irn": {"epochs": 6, "batch_size": 2, "crop_size": 48, "radius": 4, "checkpoint_every": 3,
                      "log_every": 1}}
    return [sys.executable, "-m", "qaclims", "train-irn", "--config", json.dumps(config), "--index", str(index),
            "--labels", str(seeds), "--out", str(out), "--checkpoint-dir", str(checkpoints), "--threads", "1"]


def test_a_killed_irn_training_resumes_to_the_same_weights(seeded_dataset):
    base, index, dataset, seeds = seeded_dataset
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    uninterrupted = base / "uninterrupted.pt"
    result = subprocess.run(train_irn_command(base, index, dataset, seeds, uninterrupted, base / "ckpt-a"),
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "step 24/24" in result.stdout and "negative_affinity=" in result.stdout

    resumed, checkpoints = base / "resumed.pt", base / "ckpt-b"
    kill_after_first_checkpoint(train_irn_command(base, index, dataset, seeds, resumed, checkpoints), checkpoints, env)
    assert not resumed.exists(), "training finished before it could be killed"
    result = subprocess.run(train_irn_command(base, index, dataset, seeds, resumed, checkpoints),
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "resuming from" in result.stdout
    a = torch.load(uninterrupted, weights_only=True)["state_dict"]
    b = torch.load(resumed, weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)
    assert not torch.equal(a["boundary.head.weight"], IRNetwork("resnet10").state_dict()["boundary.head.weight"])


def test_a_crop_too_small_for_the_radius_is_explained(seeded_dataset, capsys):
    base, index, dataset, seeds = seeded_dataset
    command = train_irn_command(base, index, dataset, seeds, base / "small.pt", base / "ckpt-small")
    config = json.loads(command[command.index("--config") + 1])
    config["irn"]["radius"] = 10
    assert main([*command[3:command.index("--config") + 1], json.dumps(config),
                 *command[command.index("--config") + 2:]]) == 2
    assert "irn.crop_size 48 gives a 12-pixel stride-4 grid, too small for pairs of irn.radius 10" in capsys.readouterr().err


def test_pseudo_labels_and_their_evaluation_through_the_command_line(seeded_dataset, tmp_path, capsys, monkeypatch):
    base, index, dataset, seeds = seeded_dataset
    paddings, boundary_map = [], IRNetwork.boundary_map

    def recording_boundary_map(network, image, pad_to=None):
        paddings.append(pad_to)
        return boundary_map(network, image, pad_to)

    monkeypatch.setattr(IRNetwork, "boundary_map", recording_boundary_map)
    table = read_index(str(index))
    write_cams_following_masks(table, "train_aug", tmp_path / "cams")
    config = json.dumps({"device": "cpu", "dataset": dataset, "cam": {"backbone": "resnet10", "backbone_weights": "none"},
                         "irn": {"epochs": 1, "batch_size": 4, "crop_size": 48, "radius": 4},
                         "eval_cam": {"split": "train", "overlays": 2}})
    weights = tmp_path / "irn.pt"
    assert main(["train-irn", "--config", config, "--index", str(index), "--labels", str(seeds), "--out", str(weights),
                 "--checkpoint-dir", str(tmp_path / "ckpt")]) == 0
    for shard in range(2):
        assert main(["pseudo-label", "--config", config, "--index", str(index), "--cams", str(tmp_path / "cams"),
                     "--weights", str(weights), "--shard", str(shard), "--num-shards", "2",
                     "--out", str(tmp_path / f"pseudo-{shard}")]) == 0
    labels = {path.stem: read_label_png(path) for shard in range(2) for path in (tmp_path / f"pseudo-{shard}").iterdir()}
    frame = table.split("train_aug")
    assert sorted(labels) == sorted(frame["image_id"])
    for row, image_labels in zip(frame.itertuples(), table.labels(frame)):
        assert labels[row.image_id].shape == read_label_png(row.mask_path).shape
        assert set(np.unique(labels[row.image_id])) <= {0, *(np.flatnonzero(image_labels) + 1)}
    assert paddings == [None] * len(frame)  # QA-CLIMS's unpadded boundary map by default
    padded_config = json.dumps({**json.loads(config), "pseudo_label": {"pad_to_crop": True}})
    assert main(["pseudo-label", "--config", padded_config, "--index", str(index), "--cams", str(tmp_path / "cams"),
                 "--weights", str(weights), "--shard", "0", "--num-shards", "4",
                 "--out", str(tmp_path / "padded")]) == 0
    padded = len(list((tmp_path / "padded").iterdir()))
    assert padded > 0 and paddings[len(frame):] == [48] * padded  # irn.crop_size

    summary, per_class = tmp_path / "pseudo.json", tmp_path / "pseudo_per_class.csv"
    assert main(["eval-pseudo", "--config", config, "--index", str(index), "--labels", str(tmp_path / "pseudo-0"),
                 str(tmp_path / "pseudo-1"), "--seeds", str(seeds), "--summary", str(summary),
                 "--per-class", str(per_class), "--overlays", str(tmp_path / "overlays")]) == 0
    result = json.loads(summary.read_text())
    assert result["images"] == 8 and result["split"] == "train"
    assert "predicted 255 (ignore) counts as background" in result["prediction_ignore"]
    assert 0 < result["miou"] <= 1
    assert 0 <= result["background_false_activation"] <= 1 and 0 <= result["foreground_under_activation"] <= 1
    assert per_class.read_text().splitlines()[0] == \
        "class,iou,precision,recall,background_false_activation,foreground_under_activation"
    assert len(per_class.read_text().splitlines()) == 1 + 4
    assert len(list((tmp_path / "overlays").iterdir())) == 2
    capsys.readouterr()
    assert main(["eval-pseudo", "--config", config, "--index", str(index), "--labels", str(tmp_path / "pseudo-0"),
                 "--seeds", str(seeds), "--summary", str(summary), "--per-class", str(per_class),
                 "--overlays", str(tmp_path / "overlays")]) == 2
    assert "have no .png file" in capsys.readouterr().err


def test_eval_pseudo_counts_predicted_ignore_as_background(seeded_dataset, tmp_path):
    base, index, dataset, seeds = seeded_dataset
    table = read_index(str(index))
    predictions = tmp_path / "pred"
    for row in table.split("train").itertuples():
        truth = read_label_png(row.mask_path)
        # Where the truth is background, predict ignore: it must count as a correct background.
        write_label_png(predictions / f"{row.image_id}.png", np.where(truth == 0, 255, truth).astype(np.uint8))
    config = json.dumps({"dataset": dataset, "eval_cam": {"split": "train", "overlays": 0}})
    summary = tmp_path / "pseudo.json"
    assert main(["eval-pseudo", "--config", config, "--index", str(index), "--labels", str(predictions),
                 "--seeds", str(seeds), "--summary", str(summary), "--per-class", str(tmp_path / "c.csv"),
                 "--overlays", str(tmp_path / "overlays")]) == 0
    result = json.loads(summary.read_text())
    assert result["miou"] == pytest.approx(1.0)
    # Ignore counted as background: no background pixel is falsely activated, and no object pixel missed.
    assert (result["background_false_activation"], result["foreground_under_activation"]) == (0, 0)
