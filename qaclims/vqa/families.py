"""The answerer families: which one a vqa.model is, read from its config.json, and how each is asked.

``model_type_of`` reads the model's own config.json, a local folder's or the hub's through huggingface_hub's cache,
rather than transformers' AutoConfig, which cannot read a model type it does not know and so cannot name it.
"""

import json
import os
from dataclasses import dataclass

from huggingface_hub import hf_hub_download

from qaclims.errors import QaclimsError
from qaclims.vqa.sources import is_original_checkpoint

# LLaVA-1.5's instruction for VQAv2-style short answers (its evaluation prompt), also given to Qwen2-VL.
SHORT_ANSWER_INSTRUCTION = "Answer the question using a single word or phrase."


@dataclass(frozen=True)
class Family:
    """How the models of one ``model_type`` are asked.

    ``prompt`` is the text around the question (``{question}``); for a chat family it is the user's turn, which
    the processor's chat template wraps. ``num_beams`` and ``max_new_tokens`` are the decoding defaults that
    vqa.num_beams and vqa.max_new_tokens override.
    """

    name: str
    prompt: str
    chat: bool
    num_beams: int
    max_new_tokens: int
    # PaliGemma's processor wants the image token in the text it is given; the others place it themselves.
    image_token_in_prompt: bool = False
    # BLIP's decoder was trained on short VQA answers and is kept as it answers; the others reply in sentences.
    cut_to_short_answer: bool = True


BLIP = Family("BLIP VQA", "{question}", chat=False, num_beams=3, max_new_tokens=9, cut_to_short_answer=False)
_BLIP2_PROMPT = "Question: {question} Answer:"
_CHAT_PROMPT = f"{{question}} {SHORT_ANSWER_INSTRUCTION}"
FAMILIES: dict[str, Family] = {
    "blip": BLIP,
    "blip-2": Family("BLIP-2", _BLIP2_PROMPT, chat=False, num_beams=1, max_new_tokens=10),
    "instructblip": Family("InstructBLIP", _BLIP2_PROMPT, chat=False, num_beams=1, max_new_tokens=10),
    "llava": Family("LLaVA", _CHAT_PROMPT, chat=True, num_beams=1, max_new_tokens=10),
    "llava_next": Family("LLaVA-NeXT", _CHAT_PROMPT, chat=True, num_beams=1, max_new_tokens=10),
    "qwen2_vl": Family("Qwen2-VL", _CHAT_PROMPT, chat=True, num_beams=1, max_new_tokens=10),
    "qwen2_5_vl": Family("Qwen2.5-VL", _CHAT_PROMPT, chat=True, num_beams=1, max_new_tokens=10),
    # PaliGemma's own task prefix for question answering ("answer en"); the processor adds the image and the newline.
    "paligemma": Family("PaliGemma", "answer en {question}", chat=False, num_beams=1, max_new_tokens=10,
                        image_token_in_prompt=True),
}


def model_type_of(source: str) -> str:
    """The ``model_type`` of vqa.model ``source``: ``blip`` for an original BLIP checkpoint file."""
    if is_original_checkpoint(source):
        return "blip"
    try:
        if os.path.isdir(source):
            path = os.path.join(source, "config.json")
        else:
            path = hf_hub_download(source, "config.json")
        with open(path) as handle:
            return json.load(handle)["model_type"]
    except (OSError, ValueError, KeyError) as error:
        raise QaclimsError(f"cannot read the model_type of vqa.model {source!r} from its config.json ({error}); set "
                           "vqa.model to a folder written by save_pretrained, or to a hub id on a machine that can "
                           "download it") from error


def family_of(source: str) -> tuple[str, Family]:
    """The model type and family of vqa.model ``source``; another model type is a one-line error naming those known."""
    model_type = model_type_of(source)
    if model_type not in FAMILIES:
        raise QaclimsError(f"vqa.model {source!r} is a {model_type!r} model, which cannot answer questions here; "
                           f"supported model types: {', '.join(FAMILIES)}")
    return model_type, FAMILIES[model_type]
