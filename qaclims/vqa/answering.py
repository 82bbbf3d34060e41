"""BLIP visual question answering, with every image encoded once for all of its questions.

The reference asks one question per call and re-encodes the image every time. Here the
vision tower runs once per image, and the questions of several images are decoded
together. Only questions of the same token length share a decoder batch: BLIP's text
decoder in transformers (5.23) drops the cross-attention mask, so a padded question would
attend to its padding and get another answer. Without padding, each answer equals the
one-question-at-a-time answer.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from transformers import BlipForQuestionAnswering, BlipProcessor

from qaclims.device import autocast
from qaclims.errors import QaclimsError


@dataclass(frozen=True)
class GenerationSettings:
    image_size: int = 480
    num_beams: int = 3
    max_new_tokens: int = 10
    min_new_tokens: int = 1
    max_question_tokens: int = 35

    def generate_kwargs(self) -> dict:
        return {"num_beams": self.num_beams, "max_new_tokens": self.max_new_tokens,
                "min_new_tokens": self.min_new_tokens}


def load_blip(source: str, device: torch.device) -> tuple[BlipForQuestionAnswering, BlipProcessor]:
    """A BLIP VQA model and its processor from a hub id or a local directory."""
    try:
        processor = BlipProcessor.from_pretrained(source)
        model = BlipForQuestionAnswering.from_pretrained(source)
    except (OSError, ValueError) as error:  # a missing local folder reads as a bad hub id
        raise QaclimsError(
            f"cannot load the BLIP VQA model {source!r} ({error}); set vqa.model to a local "
            "directory written by save_pretrained, or to a hub id on a machine that can download it"
        ) from error
    return model.to(device).eval(), processor


class BlipAnswerer:
    def __init__(self, model: BlipForQuestionAnswering, processor: BlipProcessor,
                 settings: GenerationSettings, precision: str = "fp32"):
        self.model, self.processor, self.settings, self.precision = model, processor, settings, precision
        self.device = next(model.parameters()).device
        # BLIP checkpoints are trained at 384 px; the reference asks at 480 px, which needs
        # interpolated position embeddings.
        self.interpolate = settings.image_size != model.config.vision_config.image_size
        text_config = model.config.text_config
        self.decoder_ids = {"bos": text_config.bos_token_id, "eos": text_config.sep_token_id,
                            "pad": text_config.pad_token_id}

    def pixel_values(self, images: Sequence[Image.Image]) -> torch.Tensor:
        size = {"height": self.settings.image_size, "width": self.settings.image_size}
        values = self.processor.image_processor(list(images), size=size, return_tensors="pt").pixel_values
        return values.to(self.device)

    def tokenize(self, questions: Sequence[str]):
        return self.processor.tokenizer(
            list(questions), padding="longest", padding_side="right", truncation=True,
            max_length=self.settings.max_question_tokens, return_tensors="pt",
        ).to(self.device)

    @torch.inference_mode()
    def answer(self, images: Sequence[Image.Image], questions: Sequence[str],
               image_of_question: Sequence[int], batch_size: int) -> list[str]:
        """Answer ``questions[i]`` about ``images[image_of_question[i]]``, ``batch_size`` at a time."""
        if not questions:
            return []
        tokens = self.tokenize(questions)
        lengths = tokens.attention_mask.sum(dim=1).cpu().numpy()
        owners = torch.as_tensor(np.asarray(image_of_question), device=self.device)
        answers: list[str] = [""] * len(questions)
        with autocast(self.device, self.precision):
            image_embeds = self.model.vision_model(
                pixel_values=self.pixel_values(images), interpolate_pos_encoding=self.interpolate
            )[0]
            for length in np.unique(lengths):
                same_length = np.flatnonzero(lengths == length)
                for start in range(0, len(same_length), batch_size):
                    chunk = same_length[start:start + batch_size]
                    # Padding is on the right: the first `length` tokens are the whole question.
                    rows = torch.as_tensor(chunk, device=self.device)
                    decoded = self._decode(image_embeds[owners[rows]], tokens.input_ids[rows, :length],
                                           tokens.attention_mask[rows, :length])
                    for position, answer in zip(chunk, decoded):
                        answers[position] = answer
        return answers

    def _decode(self, image_embeds: torch.Tensor, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> list[str]:
        image_mask = torch.ones(image_embeds.shape[:2], dtype=torch.long, device=self.device)
        question_embeds = self.model.text_encoder(
            input_ids=input_ids, attention_mask=attention_mask,
            encoder_hidden_states=image_embeds, encoder_attention_mask=image_mask, return_dict=False,
        )[0]
        start = torch.full((len(input_ids), 1), self.decoder_ids["bos"], device=self.device)
        generated = self.model.text_decoder.generate(
            input_ids=start, eos_token_id=self.decoder_ids["eos"], pad_token_id=self.decoder_ids["pad"],
            encoder_hidden_states=question_embeds, encoder_attention_mask=attention_mask,
            **self.settings.generate_kwargs(),
        )
        return [text.strip() for text in self.processor.tokenizer.batch_decode(generated, skip_special_tokens=True)]

    @torch.inference_mode()
    def answer_one(self, image: Image.Image, question: str) -> str:
        """The reference way: one question per call, the image encoded again every time."""
        tokens = self.tokenize([question])
        with autocast(self.device, self.precision):
            generated = self.model.generate(
                input_ids=tokens.input_ids, attention_mask=tokens.attention_mask,
                pixel_values=self.pixel_values([image]), interpolate_pos_encoding=self.interpolate,
                **self.settings.generate_kwargs(),
            )
        return self.processor.tokenizer.decode(generated[0], skip_special_tokens=True).strip()
