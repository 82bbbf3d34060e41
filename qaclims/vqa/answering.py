"""BLIP visual question answering, with every image encoded once for all of its questions.

The reference asks one question per call and re-encodes the image every time. Here the
vision tower runs once per image, the question encoder projects each image's tokens to its
cross-attention keys and values once (qaclims/vqa/image_key_values.py), and the questions of
several images, of any lengths, are decoded together. The answer decoder's cross-attention is
handed the questions' padding mask, which transformers drops (qaclims/vqa/cross_attention_mask.py),
so each answer equals the one-question-at-a-time answer.

Every question starts with [ENC] where the tokenizer puts [CLS], as BLIP was trained and as the reference
asks (salesforce/BLIP models/blip_vqa.py); transformers' BlipForQuestionAnswering passes [CLS] through.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from transformers import BlipForQuestionAnswering, BlipProcessor

from qaclims.errors import QaclimsError
from qaclims.runtime.device import autocast
from qaclims.vqa.blip_checkpoint import load_original_checkpoint
from qaclims.vqa.cross_attention_mask import mask_cross_attention
from qaclims.vqa.image_key_values import ImageTokenCache, project_image_tokens_once
from qaclims.vqa.sources import is_original_checkpoint

# BLIP's tokenizer is bert-base-uncased with [DEC] and then [ENC] added (models/blip.py, init_tokenizer).
BLIP_ADDED_TOKENS = ("[DEC]", "[ENC]")
# The processor read with an original BLIP checkpoint file when vqa.processor is not set: its tokenizer is
# bert-base-uncased, as BLIP's, and its image preprocessing is BLIP's (bicubic resize, CLIP's mean and std).
ORIGINAL_CHECKPOINT_PROCESSOR = "Salesforce/blip-vqa-capfilt-large"


@dataclass(frozen=True)
class GenerationSettings:
    image_size: int = 480
    num_beams: int = 3
    # The reference's max_length=10 counts the [DEC] start token, and its min_length=1 is met by that token.
    max_new_tokens: int = 9
    min_new_tokens: int = 0
    max_question_tokens: int = 35
    question_start_token: str = "enc"

    def generate_kwargs(self) -> dict:
        return {"num_beams": self.num_beams, "max_new_tokens": self.max_new_tokens,
                "min_new_tokens": self.min_new_tokens}


def load_blip(source: str, device: torch.device,
              processor_source: str | None = None) -> tuple[BlipForQuestionAnswering, BlipProcessor]:
    """A BLIP VQA model from a hub id, a local directory or an original BLIP checkpoint file, and its processor.

    The processor is ``processor_source`` if given, else the model's own; an original checkpoint file has
    none, so it gets ORIGINAL_CHECKPOINT_PROCESSOR's.
    """
    if is_original_checkpoint(source):
        processor = _from_pretrained(BlipProcessor, processor_source or ORIGINAL_CHECKPOINT_PROCESSOR, "vqa.processor")
        model = load_original_checkpoint(source)
    else:
        # Without vqa.processor the model's folder must hold the processor too, which the user may not have saved.
        processor = _from_pretrained(BlipProcessor, processor_source or source, "vqa.processor")
        model = _from_pretrained(BlipForQuestionAnswering, source, "vqa.model")
    return model.to(device).eval(), processor


# What the remedy of a failed load writes, by the kind of object loaded.
SAVED_BY = {
    "BlipProcessor": "BlipProcessor.save_pretrained (processor_config.json or preprocessor_config.json, and the "
                     "tokenizer's tokenizer_config.json with tokenizer.json or vocab.txt)",
    "BlipForQuestionAnswering": "BlipForQuestionAnswering.save_pretrained (config.json and the weights)",
}


def _from_pretrained(kind, source: str, key: str):
    try:
        return kind.from_pretrained(source)
    except (OSError, ValueError) as error:  # a missing local folder reads as a bad hub id
        raise QaclimsError(
            f"cannot load the BLIP VQA {kind.__name__} {source!r} ({error}); set {key} to a local "
            f"directory written by {SAVED_BY[kind.__name__]}, or to a hub id on a machine that can download it"
        ) from error


def question_start_id(tokenizer, text_config, start: str, model_name: str) -> int:
    """The token id every question starts with: [CLS] as the tokenizer gives it, or BLIP's [ENC].

    The hub's BLIP processors declare neither [DEC] nor [ENC] (special_tokens_map.json); they are then added
    the way BLIP adds them, and must land on the ids the model knows: [DEC] on the decoder's start id.
    """
    if start == "cls":
        return tokenizer.cls_token_id
    vocabulary = tokenizer.get_vocab()
    if BLIP_ADDED_TOKENS[1] not in vocabulary:
        tokenizer.add_tokens([token for token in BLIP_ADDED_TOKENS if token not in vocabulary], special_tokens=True)
        ids = tuple(tokenizer.convert_tokens_to_ids(list(BLIP_ADDED_TOKENS)))
        if ids != (text_config.bos_token_id, text_config.bos_token_id + 1):
            raise QaclimsError(
                f"the tokenizer of the BLIP model {model_name} has no [ENC], and adding [DEC] and [ENC] as BLIP "
                f"does gives ids {ids}, not ({text_config.bos_token_id}, {text_config.bos_token_id + 1}) after "
                "the decoder's start id; set vqa.processor to BLIP's processor, or vqa.question_start_token: cls "
                "to start questions with [CLS]"
            )
    enc_id = tokenizer.convert_tokens_to_ids(BLIP_ADDED_TOKENS[1])
    if enc_id >= text_config.vocab_size:
        raise QaclimsError(f"[ENC] has id {enc_id} in the tokenizer of the BLIP model {model_name}, beyond its "
                           f"{text_config.vocab_size} word embeddings; set vqa.question_start_token: cls")
    return enc_id


class BlipAnswerer:
    def __init__(self, model: BlipForQuestionAnswering, processor: BlipProcessor,
                 settings: GenerationSettings, precision: str = "fp32"):
        mask_cross_attention(model)
        project_image_tokens_once(model.text_encoder)
        self.model, self.processor, self.settings, self.precision = model, processor, settings, precision
        self.device = next(model.parameters()).device
        # The hub's BLIP checkpoints are converted at 384 px and the reference asks at 480 px, which needs
        # interpolated position embeddings; an original checkpoint is built at its own 480 px and needs none.
        self.interpolate = settings.image_size != model.config.vision_config.image_size
        text_config = model.config.text_config
        self.decoder_ids = {"bos": text_config.bos_token_id, "eos": text_config.sep_token_id,
                            "pad": text_config.pad_token_id}
        self.question_start_id = question_start_id(processor.tokenizer, text_config, settings.question_start_token,
                                                   model.name_or_path)

    def pixel_values(self, images: Sequence[Image.Image]) -> torch.Tensor:
        size = {"height": self.settings.image_size, "width": self.settings.image_size}
        values = self.processor.image_processor(list(images), size=size, return_tensors="pt").pixel_values
        return values.to(self.device)

    def tokenize(self, questions: Sequence[str]):
        tokens = self.processor.tokenizer(
            list(questions), padding="longest", padding_side="right", truncation=True,
            max_length=self.settings.max_question_tokens, return_tensors="pt",
        ).to(self.device)
        tokens.input_ids[:, 0] = self.question_start_id
        return tokens

    @torch.inference_mode()
    def answer(self, images: Sequence[Image.Image], questions: Sequence[str],
               image_of_question: Sequence[int], batch_size: int) -> list[str]:
        """Answer ``questions[i]`` about ``images[image_of_question[i]]``, ``batch_size`` at a time."""
        if not questions:
            return []
        tokens = self.tokenize(questions)
        owners = torch.as_tensor(np.asarray(image_of_question), device=self.device)
        answers: list[str] = []
        with autocast(self.device, self.precision):
            image_embeds = self.model.vision_model(
                pixel_values=self.pixel_values(images), interpolate_pos_encoding=self.interpolate
            )[0]
            for start in range(0, len(questions), batch_size):
                rows = slice(start, start + batch_size)
                # Padding is on the right: the chunk's longest question sets its width.
                width = int(tokens.attention_mask[rows].sum(dim=1).max())
                answers += self._decode(image_embeds, owners[rows], tokens.input_ids[rows, :width],
                                        tokens.attention_mask[rows, :width])
        return answers

    def _decode(self, image_embeds: torch.Tensor, owners: torch.Tensor, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> list[str]:
        distinct, owner_in_distinct = torch.unique(owners, return_inverse=True)
        each_question_image = image_embeds[owners]
        image_mask = torch.ones(each_question_image.shape[:2], dtype=torch.long, device=self.device)
        question_embeds = self.model.text_encoder(
            input_ids=input_ids, attention_mask=attention_mask,
            encoder_hidden_states=each_question_image, encoder_attention_mask=image_mask,
            cache=ImageTokenCache(self.model.text_encoder.config, image_embeds[distinct], owner_in_distinct),
            return_dict=False,
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
