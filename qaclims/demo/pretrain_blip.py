"""The stand-in for BLIP VQA: a tiny BlipForQuestionAnswering trained on the 16 QA-CLIMS questions about the world.

A foreground question ("What kind of cat is in the photo?") is answered with the object's kind
("striped"), a background question ("what is under the cat?") with the background ("grass"). The
questions are tokenised and the images preprocessed by the answerer the VQA stage runs, so the
stand-in learns exactly the inputs it will be asked with.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from qaclims.demo.world import (
    BACKGROUNDS,
    KIND_WORDS,
    PRETRAINING_DRAWING,
    world_images,
)
from qaclims.models.demo_blip import build_random_blip, save_blip
from qaclims.vqa.answering import BlipAnswerer, GenerationSettings
from qaclims.vqa.questions import BACKGROUND_TEMPLATES, FOREGROUND_TEMPLATES

WORLD_STREAM = 2  # see qaclims.demo.pretrain_clip
WARMUP_STEPS = 30
QUESTIONS = {True: FOREGROUND_TEMPLATES, False: BACKGROUND_TEMPLATES}  # by whether they ask for the kind
INITIALIZER_RANGE = 0.02  # BLIP's own: the stand-in is trained, not probed for chaos as the tests' tiny model is


@dataclass(frozen=True)
class BlipPretraining:
    image_size: int
    hidden_size: int
    images: int
    steps: int
    batch_size: int
    lr: float
    foreground_share: float  # of the questions that are foreground ones: naming the kind is the harder skill
    seed: int


def blip_layers(hidden_size: int) -> dict:
    return {"hidden_size": hidden_size, "intermediate_size": 2 * hidden_size, "num_hidden_layers": 2,
            "num_attention_heads": 4}


def pretrain_blip(directory: str, classes: Sequence[str], settings: BlipPretraining) -> None:
    """Train the stand-in and write it with save_pretrained."""
    world = world_images([settings.seed, WORLD_STREAM], settings.images, classes, None, **PRETRAINING_DRAWING)
    # (image, class, its kind, the background): every labelled pair of the world.
    pairs = [(n, k, kind, sample.background) for n, sample in enumerate(world) for k, kind in sample.kinds.items()]
    model, processor = build_random_blip(blip_layers(settings.hidden_size), settings.image_size, settings.seed,
                                         INITIALIZER_RANGE, answer_words=KIND_WORDS + BACKGROUNDS)
    answerer = BlipAnswerer(model, processor, GenerationSettings(image_size=settings.image_size))
    pixels = answerer.pixel_values([Image.fromarray(sample.image) for sample in world])
    tokenizer = processor.tokenizer
    start, end = tokenizer.convert_tokens_to_ids(["[DEC]", "[SEP]"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    rng = np.random.default_rng([settings.seed, WORLD_STREAM])
    model.train()
    for step in range(settings.steps):
        for group in optimizer.param_groups:
            group["lr"] = settings.lr * min(1.0, (step + 1) / WARMUP_STEPS) * (1 - step / settings.steps) ** 0.9
        chosen = [pairs[j] for j in rng.integers(len(pairs), size=settings.batch_size)]
        # Every step mixes both skills, so that learning one does not unlearn the other.
        foreground = rng.random(len(chosen)) < settings.foreground_share
        questions = [QUESTIONS[asks_kind][int(rng.integers(len(QUESTIONS[asks_kind])))].format(classes[k])
                     for asks_kind, (_, k, *_) in zip(foreground, chosen)]
        image_embeds = model.vision_model(pixel_values=pixels[[n for n, *_ in chosen]])[0]
        tokens = answerer.tokenize(questions)
        answers = torch.tensor([[start, tokenizer.convert_tokens_to_ids(kind if asks_kind else scenery), end]
                                for asks_kind, (_, _, kind, scenery) in zip(foreground, chosen)])
        lengths = tokens.attention_mask.sum(dim=1)
        loss = 0.0
        # As the answerer decodes them: only questions of one token length share a text-encoder call, unpadded.
        for length in lengths.unique():
            rows = torch.nonzero(lengths == length).flatten()
            mask = tokens.attention_mask[rows, :length]
            embeds = image_embeds[rows]
            encoded = model.text_encoder(input_ids=tokens.input_ids[rows, :length], attention_mask=mask,
                                         encoder_hidden_states=embeds,
                                         encoder_attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long),
                                         return_dict=False)[0]
            decoded = model.text_decoder(input_ids=answers[rows], encoder_hidden_states=encoded,
                                         encoder_attention_mask=mask, labels=answers[rows], reduction="mean")
            loss = loss + decoded.loss * len(rows) / len(chosen)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % 50 == 0 or step + 1 == settings.steps:
            print(f"blip step {step + 1}/{settings.steps} loss {loss.item():.3f}", flush=True)
    save_blip(directory, model.eval(), processor)
