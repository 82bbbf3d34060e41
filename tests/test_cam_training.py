"""CAM networks, the RITC objective on a batch, and the training loop's resume and NaN guard."""

import copy
import json
import os
import re
import subprocess
import sys
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import fake_ovseg_state, indexed_demo_dataset, kill_after_first_checkpoint
from tensorboard.backend.event_processing import event_accumulator

from qaclims.cam.ritc_losses import (
    background_region_contrastive_loss,
    foreground_region_contrastive_loss,
)
from qaclims.cam.ritc_objective import (
    ObjectiveSettings,
    PairTexts,
    pair_texts,
    ritc_losses,
)
from qaclims.cam.text_shuffles import derangement_across_groups
from qaclims.config import subset, validate_config
from qaclims.errors import QaclimsError
from qaclims.models.cam import BaselineCAMNetwork, QACLIMSNetwork
from qaclims.models.demo_clip import write_demo_clip
from qaclims.models.mask_clip import MaskPromptCLIP, foreground_adaptive_threshold
from qaclims.run_layout import DEMO_CLIP_NAME
from qaclims.stages.train_ritc import training_clip
from qaclims.text.clip_text import load_clip
from qaclims.train.optim import poly_sgd

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
        backbone, head = model.parameter_groups()
        assert head == list(model.classifier.parameters())
        assert all(p.requires_grad for p in backbone) and all(p is not conv1.weight for p in backbone)
    assert not any(m.training for m in baseline.modules() if isinstance(m, torch.nn.BatchNorm2d))
    # The reference's QA-CLIMS ResNet keeps even bn1 a live BatchNorm (net/resnet50_v2.py).
    assert all(m.training for m in network.modules() if isinstance(m, torch.nn.BatchNorm2d))


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    write_demo_clip(str(folder), image_size=32, seed=0)
    return folder


def load_tiny_clip(folder) -> torch.nn.Module:
    model, _ = load_clip(DEMO_CLIP_NAME, str(folder / f"{DEMO_CLIP_NAME}.pt"), str(folder), torch.device("cpu"))
    return model


@pytest.fixture(scope="module")
def tiny_clip(clip_folder):
    with pytest.warns(UserWarning):
        return MaskPromptCLIP(load_tiny_clip(clip_folder), depth=3)


def objective_inputs(labels: torch.Tensor, dimension: int = 32, weights=(10, 8, 0.2), dtype=torch.float32):
    torch.manual_seed(1)
    samples, classes = labels.shape
    pair_of = torch.full((samples, classes), -1)
    pair_of[labels > 0] = torch.arange(int(labels.sum()))
    pairs = max(1, int(labels.sum()))
    texts = PairTexts(pair_of, torch.randn(pairs, dimension, dtype=dtype), torch.randint(0, 5, (pairs, 3)),
                      torch.tensor([[True, True, False]] * pairs),
                      torch.nn.functional.normalize(torch.randn(5, dimension, dtype=dtype)))
    foreground, background, area = weights
    settings = ObjectiveSettings(alpha=0.1, temperature=0.7, foreground_weight=foreground,
                                 background_weight=background, area_weight=area, contrastive_batch=samples,
                                 clip_input_size=32, clip_normalization="imagenet", precision="fp32")
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


# The loss weights (foreground, background, area) of run_voc12_qa_clims.sh and run_coco14_qa_clims.sh.
REFERENCE_LOSS_WEIGHTS = pytest.mark.parametrize("weights", [(10, 8, 0.2), (30, 24, 0.2)], ids=["voc12", "coco14"])
REFERENCE_RANK_BATCH = 4


def split_objective_inputs(tiny_clip, weights):
    """A float64 QA-CLIMS network and CLIP, 8 images with 1 to 3 labels each, and their texts."""
    torch.manual_seed(2)
    network = QACLIMSNetwork("resnet10", 3).double()
    clip = copy.deepcopy(tiny_clip).double()
    images = torch.randn(8, 3, 64, 64, dtype=torch.float64)
    labels = torch.tensor([[1.0, 0, 0], [1, 1, 1], [0, 1, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1]])
    texts, settings = objective_inputs(labels, weights=weights, dtype=torch.float64)
    return network, clip, images, labels, texts, replace(settings, contrastive_batch=REFERENCE_RANK_BATCH)


def parameter_gradients(network, clip, images, labels, texts, settings, samples):
    network.zero_grad(set_to_none=True)
    ritc_losses(network(images[samples]), images[samples], labels[samples], samples, clip, texts,
                settings)["total"].backward()
    return {name: p.grad.clone() for name, p in network.named_parameters() if p.requires_grad}


@REFERENCE_LOSS_WEIGHTS
def test_one_process_and_two_ranks_of_half_the_batch_give_the_same_gradient(tiny_clip, weights):
    network, clip, images, labels, texts, settings = split_objective_inputs(tiny_clip, weights)
    # SyncBatchNorm normalises every rank with the statistics of the whole global batch, so a rank's
    # images are normalised as on one process. Batch norm in eval mode (the same fixed statistics for
    # any split) makes the normalisation equal in the same way; nothing else mixes images.
    network.eval()
    batch = torch.arange(8)
    one_process = parameter_gradients(network, clip, images, labels, texts, settings, batch)
    # The training loop gives rank r of W the samples batch[r::W]; DDP averages the ranks' gradients.
    ranks = [parameter_gradients(network, clip, images, labels, texts, settings, batch[rank::2]) for rank in range(2)]
    largest = max((one_process[name] - (ranks[0][name] + ranks[1][name]) / 2).abs().max().item() for name in one_process)
    print(f"largest gradient difference, 1 x 8 against 2 x 4 ({weights}): {largest:.3g}")
    assert largest < 1e-6
    assert one_process["classifier.weight"].abs().max() > 1e-3


def reference_pair_sums(cams, images, labels, texts, settings, encode) -> dict[str, float]:
    """The reference's per-rank loop: each (image, class) pair's regions encoded and its losses added.

    ``encode(region, mask)`` is the reference's CLIP call for a region image and its binary mask.
    """
    size = (settings.clip_input_size,) * 2
    cams_clip = torch.nn.functional.interpolate(cams, size=size, mode="bilinear", align_corners=True)
    images_clip = torch.nn.functional.interpolate(images, size=size, mode="bilinear", align_corners=True)
    pair_sums = {"foreground": 0.0, "background": 0.0}
    for b, c in torch.nonzero(labels > 0).tolist():
        cam = cams_clip[b, c][None, None]
        mask = foreground_adaptive_threshold(cam, settings.alpha)
        foreground = encode(cam * images_clip[b], mask)
        background = encode((1 - cam) * images_clip[b], 1 - mask)
        row = texts.pair_of[b, c]
        text_pair = (texts.foreground[row][None], texts.text_features[texts.background_rows[row]][None],
                     texts.background_valid[row][None], settings.temperature)
        pair_sums["foreground"] += foreground_region_contrastive_loss(foreground, *text_pair).item()
        pair_sums["background"] += background_region_contrastive_loss(background, *text_pair).item()
    return pair_sums


@REFERENCE_LOSS_WEIGHTS
def test_a_rank_of_four_images_sums_its_pair_losses_as_the_reference_does(tiny_clip, weights):
    network, clip, images, labels, texts, settings = split_objective_inputs(tiny_clip, weights)
    network.eval()
    rank = torch.arange(4)
    cams = network(images[rank])
    losses = ritc_losses(cams, images[rank], labels[rank], rank, clip, texts, settings)
    pair_sums = reference_pair_sums(cams, images[rank], labels[rank], texts, settings, clip.encode_image)
    assert losses["foreground"].item() == pytest.approx(pair_sums["foreground"], rel=1e-9)
    assert losses["background"].item() == pytest.approx(pair_sums["background"], rel=1e-9)
    foreground_weight, background_weight, area_weight = weights
    assert losses["total"].item() == pytest.approx(
        foreground_weight * pair_sums["foreground"] + background_weight * pair_sums["background"]
        + area_weight * cams.mean().item(), rel=1e-9)


def test_mask_prompt_depth_zero_feeds_plain_clip_the_masked_regions(tiny_clip):
    # The reference's --use_mask_clip False: encode_image(fg_img * fg_mask) and (bg_img * bg_mask).
    _, clip, images, labels, texts, settings = split_objective_inputs(tiny_clip, (10, 8, 0.2))
    # Uneven CAMs and a high threshold leave pixels and whole patches out of the masks, so masking matters.
    settings = replace(settings, alpha=0.6)
    plain = MaskPromptCLIP(clip.clip_model, depth=0)
    rank = torch.arange(4)
    cams = torch.rand(4, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    losses = ritc_losses(cams, images[rank], labels[rank], rank, plain, texts, settings)
    pair_sums = reference_pair_sums(cams, images[rank], labels[rank], texts, settings,
                                    lambda region, mask: clip.clip_model.encode_image(region * mask))
    assert losses["foreground"].item() == pytest.approx(pair_sums["foreground"], rel=1e-9)
    assert losses["background"].item() == pytest.approx(pair_sums["background"], rel=1e-9)
    # A (trained, so non-zero) mask prompt changes the features: the match above tells depth 0 from 3.
    with torch.no_grad():
        clip.mask_embedding.normal_(generator=torch.Generator().manual_seed(5))
    prompted = ritc_losses(cams, images[rank], labels[rank], rank, clip, texts, settings)
    for name in ("foreground", "background"):
        assert abs(prompted[name].item() - losses[name].item()) > 1e-3, name


def test_training_loads_the_ovseg_checkpoint_only_with_a_mask_prompt(clip_folder, tmp_path, capsys):
    visual = load_tiny_clip(clip_folder).visual
    plain_weights = visual.state_dict()
    embedding = torch.randn(3, visual.grid_size[0] * visual.grid_size[1], visual.conv1.out_channels)
    checkpoint = tmp_path / "ovseg.pth"
    torch.save({"model": fake_ovseg_state(load_tiny_clip(clip_folder), embedding)}, checkpoint)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "start at zero" warning: the checkpoint's prompt replaces them
        prompted = training_clip(load_tiny_clip(clip_folder), 3, str(checkpoint), torch.device("cpu"))
    assert torch.equal(prompted.mask_embedding, embedding)
    assert not torch.equal(prompted.clip_model.visual.conv1.weight, plain_weights["conv1.weight"])
    # Depth 0, the reference's --use_mask_clip False: clip.*'s own weights, the checkpoint left unread.
    plain = training_clip(load_tiny_clip(clip_folder), 0, str(checkpoint), torch.device("cpu"))
    assert all(torch.equal(value, plain_weights[key]) for key, value in plain.clip_model.visual.state_dict().items())
    assert f"{checkpoint} is not loaded" in capsys.readouterr().out


# --- the component switches ritc.foreground_texts and ritc.background_texts -------------------------

SWITCH_IMAGES = ["a", "b"]


def switch_inputs(dimension: int = 32):
    """Three corpus pairs, the last without background answers, and every feature the corpus stage writes."""
    generator = torch.Generator().manual_seed(4)

    def unit(rows: int) -> torch.Tensor:
        return torch.nn.functional.normalize(torch.randn(rows, dimension, generator=generator), dim=-1)

    corpus = pd.DataFrame({"image_id": ["a", "a", "b"], "class_index": [0, 2, 1],
                           "background_rows": [[0, 3], [1], []]})
    features = {"text_features": unit(4), "label_features": unit(3), "pair_foreground": 0.7 * unit(3),
                "fixed_background_features": unit(5)}
    labels = np.array([[1, 0, 1], [0, 1, 0]])
    return corpus, features, labels


def switched_texts(foreground_texts: str, background_texts: str) -> PairTexts:
    corpus, features, labels = switch_inputs()
    return pair_texts(corpus, features, SWITCH_IMAGES, labels, foreground_texts, background_texts, shuffle_seed=0)


def background_of(texts: PairTexts) -> list[torch.Tensor]:
    """Each corpus row's valid background text features."""
    return [texts.text_features[texts.background_rows[row][texts.background_valid[row]]]
            for row in range(len(texts.background_rows))]


def test_answer_texts_are_the_pairs_foreground_mix_and_background_answers():
    _, features, _ = switch_inputs()
    texts = switched_texts("answers", "answers")
    assert texts.pair_of.tolist() == [[0, -1, 1], [-1, 2, -1]]
    assert torch.equal(texts.foreground, features["pair_foreground"])
    answers = features["text_features"]
    expected = [answers[[0, 3]], answers[[1]], answers[[]]]
    assert all(torch.equal(got, want) for got, want in zip(background_of(texts), expected, strict=True))


def test_label_foreground_texts_are_the_class_label_features_and_change_nothing_else():
    _, features, _ = switch_inputs()
    answers, label = switched_texts("answers", "answers"), switched_texts("label", "answers")
    # Corpus rows are classes 0, 2 and 1: each t_fg is its class's label feature, unit norm, unscaled.
    assert torch.equal(label.foreground, features["label_features"][[0, 2, 1]])
    torch.testing.assert_close(label.foreground.norm(dim=-1), torch.ones(3))
    assert not torch.allclose(label.foreground, answers.foreground)
    for field in ("pair_of", "background_rows", "background_valid", "text_features"):
        assert torch.equal(getattr(label, field), getattr(answers, field)), field


@pytest.mark.parametrize("foreground_texts", ["answers", "label"])
def test_fixed_background_texts_give_every_pair_the_fixed_words_and_change_nothing_else(foreground_texts):
    _, features, _ = switch_inputs()
    answers, fixed = switched_texts(foreground_texts, "answers"), switched_texts(foreground_texts, "fixed")
    words = features["fixed_background_features"]
    # Every pair, the one without background answers too, sees the same rows: all the fixed words.
    assert fixed.background_valid.all()
    assert all(torch.equal(background, words) for background in background_of(fixed))
    assert torch.equal(fixed.foreground, answers.foreground)
    assert torch.equal(fixed.pair_of, answers.pair_of)


@pytest.mark.parametrize("switches, message", [
    (("answer", "answers"), "ritc.foreground_texts is 'answer'"),
    (("answers", "shuffle"), "ritc.background_texts is 'shuffle'"),
    (("answers", "words"), "ritc.background_texts is 'words'"),
])
def test_an_unknown_text_switch_is_refused_by_name(switches, message):
    with pytest.raises(ValueError, match=message):
        switched_texts(*switches)


# Pairs of images a-d, the training split, and one of image e, which is not: each class has two training images,
# and each pair its own background answers (the last training pair none).
SHUFFLE_IMAGES = ["a", "b", "c", "d"]
SHUFFLE_PAIRS = pd.DataFrame({"image_id": ["a", "a", "b", "c", "c", "d", "e"], "class_index": [0, 1, 0, 1, 2, 2, 0],
                              "background_rows": [[0, 1], [2], [3, 4], [5], [6, 7], [], [8]]})


def shuffled_and_own_texts(foreground_texts: str, background_texts: str, seed: int = 0):
    generator = torch.Generator().manual_seed(5)
    features = {"text_features": torch.randn(9, 16, generator=generator), "label_features": torch.randn(3, 16),
                "pair_foreground": torch.randn(7, 16, generator=generator), "fixed_background_features": torch.ones(2, 16)}
    labels = np.zeros((4, 3), dtype=int)
    labels[[0, 0, 1, 2, 2, 3], [0, 1, 0, 1, 2, 2]] = 1
    texts = [pair_texts(SHUFFLE_PAIRS, features, SHUFFLE_IMAGES, labels, fg, bg, seed)
             for fg, bg in ((foreground_texts, background_texts), ("answers", "answers"))]
    return texts


def own_row_of(texts: list[torch.Tensor], own: list[torch.Tensor]) -> list[int]:
    """For each corpus row, the row whose own texts it sees (each row's texts are distinct)."""
    return [next(row for row, candidate in enumerate(own) if candidate.shape == seen.shape and torch.equal(candidate, seen))
            for seen in texts]


def test_shuffled_background_gives_each_training_pair_another_images_background_and_changes_nothing_else():
    shuffled, own = shuffled_and_own_texts("answers", "shuffled")
    source = own_row_of(background_of(shuffled), background_of(own))
    images = SHUFFLE_PAIRS["image_id"].tolist()
    training = range(6)
    assert all(images[source[row]] != images[row] for row in training)
    assert sorted(source[row] for row in training) == list(training)   # each pair's answers serve one pair
    assert source[6] == 6   # the pair outside the training split is left as it is
    for field in ("pair_of", "foreground", "text_features"):
        assert torch.equal(getattr(shuffled, field), getattr(own, field)), field


def test_shuffled_foreground_gives_each_training_pair_another_images_t_fg_of_its_class_and_changes_nothing_else():
    shuffled, own = shuffled_and_own_texts("shuffled", "answers")
    source = own_row_of(list(shuffled.foreground), list(own.foreground))
    images, classes = SHUFFLE_PAIRS["image_id"].tolist(), SHUFFLE_PAIRS["class_index"].tolist()
    training = range(6)
    assert all(images[source[row]] != images[row] and classes[source[row]] == classes[row] for row in training)
    assert sorted(source[row] for row in training) == list(training)
    assert source[6] == 6
    for field in ("pair_of", "background_rows", "background_valid", "text_features"):
        assert torch.equal(getattr(shuffled, field), getattr(own, field)), field


@pytest.mark.parametrize("switches", [("shuffled", "answers"), ("answers", "shuffled")])
def test_a_shuffled_switch_draws_the_same_derangement_for_the_same_shuffle_seed(switches):
    first, second = shuffled_and_own_texts(*switches)[0], shuffled_and_own_texts(*switches)[0]
    for field in ("foreground", "background_rows", "background_valid"):
        assert torch.equal(getattr(first, field), getattr(second, field)), field


def test_derangement_across_groups_never_keeps_an_item_in_its_group_and_varies_with_the_seed():
    groups = np.repeat(np.arange(12), [3, 1, 2, 3, 1, 1, 2, 3, 2, 1, 1, 2])
    sources = [derangement_across_groups(groups, seed) for seed in range(4)]
    for source in sources:
        assert sorted(source) == list(range(len(groups)))
        assert (groups[source] != groups).all()
    assert len({tuple(source) for source in sources}) > 1
    # Three items of one image and two of another leave no shift that moves all five off their image.
    assert derangement_across_groups(np.array([0, 0, 0, 1, 1]), 0) is None


@pytest.mark.parametrize("switches, message", [
    (("answers", "shuffled"), "ritc.background_texts shuffled"),
    (("shuffled", "answers"), "ritc.foreground_texts shuffled: class 0 has 1 training image"),
])
def test_a_shuffled_switch_without_enough_training_images_is_refused_by_name(switches, message):
    corpus, features, labels = switch_inputs()
    with pytest.raises(QaclimsError, match=message):
        pair_texts(corpus, features, SWITCH_IMAGES, labels, *switches, shuffle_seed=0)


def test_with_fixed_words_a_pair_without_background_answers_is_trained(tiny_clip):
    # Sample "b" holds the corpus row without background answers: skipped with answers, as in the reference.
    labels = torch.tensor([[0.0, 1, 0]])
    _, settings = objective_inputs(labels)
    images, samples, start = torch.randn(1, 3, 64, 64), torch.tensor([1]), torch.rand(1, 3, 4, 4)
    results = {}
    for background_texts in ("answers", "fixed"):
        cams = start.clone().requires_grad_()
        losses = ritc_losses(cams, images, labels, samples, tiny_clip, switched_texts("answers", background_texts),
                             settings)
        losses["total"].backward()
        results[background_texts] = losses, cams.grad
    skipped, trained = results["answers"][0], results["fixed"][0]
    assert skipped["foreground"].item() == 0 and skipped["background"].item() == 0
    assert trained["foreground"].item() > 0 and trained["background"].item() > 0
    assert trained["area"].item() == skipped["area"].item()
    area_only = torch.full((4, 4), 0.2 / 48)
    assert torch.allclose(results["answers"][1][0, 1], area_only)
    assert not torch.allclose(results["fixed"][1][0, 1], area_only)


def test_a_ritc_training_step_updates_bn1_statistics_but_not_its_parameters(tiny_clip):
    torch.manual_seed(3)
    network = QACLIMSNetwork("resnet10", 3).train()
    conv1, bn1 = network.stage1[0], network.stage1[1]
    frozen = {"conv1.weight": conv1.weight, "bn1.weight": bn1.weight, "bn1.bias": bn1.bias}
    before = {name: tensor.detach().clone() for name, tensor in frozen.items()}
    running_mean, last_bn_weight = bn1.running_mean.clone(), network.stage4[0].bn2.weight.detach().clone()
    labels = torch.tensor([[1.0, 0, 1], [0, 1, 0]])
    texts, settings = objective_inputs(labels)
    backbone, head = network.parameter_groups()
    optimizer, scheduler = poly_sgd(backbone, head, lr=0.1, head_lr_multiplier=10, weight_decay=1e-4,
                                    momentum=1e-4, max_steps=10)
    images = torch.randn(2, 3, 64, 64)
    losses = ritc_losses(network(images), images, labels, torch.arange(2), tiny_clip, texts, settings)
    optimizer.zero_grad(set_to_none=True)
    losses["total"].backward()
    optimizer.step()
    scheduler.step()
    assert not torch.allclose(bn1.running_mean, running_mean)
    assert all(torch.equal(frozen[name], before[name]) for name in frozen)
    assert not torch.equal(network.stage4[0].bn2.weight, last_bn_weight)  # the step did train


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    base = tmp_path_factory.mktemp("training")
    index, dataset = indexed_demo_dataset(base, CLASSES, seed=3, num_train=12, num_train_extra=0, num_val=1,
                                          min_size=64, max_size=80)
    return base, index, dataset


def train_cam_command(index, out, checkpoints, dataset, **recipe):
    """The train-cam command line, its curve written beside the weights ``out``: a table and a TensorBoard folder."""
    config = {"device": "cpu", "dataset": dataset,
              "cam": {"backbone": "resnet10", "backbone_weights": "none",
                      "baseline": {"epochs": 5, "batch_size": 2, "crop_size": 64, "resize_long": [64, 96],
                                   "checkpoint_every": 3, "log_every": 1, **recipe}}}
    return [sys.executable, "-m", "qaclims", "train-cam", "--config", json.dumps(config), "--index", str(index),
            "--out", str(out), "--checkpoint-dir", str(checkpoints), "--threads", "1",
            "--curve", str(out.with_suffix(".curve.csv")), "--tensorboard", str(out.with_suffix(".tensorboard"))]


def single_thread_env():
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def test_a_killed_training_resumes_to_the_same_weights(small_dataset):
    base, index, dataset = small_dataset
    uninterrupted = base / "uninterrupted.pt"
    result = subprocess.run(train_cam_command(index, uninterrupted, base / "ckpt-a", dataset),
                            capture_output=True, text=True, env=single_thread_env())
    assert result.returncode == 0, result.stderr
    assert "step 30/30" in result.stdout and not list((base / "ckpt-a").glob("*/last.pt"))
    given = json.loads(train_cam_command(index, uninterrupted, base / "ckpt-a", dataset)[5])
    stored = json.loads(torch.load(uninterrupted, weights_only=True)["config"])
    # Only the keys the stage read: not the dataset (the index stands for it), nor cam.baseline.gpus (the rule's).
    assert set(stored) == {"cam", "device"} and "gpus" not in stored["cam"]["baseline"]
    # With the values it used: those given, and the schema's defaults for the others (lr was not given).
    used = validate_config(given)
    assert stored == subset(used, [f"cam.baseline.{key}" for key in stored["cam"]["baseline"]]
                            + [f"cam.{key}" for key in stored["cam"] if key != "baseline"] + ["device"])
    assert "lr" in stored["cam"]["baseline"] and "lr" not in given["cam"]["baseline"]

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
    # The curve too, but for the speed: each step once, none of the killed run's steps after its checkpoint.
    whole, continued = (pd.read_csv(out.with_suffix(".curve.csv")) for out in (uninterrupted, resumed))
    assert continued["step"].tolist() == list(range(1, 31))
    pd.testing.assert_frame_equal(continued.drop(columns="images_per_second"),
                                  whole.drop(columns="images_per_second"))
    events = event_accumulator.EventAccumulator(str(resumed.with_suffix(".tensorboard")))
    events.Reload()
    assert [event.step for event in events.Scalars("loss/total")] == list(range(1, 31))


def test_a_diverging_loss_stops_with_the_step_and_keeps_the_checkpoint(small_dataset):
    base, index, dataset = small_dataset
    checkpoints = base / "ckpt-nan"
    result = subprocess.run(train_cam_command(index, base / "nan.pt", checkpoints, dataset, lr=1e30),
                            capture_output=True, text=True, env=single_thread_env())
    assert result.returncode == 2
    assert "the loss became" in result.stderr and "at step" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (base / "nan.pt").exists()


def test_a_batch_larger_than_the_training_set_is_refused_naming_its_config_key(small_dataset):
    base, index, dataset = small_dataset  # 12 training images
    result = subprocess.run(train_cam_command(index, base / "big.pt", base / "ckpt-big", dataset, batch_size=13),
                            capture_output=True, text=True, env=single_thread_env())
    assert result.returncode == 2
    assert "config key cam.baseline.batch_size is 13, more than the 12 training images" in result.stderr
    assert "Traceback" not in result.stderr


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
    assert pd.read_csv(base / "ddp.curve.csv")["step"].tolist() == list(range(1, 13))
    assert len(list((base / "ddp.tensorboard").iterdir())) == 1
    a = torch.load(base / "single.pt", weights_only=True)["state_dict"]
    b = torch.load(base / "ddp.pt", weights_only=True)["state_dict"]
    assert all(torch.allclose(a[key].float(), b[key].float(), atol=1e-4) for key in a)
    assert not torch.equal(a["classifier.weight"], torch.zeros_like(a["classifier.weight"]))


def test_ritc_refuses_a_batch_that_does_not_split_evenly_over_the_processes(small_dataset):
    # The contrastive losses are per-process means over images: unequal shares would weight images unequally.
    base, index, dataset = small_dataset
    config = {"device": "cpu", "dataset": dataset, "cam": {"backbone": "resnet10"},
              "ritc": {"batch_size": 3, "crop_size": 64, "resize_long": [64, 96]}}
    missing = str(base / "not-needed-before-the-check")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "qaclims",
               "train-ritc", "--config", json.dumps(config), "--index", str(index), "--out", str(base / "ritc.pt"),
               "--checkpoint-dir", str(base / "ckpt-ritc"), "--baseline", missing, "--corpus", missing,
               "--features", missing, "--clip-model", missing]
    result = subprocess.run(command, capture_output=True, text=True, env=single_thread_env())
    assert result.returncode != 0
    assert "ritc.batch_size 3 does not split evenly over 2 processes" in result.stderr


def test_backbone_weights_load_from_a_file_and_bad_names_are_explained(tmp_path):
    from torchvision.models.resnet import BasicBlock, ResNet

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
