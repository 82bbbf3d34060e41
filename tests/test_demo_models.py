"""The demo's stand-ins for the pretrained models: each file they write loads through the real loading code."""

import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from qaclims.config import validate_config
from qaclims.data.labels import IGNORE_INDEX
from qaclims.demo.knowledge import answer_scores
from qaclims.demo.pretrain_backbone import BackbonePretraining, pretrain_backbone
from qaclims.demo.pretrain_blip import BlipPretraining, pretrain_blip
from qaclims.demo.pretrain_clip import (
    MASK_PROMPT_DEPTH,
    ClipPretraining,
    caption_table,
    pretrain_clip,
)
from qaclims.demo.regions import (
    BACKGROUND,
    NOTHING,
    OBJECT_SALIENCE,
    PARTIAL_VIEW,
    VISIBLE_PEAK,
    noisy_regions,
    part_weights,
)
from qaclims.demo.world import BACKGROUNDS, KIND_WORDS
from qaclims.errors import ConfigError
from qaclims.models.backbone import imagenet_resnet, output_stride_16_resnet
from qaclims.models.mask_clip import (
    MASK_EMBEDDING_KEY,
    OVSEG_PREFIX,
    MaskPromptCLIP,
    load_ovseg_text_tower,
)
from qaclims.run_layout import DEMO_CLIP_NAME, demo_file_keys, with_demo_files
from qaclims.text.clip_text import load_clip
from qaclims.vqa.answering import BlipAnswerer, GenerationSettings, load_blip

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLASSES = ["aeroplane", "cat", "dining table"]
CLIP_SIZE = 32
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory):
    base = tmp_path_factory.mktemp("stand-in-clip")
    settings = ClipPretraining(image_size=CLIP_SIZE, prompt="a photo of {}.", images=12, steps=2, batch_size=4,
                               lr=1e-3, seed=0)
    pretrain_clip(str(base / "clip"), str(base / "ovseg.pth"), CLASSES, settings)
    return base / "clip", base / "ovseg.pth"


def load_stand_in_clip(clip_dir):
    return load_clip(DEMO_CLIP_NAME, str(clip_dir / f"{DEMO_CLIP_NAME}.pt"), str(clip_dir), CPU)[0]


def test_the_clip_checkpoint_loads_as_clip_names_it(clip_files):
    clip_dir, _ = clip_files
    assert sorted(os.listdir(clip_dir)) == [f"{DEMO_CLIP_NAME}.json", f"{DEMO_CLIP_NAME}.pt"]
    model = load_stand_in_clip(clip_dir)
    assert tuple(model.visual.image_size) == (CLIP_SIZE, CLIP_SIZE)
    saved = torch.load(clip_dir / f"{DEMO_CLIP_NAME}.pt", weights_only=True)
    assert saved.keys() == model.state_dict().keys()
    assert all(torch.equal(saved[key], value) for key, value in model.state_dict().items())


def test_every_ovseg_key_maps_onto_the_model_and_the_layout_round_trips(clip_files):
    clip_dir, ovseg = clip_files
    state = torch.load(ovseg, weights_only=True)["model"]
    model = load_stand_in_clip(clip_dir)
    expected = {OVSEG_PREFIX + key for key in model.state_dict()} | {OVSEG_PREFIX + MASK_EMBEDDING_KEY}
    assert set(state) == expected
    # Trained: the mask embeddings moved away from their zero start, and the two files hold the same CLIP.
    assert state[OVSEG_PREFIX + MASK_EMBEDDING_KEY].abs().sum() > 0
    assert all(torch.equal(state[OVSEG_PREFIX + key], value) for key, value in model.state_dict().items())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clip = MaskPromptCLIP(model, MASK_PROMPT_DEPTH)
    clip.load_ovseg_checkpoint(str(ovseg))
    assert torch.equal(clip.mask_embedding, state[OVSEG_PREFIX + MASK_EMBEDDING_KEY])
    assert load_ovseg_text_tower(model, str(ovseg)) == 0.0  # the label text tower is clip.*'s own


@pytest.fixture(scope="module")
def blip_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("stand-in-blip") / "blip"
    settings = BlipPretraining(image_size=32, hidden_size=16, images=6, steps=2, batch_size=4, lr=1e-3,
                               foreground_share=0.5, seed=0)
    pretrain_blip(str(directory), CLASSES, settings)
    return directory


def test_the_blip_folder_loads_through_the_vqa_loader_and_answers(blip_dir):
    model, processor = load_blip(str(blip_dir), CPU)
    vocabulary = processor.tokenizer.get_vocab()
    # Every answer it was taught is one word of its vocabulary.
    assert all(word in vocabulary for word in (*KIND_WORDS, *BACKGROUNDS))
    answerer = BlipAnswerer(model, processor, GenerationSettings(image_size=32, max_new_tokens=3))
    image = Image.fromarray(np.full((40, 48, 3), 120, dtype=np.uint8))
    answers = answerer.answer([image], ["what is under the cat?", "What kind of cat is in the photo?"], [0, 0], 4)
    assert len(answers) == 2 and all(isinstance(answer, str) for answer in answers)


def test_the_backbone_loads_strictly_as_imagenet_weights(tmp_path):
    path = tmp_path / "backbone.pth"
    settings = BackbonePretraining(architecture="resnet10", image_size=32, images=8, steps=2, batch_size=4, lr=0.01,
                                   seed=0)
    scores = pretrain_backbone(str(path), CLASSES, settings)
    assert scores["items"] == 400 and 0 <= scores["accuracy"] <= 1
    assert "17 VOC classes outside the demo's" in scores["measure"]
    json.dumps(scores)  # the stage writes it as it is
    state = torch.load(path, weights_only=True)
    network = imagenet_resnet("resnet10", str(path))  # strict: every key of the state dict maps
    assert all(torch.equal(state[key], value) for key, value in network.state_dict().items())
    assert network.fc.out_features == 1000
    output_stride_16_resnet("resnet10", str(path))  # as the CAM networks and IRNet load it


def test_the_answer_scores_count_what_names_the_truth():
    world = pd.DataFrame({"image_id": ["a", "a", "b"], "class": ["cat", "aeroplane", "cat"],
                          "kind": ["striped", "plain", "spotted"], "background": ["grass", "grass", "sky"],
                          "habitat": [True, True, False]})
    answers = pd.DataFrame({
        "image_id": ["a", "a", "a", "a", "b", "b"],
        "class": ["cat", "cat", "aeroplane", "aeroplane", "cat", "cat"],
        "kind": ["fg", "bg", "fg", "bg", "fg", "bg"],
        "answer": ["striped", "green grass", "aeroplane", "grassy", "striped", "sky"],
    })
    scores = {row["measure"]: (row["accuracy"], row["items"]) for row in answer_scores(answers, world)}
    # "grassy" is not the word grass; naming the class counts for foreground answers, not as the kind.
    assert scores["VQA: background answers name the background"] == (pytest.approx(2 / 3), 3)
    assert scores["VQA: foreground answers name the kind or the class"] == (pytest.approx(2 / 3), 3)
    assert scores["VQA: foreground answers name the kind"] == (pytest.approx(1 / 3), 3)


def test_demo_file_keys_become_the_stand_ins_paths_and_nothing_else_changes():
    config = validate_config({"output_dir": "out", "clip": {"model": "demo"}, "ritc": {"ovseg_checkpoint": "demo"},
                              "cam": {"backbone_weights": "demo"}})
    resolved = with_demo_files(config)
    assert demo_file_keys(config) == ["cam.backbone_weights", "ritc.ovseg_checkpoint"]
    assert resolved["cam"]["backbone_weights"] == "out/models/demo/backbone.pth"
    assert resolved["ritc"]["ovseg_checkpoint"] == "out/models/demo/ovseg-mask-prompt.pth"
    assert resolved["seg"]["backbone_weights"] == "ResNet101_Weights.IMAGENET1K_V1"
    assert config["cam"]["backbone_weights"] == "demo"  # the given config is left as it was
    with pytest.raises(ConfigError, match="ritc.ovseg_checkpoint: `demo` is the stand-in CLIP's"):
        demo_file_keys(validate_config({"ritc": {"ovseg_checkpoint": "demo"}}))


def shown(region: torch.Tensor, label: torch.Tensor) -> dict:
    """part_weights of one region of a label map of one class, as {BACKGROUND, 1, NOTHING: weight}."""
    weights = part_weights(region[None], label[None], num_classes=1)[0].tolist()
    return {part: weight for part, weight in zip((BACKGROUND, 1, NOTHING), weights, strict=True) if weight > 0}


def test_a_region_names_an_object_by_how_much_of_it_shows_and_the_background_by_its_share():
    label = torch.zeros(20, 20, dtype=torch.long)
    label[5:9, 5:10] = 1  # an object of 20 pixels in 400
    rest = 1 - (label == 1).float()
    half_left = rest.clone()
    half_left[5:9, 5:7] = 1.0  # the background region keeps 8 of the object's 20 pixels
    weights = shown(half_left * 0.6, label)  # a region dimmed above VISIBLE_PEAK reads as the same region
    # The object's pixel share would be 8 / 388; seen as 8 / 20 of it, it weighs 0.4 (times its salience)
    # against 380 / 388, and the 0.6 of it that is missing reads as NOTHING.
    partial = PARTIAL_VIEW * OBJECT_SALIENCE * 0.4 * 0.6
    assert weights[1] == pytest.approx(OBJECT_SALIENCE * 0.4 / (OBJECT_SALIENCE * 0.4 + 380 / 388 + partial))
    assert weights[NOTHING] == pytest.approx(partial / (OBJECT_SALIENCE * 0.4 + 380 / 388 + partial))
    assert shown(rest, label) == {BACKGROUND: 1.0}
    grown = (label == 1).float()
    grown[4, 5:10] = 1.0  # a whole object and 5 background pixels
    grown_weights = shown(grown, label)
    assert grown_weights[BACKGROUND] == pytest.approx((5 / 25) / (5 / 25 + OBJECT_SALIENCE))


def test_a_whole_image_names_its_object_before_its_scenery():
    label = torch.zeros(20, 20, dtype=torch.long)
    label[5:9, 5:10] = 1  # an object of 20 pixels in 400: the background is 95% of the image
    weights = shown(torch.ones(20, 20), label)
    assert weights[1] > weights[BACKGROUND]


def test_an_object_region_names_its_class_more_the_more_of_the_object_it_shows():
    label = torch.zeros(20, 20, dtype=torch.long)
    label[5:9, 5:15] = 1  # an object of 40 pixels
    obj = (label == 1).float()
    names = []
    for columns in (3, 6, 10):  # its left 30%, 60% and all of it, and nothing else
        region = obj.clone()
        region[:, 5 + columns:] = 0
        names.append(shown(region, label)[1])
    assert names[0] < names[1] < names[2] == 1.0
    assert names[0] < 0.6


def test_a_faint_region_reads_partly_as_nothing_and_a_blank_one_wholly():
    label = torch.zeros(20, 20, dtype=torch.long)
    label[5:9, 5:10] = 1
    obj = (label == 1).float()
    assert shown(obj, label) == {1: 1.0}
    half_visible = shown(obj * VISIBLE_PEAK / 2, label)
    assert half_visible == {1: pytest.approx(0.5), NOTHING: pytest.approx(0.5)}
    assert shown(torch.zeros(20, 20), label) == {NOTHING: 1.0}


def test_part_weights_of_a_batch_are_each_regions_own_and_ignore_the_boundary_band():
    labels = torch.zeros(3, 20, 20, dtype=torch.long)
    labels[:, 5:9, 5:10] = 1
    labels[1, 12:16, 2:6] = 2
    labels[:, 4, :] = IGNORE_INDEX  # counts for no part
    regions = torch.stack([(labels[0] == 1).float(), (labels[1] != 1).float(), torch.zeros(20, 20)])
    weights = part_weights(regions, labels, num_classes=2)
    assert weights.shape == (3, 4)
    torch.testing.assert_close(weights.sum(1), torch.ones(3))
    assert weights[0].tolist() == [0.0, 1.0, 0.0, 0.0] and weights[2].tolist() == [0.0, 0.0, 0.0, 1.0]
    # Everything but the first object: all of the second object and the background; the boundary row adds nothing.
    background_share = (400 - 20 - 16 - 20) / (400 - 20 - 20)
    expected = torch.tensor([background_share, 0.0, OBJECT_SALIENCE, 0.0])
    torch.testing.assert_close(weights[1], expected / expected.sum())


def test_noisy_regions_keep_to_their_image_and_class_and_show_at_most_their_peak():
    labels = torch.zeros(64, 24, 24, dtype=torch.long)
    labels[:32, 4:12, 4:12] = 1
    labels[32:, 12:20, 10:22] = 2
    values = torch.tensor([1] * 32 + [2] * 32)
    foreground = np.arange(64) % 2 == 0
    regions = noisy_regions(labels, values, foreground, np.random.default_rng(3))
    assert regions.shape == (64, 24, 24) and regions.min() >= 0 and regions.max() <= 1
    objects = (labels == values[:, None, None]).float()
    # A foreground region covers its object, or a part of it, and less around it (grown or blurred into it); a
    # background region covers nearly all around its object, and of the object anything from nothing to all of it:
    # at times it is the whole image.
    peaks = regions.flatten(1).amax(1)[:, None, None]
    inside, outside = ((regions / peaks * mask).sum((1, 2)) / mask.sum((1, 2)) for mask in (objects, 1 - objects))
    assert (inside[foreground] > 0).all() and (outside[foreground] < inside[foreground]).all()
    assert inside[foreground].min() < 0.7 and inside[foreground].max() > 0.95
    assert (outside[~foreground] > 0.9).all() and inside[~foreground].min() < 0.1
    assert (inside[~foreground] > 0.95).any()
    # The same generator state gives the same regions.
    assert torch.equal(regions, noisy_regions(labels, values, foreground, np.random.default_rng(3)))


def test_nothing_is_a_text_of_its_own_that_no_stand_in_answer_names():
    texts, rows = caption_table(CLASSES)
    ((row, weight),) = rows[NOTHING]
    assert texts[row] == NOTHING and weight == 1.0
    # The BLIP answers kinds and backgrounds: the corpus never holds the text that blank regions are taught.
    assert NOTHING not in (*KIND_WORDS, *BACKGROUNDS, *CLASSES)
    assert all(row not in [r for r, _ in entries] for key, entries in rows.items() if key != NOTHING)
