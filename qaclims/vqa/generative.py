"""Answers from the generative vision-language models: BLIP-2, InstructBLIP, LLaVA, Qwen2-VL, PaliGemma.

Every family loads through transformers' AutoProcessor and AutoModelForImageTextToText, is asked with its prompt
(qaclims/vqa/families.py, qaclims/vqa/prompts.py) and decodes with ``generate``. The questions of several images,
of any lengths, are decoded together: they are sorted by length so that a call pads little, padded on the left
as a decoder-only model needs, and put back in order. BLIP-2 encodes each image once, vision tower and
Q-Former, for all of its questions (``Blip2Answerer``); the other families encode the image with each question:
InstructBLIP's Q-Former reads the question, and Qwen2-VL's positions are computed from the image tokens of the
prompt inside ``generate``.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from qaclims.errors import QaclimsError
from qaclims.vqa.families import Family
from qaclims.vqa.prompts import chat_messages, prompt_texts

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Decoding:
    num_beams: int
    max_new_tokens: int
    prompt_template: str | None = None

    def generate_kwargs(self) -> dict:
        return {"num_beams": self.num_beams, "max_new_tokens": self.max_new_tokens, "do_sample": False}


def model_dtype(setting: str, device: torch.device) -> torch.dtype:
    """vqa.dtype: ``auto`` is bfloat16 on CUDA and float32 elsewhere."""
    if setting == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return DTYPES[setting]


def load_vlm(source: str, device: torch.device, dtype: torch.dtype, device_map: str | None):
    """The model and processor of ``source`` (a hub id or a save_pretrained folder), placed on ``device``, or
    spread over the GPUs by ``device_map`` (vqa.device_map) when given."""
    try:
        processor = AutoProcessor.from_pretrained(source)
        model = AutoModelForImageTextToText.from_pretrained(source, dtype=dtype, device_map=device_map)
    except (OSError, ValueError) as error:
        raise QaclimsError(f"cannot load the vision-language model {source!r} ({error}); set vqa.model to a folder "
                           "written by save_pretrained, or to a hub id on a machine that can download it") from error
    if device_map is None:
        model = model.to(device)
    return model.eval(), processor


class VlmAnswerer:
    """Answers about images with a generative model, each question with its image in the prompt."""

    def __init__(self, model, processor, family: Family, decoding: Decoding):
        self.model, self.processor, self.family, self.decoding = model, processor, family, decoding
        self.device, self.dtype = model.device, model.dtype
        # The language models read the prompt from its end, so padding goes in front of it; InstructBLIP's Q-Former
        # is a BERT with absolute positions and reads the question from its start, so its padding goes behind.
        processor.tokenizer.padding_side = "left"
        if hasattr(processor, "qformer_tokenizer"):
            processor.qformer_tokenizer.padding_side = "right"

    def prompts(self, questions: Sequence[str]) -> list[str]:
        """The full text of each question's prompt, the chat template applied for a chat family."""
        texts = prompt_texts(self.family, questions, self.decoding.prompt_template)
        if self.family.chat:
            return [self.processor.apply_chat_template(chat_messages(text), add_generation_prompt=True, tokenize=False)
                    for text in texts]
        if self.family.image_token_in_prompt:
            return [self.processor.image_token + text for text in texts]
        return texts

    @torch.inference_mode()
    def answer(self, images: Sequence[Image.Image], questions: Sequence[str],
               image_of_question: Sequence[int], batch_size: int) -> list[str]:
        """The reply to ``questions[i]`` about ``images[image_of_question[i]]``, ``batch_size`` at a time."""
        prompts = np.array(self.prompts(questions), dtype=object)
        owners = np.asarray(image_of_question)
        encoded = self.encode_images(images)
        order = np.argsort([len(prompt) for prompt in prompts], kind="stable")
        replies = np.empty(len(prompts), dtype=object)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            replies[rows] = self.generate(images, encoded, owners[rows], list(prompts[rows]))
        return list(replies)

    def encode_images(self, images: Sequence[Image.Image]):
        """What ``generate`` reuses for every question of an image: nothing for a family that encodes it anew."""
        return None

    def generate(self, images: Sequence[Image.Image], encoded, owners: np.ndarray, prompts: list[str]) -> list[str]:
        inputs = self.processor(images=[images[owner] for owner in owners], text=prompts, padding="longest",
                                return_tensors="pt").to(self.device, dtype=self.dtype)
        return self.decode_new_tokens(self.model.generate(**inputs, **self.decoding.generate_kwargs()),
                                      inputs["input_ids"].shape[1])

    def decode_new_tokens(self, generated: torch.Tensor, prompt_width: int) -> list[str]:
        return self.processor.batch_decode(generated[:, prompt_width:], skip_special_tokens=True)

    @torch.inference_mode()
    def answer_one(self, image: Image.Image, question: str) -> str:
        """One question per call through transformers' own ``generate``, the image encoded with it."""
        inputs = self.processor(images=[image], text=self.prompts([question]),
                                return_tensors="pt").to(self.device, dtype=self.dtype)
        return self.decode_new_tokens(self.model.generate(**inputs, **self.decoding.generate_kwargs()),
                                      inputs["input_ids"].shape[1])[0]


class Blip2Answerer(VlmAnswerer):
    """BLIP-2: the vision tower and the Q-Former run once per image; each question's prompt follows the image's
    query outputs in the language model's input, as Blip2ForConditionalGeneration.generate places them."""

    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        pixel_values = self.processor.image_processor(list(images), return_tensors="pt").pixel_values
        return self.model.get_image_features(pixel_values.to(self.device, self.dtype)).pooler_output

    def generate(self, images: Sequence[Image.Image], encoded: torch.Tensor, owners: np.ndarray,
                 prompts: list[str]) -> list[str]:
        tokens = self.processor.tokenizer(prompts, padding="longest", return_tensors="pt").to(self.device)
        query_count = encoded.shape[1]
        image_tokens = torch.full((len(prompts), query_count), self.model.config.image_token_id, device=self.device)
        input_ids = torch.cat([image_tokens, tokens.input_ids], dim=1)
        attention_mask = torch.cat([torch.ones_like(image_tokens), tokens.attention_mask], dim=1)
        embeds = self.model.get_input_embeddings()(input_ids)
        embeds[:, :query_count] = encoded[torch.as_tensor(owners, device=self.device)].to(embeds.dtype)
        generated = self.model.language_model.generate(input_ids=input_ids, inputs_embeds=embeds,
                                                       attention_mask=attention_mask,
                                                       **self.decoding.generate_kwargs())
        return self.decode_new_tokens(generated, input_ids.shape[1])
