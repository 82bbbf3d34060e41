"""The stand-in for OV-Seg's mask-prompt CLIP: a tiny open_clip model trained on region images of the world.

Object regions are captioned with their class and with their kind and class ("a photo of a striped
cat."), background regions with their background word; a region that shows several things is
captioned by how much of each it shows, and a faint or blank one partly or wholly as NOTHING
(``regions.part_weights``). The mask embeddings are trained with the rest. It is written twice, each file
read by the real loaders: the open_clip checkpoint that clip.* names (the corpus's text tower), and
an OV-Seg-layout checkpoint (``clip_adapter.clip_model.*``, mask embeddings included) that
ritc.ovseg_checkpoint names.
"""

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import open_clip
import torch
import torch.nn.functional as F

from qaclims.demo.regions import (
    BACKGROUND,
    NOTHING,
    clip_inputs,
    image_tensors,
    noisy_regions,
    part_weights,
)
from qaclims.demo.world import BACKGROUNDS, PRETRAINING_DRAWING, kinds_of, world_images
from qaclims.models.demo_clip import (
    create_demo_clip,
    demo_clip_config,
    save_clip_checkpoint,
)
from qaclims.models.mask_clip import MaskPromptCLIP, write_ovseg_checkpoint
from qaclims.run_layout import DEMO_CLIP_NAME
from qaclims.runtime.atomic import atomic_directory

WORLD_STREAM = 1  # the stand-ins' worlds are seeded (demo_models.seed, stream, image): disjoint from the demo's
# Patches of 8 px: at 16 a 64 px region is 16 patches, too coarse for the mask prompt to outline an object.
PATCH_SIZE = 8
CONTEXT_LENGTH = 16  # the longest prompt, "a photo of spotted dining table.", is 10 tokens
# Mask embeddings for the first three places, as OV-Seg's checkpoint holds them (ritc.mask_prompt_depth's default).
MASK_PROMPT_DEPTH = 3
WARMUP_STEPS = 30
# The softmax scale of the captions, held fixed: RITC reads cosine similarities at temperature 0.7, so what
# the stand-in knows must show as margins of cosine similarity, which a scale left to grow would shrink.
LOGIT_SCALE = 5.0


@dataclass(frozen=True)
class ClipPretraining:
    image_size: int
    prompt: str
    images: int
    steps: int
    batch_size: int
    lr: float
    seed: int


def caption_table(classes: Sequence[str]) -> tuple[list[str], dict]:
    """(the texts, {(class index, kind), (BACKGROUND, word) or NOTHING: [(text row, weight)]}): an object's
    caption is half its class name, half its kind and class. NOTHING's text is no answer the stand-in BLIP
    gives, so it is none of the corpus's texts: it is what a blank region is held apart as."""
    texts, rows = [], {}
    for k, name in enumerate(classes):
        texts.append(name)
        for kind in kinds_of(name):
            rows[(k, kind)] = [(texts.index(name), 0.5), (len(texts), 0.5)]
            texts.append(f"{kind} {name}")
    for word in BACKGROUNDS:
        rows[(BACKGROUND, word)] = [(len(texts), 1.0)]
        texts.append(word)
    rows[NOTHING] = [(len(texts), 1.0)]
    texts.append(NOTHING)
    return texts, rows


def encode_texts(model, tokenizer, prompt: str, texts: Sequence[str]) -> torch.Tensor:
    return F.normalize(model.encode_text(tokenizer([prompt.format(text) for text in texts])), dim=-1)


def mask_prompt_clip(model, depth: int) -> MaskPromptCLIP:
    with warnings.catch_warnings():  # the mask embeddings start at zero on purpose: they are trained here
        warnings.simplefilter("ignore")
        clip = MaskPromptCLIP(model, depth)
    clip.clip_model.requires_grad_(True)
    if clip.mask_embedding is not None:
        clip.mask_embedding.requires_grad_(True)
    return clip


def caption_weights(world, rows: dict, num_classes: int, num_texts: int) -> torch.Tensor:
    """[N, C + 2, T]: for each world image, the caption_table text weights of each of ``part_weights``'s parts
    (its background, its classes' kinds, NOTHING); a class absent from the image has none."""
    weights = torch.zeros(len(world), num_classes + 2, num_texts)
    for n, sample in enumerate(world):
        keys = {0: (BACKGROUND, sample.background), num_classes + 1: NOTHING,
                **{k + 1: (k, kind) for k, kind in sample.kinds.items()}}
        for part, key in keys.items():
            for row, weight in rows[key]:
                weights[n, part, row] += weight
    return weights


def training_batch(pixels: torch.Tensor, labels: torch.Tensor, present: np.ndarray, captions: torch.Tensor,
                   rng: np.random.Generator, batch_size: int):
    """Region images, their masks and their soft targets over the caption texts: each of a random object, or
    everything but it, of a random world image (``present``: [N, C] whether an image shows a class;
    ``captions``: ``caption_weights``)."""
    picks = rng.integers(len(labels), size=batch_size)
    shown = present[picks]
    nth = rng.integers(shown.sum(1))
    values = torch.from_numpy((shown.cumsum(1) > nth[:, None]).argmax(1) + 1)
    regions = noisy_regions(labels[picks], values, rng.random(batch_size) < 0.5, rng)
    targets = torch.einsum("np,npt->nt", part_weights(regions, labels[picks], present.shape[1]), captions[picks])
    images, masks = clip_inputs(pixels[picks], regions)
    return images, masks, targets


def pretrain_clip(directory: str, ovseg_path: str, classes: Sequence[str], settings: ClipPretraining) -> None:
    """Train the stand-in and write both files."""
    world = world_images([settings.seed, WORLD_STREAM], settings.images, classes, None, **PRETRAINING_DRAWING)
    pixels, labels = image_tensors([s.image for s in world], [s.label for s in world], settings.image_size)
    texts, rows = caption_table(classes)
    present = np.array([[k in sample.kinds for k in range(len(classes))] for sample in world])
    captions = caption_weights(world, rows, len(classes), len(texts))
    rng = np.random.default_rng([settings.seed, WORLD_STREAM])
    with atomic_directory(directory) as staging:
        model = create_demo_clip(staging, demo_clip_config(settings.image_size, PATCH_SIZE, CONTEXT_LENGTH),
                                 settings.seed)
        tokenizer = open_clip.get_tokenizer(DEMO_CLIP_NAME)
        clip = mask_prompt_clip(model, MASK_PROMPT_DEPTH)
        model.logit_scale.requires_grad_(False).fill_(float(np.log(LOGIT_SCALE)))
        optimizer = torch.optim.AdamW([p for p in clip.parameters() if p.requires_grad], lr=settings.lr,
                                      weight_decay=0.01)
        for step in range(settings.steps):
            for group in optimizer.param_groups:
                group["lr"] = settings.lr * min(1.0, (step + 1) / WARMUP_STEPS) * (1 - step / settings.steps) ** 0.9
            images, masks, targets = training_batch(pixels, labels, present, captions, rng, settings.batch_size)
            image_features = F.normalize(clip.encode_image(images, masks), dim=-1)
            logits = model.logit_scale.exp() * image_features @ encode_texts(model, tokenizer, settings.prompt, texts).T
            loss = -(targets * F.log_softmax(logits, dim=1)).sum(1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if (step + 1) % 50 == 0 or step + 1 == settings.steps:
                print(f"clip step {step + 1}/{settings.steps} loss {loss.item():.3f}", flush=True)
        clip.requires_grad_(False)
        save_clip_checkpoint(staging, model)
        write_ovseg_checkpoint(ovseg_path, clip)

