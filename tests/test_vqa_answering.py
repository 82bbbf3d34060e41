"""Batched BLIP answering equals the reference one-question-per-call answering (tiny demo BLIP), with
questions of different lengths in one decoder call; questions start with [ENC]; answers are at most
9 tokens long."""

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import BertTokenizer, BlipTextConfig

from qaclims.errors import QaclimsError
from qaclims.models.demo_blip import demo_vocabulary, write_demo_blip
from qaclims.vqa.answering import (
    BlipAnswerer,
    GenerationSettings,
    load_blip,
    question_start_id,
)
from qaclims.vqa.cross_attention_mask import mask_cross_attention
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


def one_at_a_time(answerer: BlipAnswerer):
    images = make_images()
    texts, owners = make_questions()
    return images, texts, owners, [answerer.answer_one(images[o], q) for q, o in zip(texts, owners)]


@pytest.fixture(scope="module")
def reference(interpolating):
    """The one-question-per-call answers, computed once for the module."""
    return one_at_a_time(interpolating)


@pytest.fixture(scope="module")
def interpolating_cls(blip):
    model, processor = blip
    return BlipAnswerer(model, processor, GenerationSettings(image_size=96, question_start_token="cls"))


@pytest.fixture(scope="module")
def reference_cls(interpolating_cls):
    return one_at_a_time(interpolating_cls)


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


@pytest.mark.parametrize("start", ["enc", "cls"])
@pytest.mark.parametrize("batch_size", [1, 5, 64])
def test_batched_answers_equal_one_at_a_time_answers(request, start, batch_size):
    suffix = "_cls" if start == "cls" else ""
    answerer = request.getfixturevalue(f"interpolating{suffix}")
    images, texts, owners, expected = request.getfixturevalue(f"reference{suffix}")
    answers = answerer.answer(images, texts, owners, batch_size=batch_size)
    assert len(answers) == len(expected)
    mismatches = [(k, texts[k], owners[k], got, want)
                  for k, (got, want) in enumerate(zip(answers, expected)) if got != want]
    assert not mismatches


def test_one_decoder_call_holds_questions_of_different_token_lengths(blip, interpolating, reference, monkeypatch):
    model, _ = blip
    images, texts, owners, _ = reference
    lengths_per_call = []
    generate = model.text_decoder.generate

    def recording_generate(*args, **kwargs):
        lengths_per_call.append(set(kwargs["encoder_attention_mask"].sum(dim=1).tolist()))
        return generate(*args, **kwargs)

    monkeypatch.setattr(model.text_decoder, "generate", recording_generate)
    interpolating.answer(images, texts, owners, batch_size=len(texts))
    # One call for all questions, so the equality with one-at-a-time answers covers padded questions.
    assert len(lengths_per_call) == 1 and len(lengths_per_call[0]) > 3


def test_padding_behind_the_question_changes_no_decoder_output(blip):
    model, _ = blip
    mask_cross_attention(model)
    rng = torch.Generator().manual_seed(0)
    hidden_size = model.config.text_config.hidden_size
    question = torch.randn(2, 5, hidden_size, generator=rng)
    padded = torch.cat([question, 100 * torch.randn(2, 3, hidden_size, generator=rng)], dim=1)
    mask = torch.tensor([[1] * 5 + [0] * 3] * 2)
    start = torch.tensor([[model.config.text_config.bos_token_id, 7]] * 2)
    with torch.no_grad():
        unpadded_logits = model.text_decoder(input_ids=start, encoder_hidden_states=question).logits
        padded_logits = model.text_decoder(input_ids=start, encoder_hidden_states=padded,
                                           encoder_attention_mask=mask).logits
    torch.testing.assert_close(padded_logits, unpadded_logits)


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


@pytest.mark.parametrize("start, token", [("enc", "[ENC]"), ("cls", "[CLS]")])
def test_every_question_reaches_the_text_encoder_starting_with_the_chosen_token(blip, start, token):
    model, processor = blip
    answerer = BlipAnswerer(model, processor, GenerationSettings(image_size=BLIP_SIZE, max_new_tokens=2,
                                                                  question_start_token=start))
    images = make_images()
    texts, owners = make_questions()
    seen = []
    hook = model.text_encoder.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["input_ids"].clone()), with_kwargs=True)
    try:
        answerer.answer(images, texts[:24], owners[:24], batch_size=8)
        answerer.answer_one(images[0], texts[0])
    finally:
        hook.remove()
    first_ids = torch.cat([ids[:, 0] for ids in seen])
    assert len(first_ids) == 24 + 1
    assert first_ids.tolist() == [processor.tokenizer.convert_tokens_to_ids(token)] * len(first_ids)
    # Only the first token is replaced: the rest is the tokenizer's.
    assert seen[-1][0, 1:].tolist() == processor.tokenizer(texts[0]).input_ids[1:]


def test_the_start_token_changes_answers(reference, reference_cls):
    # [ENC] and [CLS] have different embeddings, so the switch reaches the model.
    assert reference[3] != reference_cls[3]


def test_answers_are_at_most_nine_tokens_as_the_references_max_length_10(blip, reference, monkeypatch):
    model, processor = blip
    images, texts, owners, _ = reference
    lengths = {}
    generate = model.text_decoder.generate

    def counting_generate(*args, **kwargs):
        sequences = generate(*args, **kwargs)  # the [DEC] start token, then the answer
        lengths.setdefault(kwargs["max_new_tokens"], []).extend([sequences.shape[1] - 1] * len(sequences))
        return sequences

    monkeypatch.setattr(model.text_decoder, "generate", counting_generate)
    BlipAnswerer(model, processor, GenerationSettings(image_size=96, max_new_tokens=20)).answer(
        images, texts, owners, batch_size=64)
    answerer = BlipAnswerer(model, processor, GenerationSettings(image_size=96))
    answerer.answer(images, texts, owners, batch_size=64)
    answerer.answer_one(images[0], texts[0])
    # Left alone the tiny decoder goes on past 9 tokens, so the default bound is what stops it.
    assert max(lengths[20]) > 9
    assert max(lengths[9]) == 9 and len(lengths[9]) == len(texts) + 1


def test_a_tokenizer_without_enc_gets_dec_and_enc_added_as_blip_adds_them():
    # As the hub's Salesforce/blip-vqa-* tokenizers: bert-base-uncased's vocabulary alone.
    vocabulary = [token for token in demo_vocabulary() if token not in ("[DEC]", "[ENC]")]
    tokenizer = BertTokenizer(vocab={token: index for index, token in enumerate(vocabulary)})
    text_config = BlipTextConfig(vocab_size=len(vocabulary) + 2, bos_token_id=len(vocabulary))
    assert question_start_id(tokenizer, text_config, "enc", "hub-blip") == len(vocabulary) + 1
    assert tokenizer.convert_tokens_to_ids("[DEC]") == text_config.bos_token_id
    assert question_start_id(tokenizer, text_config, "cls", "hub-blip") == vocabulary.index("[CLS]")


def test_enc_that_would_miss_the_models_ids_fails_naming_the_model_and_the_switch():
    vocabulary = [token for token in demo_vocabulary() if token not in ("[DEC]", "[ENC]")]
    tokenizer = BertTokenizer(vocab={token: index for index, token in enumerate(vocabulary)})
    text_config = BlipTextConfig(vocab_size=len(vocabulary) + 10, bos_token_id=len(vocabulary) + 5)
    with pytest.raises(QaclimsError, match="no \\[ENC\\]") as caught:
        question_start_id(tokenizer, text_config, "enc", "some/blip")
    assert "some/blip" in str(caught.value) and "vqa.question_start_token: cls" in str(caught.value)


@pytest.mark.parametrize("max_new_tokens", [1, 3])
def test_max_new_tokens_bounds_the_answer_length(blip, reference, max_new_tokens):
    model, processor = blip
    images, texts, owners, long_answers = reference
    # With the default 9 new tokens some answers are longer than the bound tested here,
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


def test_a_model_folder_without_processor_files_asks_for_vqa_processor_and_says_what_it_holds(tmp_path):
    write_demo_blip(str(tmp_path / "blip-vqa"), image_size=BLIP_SIZE, seed=0)
    model_only = tmp_path / "model-only"
    model_only.mkdir()
    for name in ("config.json", "generation_config.json", "model.safetensors"):
        (model_only / name).write_bytes((tmp_path / "blip-vqa" / name).read_bytes())
    with pytest.raises(QaclimsError, match=f"BlipProcessor '{model_only}' .*; set vqa.processor to a local directory "
                                           r"written by BlipProcessor.save_pretrained \(processor_config.json"):
        load_blip(str(model_only), torch.device("cpu"))
    model, processor = load_blip(str(model_only), torch.device("cpu"), str(tmp_path / "blip-vqa"))
    assert processor.tokenizer.vocab_size > 0 and model.config.vision_config.image_size == BLIP_SIZE
