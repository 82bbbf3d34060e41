"""Every answerer family on a tiny random model of its own classes, saved and read back through the real loaders:
the vqa stage answers every question, batched answers equal one-at-a-time answers, the documented prompt reaches
the model, and a folder of another model type is refused."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from qaclims.cli import main
from qaclims.config import validate_config
from qaclims.data.index import read_index
from qaclims.errors import QaclimsError
from qaclims.models.tiny_answerers import TINY_ANSWERERS, write_tiny_answerer
from qaclims.vqa.answerers import load_answerer
from qaclims.vqa.families import FAMILIES, family_of
from qaclims.vqa.generative import model_dtype
from qaclims.vqa.prompts import short_answer
from tests.helpers import indexed_demo_dataset

CLASSES = ["cat", "dog"]
INSTRUCTION = "Answer the question using a single word or phrase."
# What the language model reads for "what is it?", as decoded without the special tokens (image, padding, chat turns).
DOCUMENTED_PROMPTS = {
    "blip-2": "Question: what is it? Answer:",
    "instructblip": "Question: what is it? Answer:",
    "llava": f"USER: \nwhat is it? {INSTRUCTION} ASSISTANT:",
    "llava_next": f"USER: \nwhat is it? {INSTRUCTION} ASSISTANT:",
    "qwen2_vl": f"user\nwhat is it? {INSTRUCTION}\nassistant\n",
    "qwen2_5_vl": f"user\nwhat is it? {INSTRUCTION}\nassistant\n",
    "paligemma": "answer en what is it?\n",
}
OVERRIDDEN_PROMPTS = {"blip-2": "Q: what is it? A:", "llava": "USER: \nQ: what is it? A: ASSISTANT:"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("tiny_answerers")
    return {model_type: write_tiny_answerer(model_type, str(base / model_type)) for model_type in TINY_ANSWERERS}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    index, _ = indexed_demo_dataset(tmp_path_factory.mktemp("families_data"), CLASSES, seed=4, num_train=2,
                                    num_train_extra=0, num_val=1, min_size=40, max_size=56)
    return index


def answerer_of(folder: str, **vqa):
    section = validate_config({"vqa": vqa})["vqa"]
    return load_answerer(folder, section, torch.device("cpu"), "fp32")[0]


def make_images() -> list[Image.Image]:
    rng = np.random.default_rng(1)
    return [Image.fromarray(rng.integers(0, 256, (24 + 12 * k, 40, 3), dtype=np.uint8)) for k in range(3)]


QUESTIONS = ["what is it?", "what is in the background of the dog?", "where?",
             "which colour is the sky behind the person in the picture?", "is there a cat?", "what is it made of?"]
OWNERS = [0, 2, 0, 1, 2, 1]


def test_the_family_is_read_from_the_model_type_of_config_json(folders):
    assert {model_type: family_of(folder)[0] for model_type, folder in folders.items()} == {
        model_type: model_type for model_type in folders}


@pytest.mark.parametrize("model_type", TINY_ANSWERERS)
def test_the_vqa_stage_answers_every_question(folders, dataset, tmp_path, model_type, capsys):
    out = tmp_path / "answers.parquet"
    config = {"vqa": {"model": folders[model_type], "image_batch_size": 2, "batch_size": 7}, "device": "cpu"}
    assert main(["vqa", "--config", json.dumps(config), "--model", folders[model_type], "--index", str(dataset),
                 "--out", str(out)]) == 0
    answers = pd.read_parquet(out)
    index = read_index(str(dataset))
    train = index.frame[index.frame["image_id"].isin(answers["image_id"])]
    assert len(answers) == 16 * int(index.labels(train).sum()) and set(answers["image_id"]) == set(
        index.frame.loc[index.frame["split_train_aug"], "image_id"])
    assert answers["raw_answer"].str.len().gt(0).all()
    assert answers["answer"].tolist() == [short_answer(reply) for reply in answers["raw_answer"]]
    # The decoding used is logged: the family's greedy default.
    assert f"{FAMILIES[model_type].name} {folders[model_type]}" in capsys.readouterr().out


@pytest.mark.parametrize("model_type", TINY_ANSWERERS)
def test_batched_answers_equal_one_at_a_time_answers(folders, model_type):
    answerer = answerer_of(folders[model_type])
    images = make_images()
    expected = [answerer.answer_one(images[owner], question) for owner, question in zip(OWNERS, QUESTIONS)]
    assert len(set(expected)) > 1, "the tiny model's replies do not vary, so the comparison shows nothing"
    assert answerer.answer(images, QUESTIONS, OWNERS, batch_size=4) == expected


def test_blip2_encodes_each_image_once_for_all_of_its_questions(folders):
    answerer = answerer_of(folders["blip-2"])
    encoded = []
    answerer.model.vision_model.register_forward_hook(
        lambda module, args, output: encoded.append(len(output.last_hidden_state)))
    answerer.answer(make_images(), QUESTIONS, OWNERS, batch_size=2)
    assert encoded == [3]


def prompt_seen_by_the_language_model(answerer) -> str:
    first_call = []
    embeddings = answerer.model.get_input_embeddings()
    handle = embeddings.register_forward_pre_hook(lambda module, args: first_call.append(args[0]) if not first_call
                                                  else None)
    answerer.answer(make_images()[:1], ["what is it?"], [0], batch_size=1)
    handle.remove()
    return answerer.processor.tokenizer.decode(first_call[0][0], skip_special_tokens=True)


@pytest.mark.parametrize("model_type", TINY_ANSWERERS)
def test_the_documented_prompt_reaches_the_model(folders, model_type):
    assert prompt_seen_by_the_language_model(answerer_of(folders[model_type])) == DOCUMENTED_PROMPTS[model_type]


@pytest.mark.parametrize("model_type", OVERRIDDEN_PROMPTS)
def test_prompt_template_replaces_the_familys_prompt(folders, model_type):
    answerer = answerer_of(folders[model_type], prompt_template="Q: {question} A:")
    assert prompt_seen_by_the_language_model(answerer) == OVERRIDDEN_PROMPTS[model_type]


def test_num_beams_and_max_new_tokens_override_the_familys_decoding(folders, monkeypatch):
    answerer = answerer_of(folders["llava"], num_beams=2, max_new_tokens=3)
    generate, calls = answerer.model.generate, []

    def recording_generate(**kwargs):
        generated = generate(**kwargs)
        calls.append((kwargs["num_beams"], kwargs["max_new_tokens"], generated.shape[1] - kwargs["input_ids"].shape[1]))
        return generated

    monkeypatch.setattr(answerer.model, "generate", recording_generate)
    answerer.answer(make_images(), QUESTIONS, OWNERS, batch_size=6)
    assert calls == [(2, 3, 3)]


def test_a_folder_of_another_model_type_is_a_one_line_error_naming_the_supported_types(tmp_path, dataset, capsys):
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(QaclimsError) as error:
        family_of(str(folder))
    message = str(error.value)
    assert "\n" not in message and "'bert'" in message and all(model_type in message for model_type in FAMILIES)
    config = {"vqa": {"model": str(folder)}, "device": "cpu"}
    assert main(["vqa", "--config", json.dumps(config), "--model", str(folder), "--index", str(dataset),
                 "--out", str(tmp_path / "answers.parquet")]) == 2
    assert "supported model types: blip, blip-2" in capsys.readouterr().err


@pytest.mark.parametrize("reply, answer", [
    ("A dog.", "A dog"), ("grass\nThe dog sits on grass.", "grass"), ("  the sky. It is blue!", "the sky"),
    ("st.louis", "st.louis"), ("Is it? yes", "Is it"), ("", ""),
])
def test_a_reply_is_cut_to_its_first_line_and_first_sentence(reply, answer):
    assert short_answer(reply) == answer


def test_dtype_auto_is_bfloat16_on_cuda_and_float32_on_cpu():
    assert model_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert model_dtype("auto", torch.device("cpu")) == torch.float32
    assert model_dtype("float16", torch.device("cpu")) == torch.float16
