"""Do the pretrained models know the demo world? Scored on the demo's own images, which the stand-ins never saw.

The VQA answers are the ones the pipeline's VQA stage gave; the CLIP regions are ground-truth masks
shown as the region contrast shows them (masked ImageNet-normalised pixels and a binary mask prompt).
Each measure is a row: what was measured, the fraction right, and over how many items.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from qaclims.demo.regions import (
    background_region,
    clip_inputs,
    image_tensors,
    object_region,
)
from qaclims.models.mask_clip import MaskPromptCLIP
from qaclims.vqa.questions import BACKGROUND, FOREGROUND


def measure(name: str, right: Sequence[bool]) -> dict:
    return {"measure": name, "accuracy": float(np.mean(right)) if len(right) else float("nan"), "items": len(right)}


def answer_scores(answers: pd.DataFrame, world: pd.DataFrame) -> list[dict]:
    """Foreground answers that name the kind (or the class), background answers that name the background."""
    truth = answers.merge(world, on=["image_id", "class"], how="inner", suffixes=("", "_truth"))
    words = truth["answer"].str.lower().str.split()
    names_kind = [row_kind in said for row_kind, said in zip(truth["kind_truth"], words)]
    names_class = [name in answer.lower() for name, answer in zip(truth["class"], truth["answer"])]
    names_background = [scenery in said for scenery, said in zip(truth["background"], words)]
    foreground, background = (truth["kind"] == FOREGROUND).to_numpy(), (truth["kind"] == BACKGROUND).to_numpy()
    return [
        measure("VQA: background answers name the background", np.asarray(names_background)[background]),
        measure("VQA: foreground answers name the kind or the class",
                (np.asarray(names_kind) | np.asarray(names_class))[foreground]),
        measure("VQA: foreground answers name the kind", np.asarray(names_kind)[foreground]),
    ]


# Regions per call of the CLIP image tower: the demo's whole score set fits a few calls.
REGION_BATCH = 256


def region_features(clip: MaskPromptCLIP, pixels: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """[N, D] unit-norm features of soft ``regions`` [N, S, S] of ``pixels`` [N, 3, S, S], as RITC shows them."""
    inputs, masks = clip_inputs(pixels, regions)
    return torch.cat([torch.nn.functional.normalize(clip.encode_image(batch, batch_masks), dim=-1)
                      for batch, batch_masks in zip(inputs.split(REGION_BATCH), masks.split(REGION_BATCH))])


@torch.no_grad()
def clip_scores(clip: MaskPromptCLIP, class_features: torch.Tensor, background_features: torch.Tensor,
                images: list[np.ndarray], labels: list[np.ndarray], present: list[list[int]],
                backgrounds: list[int], size: int) -> list[dict]:
    """Zero-shot top-1 of each ground-truth object region among the class prompts, and of each image's
    background region among the background prompts (``*_features``: unit-norm prompt features;
    ``present``: each image's class indices; ``backgrounds``: each image's background, an index into BACKGROUNDS)."""
    pixels, label_maps = image_tensors(images, labels, size)
    clip.eval()
    owners = torch.tensor([n for n, classes in enumerate(present) for _ in classes], dtype=torch.long)
    classes = torch.tensor([k for image_classes in present for k in image_classes], dtype=torch.long)
    objects = region_features(clip, pixels[owners], object_region(label_maps[owners], (classes + 1)[:, None, None]))
    scenery = region_features(clip, pixels, background_region(label_maps))
    whole = region_features(clip, pixels, torch.ones(label_maps.shape))
    object_right = ((objects @ class_features.T).argmax(1) == classes).tolist()
    background_right = ((scenery @ background_features.T).argmax(1) == torch.tensor(backgrounds)).tolist()
    # A real CLIP names a photo's object before its scenery; where a CAM is blank, RITC's background region is the
    # whole image.
    top = (whole @ torch.cat([class_features, background_features]).T).argmax(1).tolist()
    whole_right = [k in shown for k, shown in zip(top, present)]
    return [
        measure("CLIP: object regions, top-1 among the class prompts", object_right),
        measure("CLIP: background regions, top-1 among the background prompts", background_right),
        measure("CLIP: whole images, top-1 among the class and background prompts is a class shown", whole_right),
    ]
