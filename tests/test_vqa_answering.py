"""Batched BLIP answering equals the reference one-question-per-call answering (tiny demo BLIP)."""

import numpy as np
import pytest
import torch
from PIL import Image

from qaclims.errors import QaclimsError
from qaclims.models.demo import write_demo_blip
from qaclims.vqa.answering import BlipAnswerer, GenerationSettings, load_blip
from qaclims.vqa.questions import questions_for_classes

BLIP_SIZE = 64
# Each image with the classes asked about it; "cat" is asked about every image, so the same
# question text meets three different images.
IMAGE_CLASSES = [["cat", "dining table"], ["cat", "tv monitor"], ["cat", "potted plant", "dog"]]
IMAGE_SIZES = [(64, 80), (100, 70), (90, 90)]  # (height, width)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def blip(tmp_path_factory):
    directory = tmp_path_factory.mktemp("blip") / "blip-vqa"
    write_demo_blip(str(directory), image_size=BLIP_SIZE, seed=0)
    return load_blip(str(directory), torch.device("cpu"))


def make_images() -> list[Image.Image]:
    images = []
    for seed, (height, width) in enumerate(IMAGE_SIZES):
        rng = np.random.default_rng(seed)
        # Smooth colour gradients plus noise: three clearly different pictures.
        yy, xx = np.mgrid[0:height, 0:width]
        base = np.stack([xx * 255 / width, yy * 255 / height, np.full((height, width), 80.0 * seed)], axis=-1)
        pixels = np.clip(base + rng.normal(0, 40, size=base.shape), 0, 255).astype(np.uint8)
        images.append(Image.fromarray(pixels))
    return images


def make_questions() -> tuple[list[str], list[int]]:
    texts, owners = [], []
    for owner, classes in enumerate(IMAGE_CLASSES):
        for question in questions_for_classes(classes):
            texts.append(question.text)
            owners.append(owner)
    return texts, owners


@pytest.fixture(scope="module")
def interpolating(blip):
    model, processor = blip
    return BlipAnswerer(model, processor, GenerationSettings(image_size=96))


@pytest.fixture(scope="module")
def reference(interpolating):
    """The one-question-per-call answers, computed once for the module."""
    images = make_images()
    texts, owners = make_questions()
    return images, texts, owners, [interpolating.answer_one(images[o], q) for q, o in zip(texts, owners)]


def test_settings_select_the_interpolation_path(blip, interpolating):
    model, processor = blip
    assert model.config.vision_config.image_size == BLIP_SIZE
    assert interpolating.interpolate is True
    assert BlipAnswerer(model, processor, GenerationSettings(image_size=BLIP_SIZE)).interpolate is False
    values = interpolating.pixel_values(make_images())
    assert tuple(values.shape) == (3, 3, 96, 96)


def test_reference_answers_vary_so_the_comparison_means_something(reference):
    _, texts, owners, answers = reference
    assert len(texts) == 16 * sum(len(c) for c in IMAGE_CLASSES) == len(answers)
    assert all(isinstance(a, str) and a for a in answers)
    assert len(set(answers)) > 5
    # The answers depend on the image: some question asked about several images gets
    # different answers, so mixing up the image of a question would be noticed.
    by_text: dict[str, set[str]] = {}
    for text, answer in zip(texts, answers):
        by_text.setdefault(text, set()).add(answer)
    assert any(len(found) > 1 for found in by_text.values())


@pytest.mark.parametrize("batch_size", [1, 5, 64])
def test_batched_answers_equal_one_at_a_time_answers(interpolating, reference, batch_size):
    images, texts, owners, expected = reference
    answers = interpolating.answer(images, texts, owners, batch_size=batch_size)
    assert len(answers) == len(expected)
    mismatches = [(k, texts[k], owners[k], got, want)
                  for k, (got, want) in enumerate(zip(answers, expected)) if got != want]
    assert not mismatches


def test_answer_order_follows_the_input_order(interpolating, reference):
    images, texts, owners, expected = reference
    order = np.random.default_rng(7).permutation(len(texts))
    answers = interpolating.answer(images, [texts[k] for k in order], [owners[k] for k in order], batch_size=7)
    assert answers == [expected[k] for k in order]


def test_native_size_batched_equals_one_at_a_time(blip):
    model, processor = blip
    answerer = BlipAnswerer(model, processor, GenerationSettings(image_size=BLIP_SIZE, max_new_tokens=4))
    images = make_images()[:2]
    texts, owners = [], []
    for owner, classes in enumerate([["bird"], ["bird"]]):
        for question in questions_for_classes(classes):
            texts.append(question.text)
            owners.append(owner)
    expected = [answerer.answer_one(images[o], q) for q, o in zip(texts, owners)]
    assert answerer.answer(images, texts, owners, batch_size=16) == expected


@pytest.mark.parametrize("max_new_tokens", [1, 3])
def test_max_new_tokens_bounds_the_answer_length(blip, reference, max_new_tokens):
    model, processor = blip
    images, texts, owners, long_answers = reference
    # With the default 10 new tokens some answers are longer than the bound tested here,
    # so the bound is what shortens them.
    assert max(len(a.split()) for a in long_answers) > max_new_tokens
    answerer = BlipAnswerer(model, processor, GenerationSettings(image_size=96, max_new_tokens=max_new_tokens))
    answers = answerer.answer(images, texts, owners, batch_size=64)
    # Every token of the demo vocabulary is a whole word (or a suffix like "##s").
    assert all(1 <= len(a.split()) <= max_new_tokens for a in answers)
    assert answers[:4] == [answerer.answer_one(images[o], q) for q, o in zip(texts[:4], owners[:4])]


def test_load_blip_on_a_missing_directory_names_the_source(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(QaclimsError) as caught:
        load_blip(str(missing), torch.device("cpu"))
    assert str(missing) in str(caught.value)


def test_load_blip_on_an_empty_directory_names_the_source(tmp_path):
    with pytest.raises(QaclimsError) as caught:
        load_blip(str(tmp_path), torch.device("cpu"))
    assert str(tmp_path) in str(caught.value)
