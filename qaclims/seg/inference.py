"""Inference of the segmentation network: fused multi-scale (optionally flipped) logits and dense-CRF
post-processing."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from pydensecrf.utils import unary_from_softmax

from qaclims.config import settings_from
from qaclims.refine.crf import CRFSettings, dense_crf


@dataclass(frozen=True)
class InferenceSettings:
    scales: tuple[float, ...]
    flip: bool
    fusion: str  # "max" or "mean"
    fuse_at: str  # "logits": at the size of the scale-1 logits, as DeepLab's MSC; "image": each resized to the image

    @classmethod
    def from_config(cls, section: dict) -> "InferenceSettings":
        """From the infer_seg section."""
        return settings_from(cls, section, scales=tuple(section["scales"]))


@torch.no_grad()
def fused_logits(model: Callable, image: torch.Tensor, settings: InferenceSettings) -> torch.Tensor:
    """[C + 1, H, W] logits of a [3, H, W] image: the logits of every scale (and its mirror), fused
    at ``settings.fuse_at`` size, then resized to the image."""
    height, width = image.shape[-2:]
    outputs = []
    for scale in settings.scales:
        scaled = image[None] if scale == 1 else F.interpolate(image[None], scale_factor=scale, mode="bilinear",
                                                              align_corners=False)
        logits = model(torch.cat([scaled, scaled.flip(-1)]) if settings.flip else scaled).float()
        outputs.append(torch.cat([logits[:1], logits[1:].flip(-1)]))
    size = (height, width) if settings.fuse_at == "image" else outputs[settings.scales.index(1)].shape[-2:]
    stacked = torch.cat([F.interpolate(logits, size, mode="bilinear", align_corners=False) for logits in outputs])
    fused = stacked.amax(dim=0) if settings.fusion == "max" else stacked.mean(dim=0)
    return F.interpolate(fused[None], (height, width), mode="bilinear", align_corners=False)[0]


def crf_postprocess(image: np.ndarray, logits: np.ndarray, settings: CRFSettings) -> np.ndarray:
    """[H, W] labels after a dense CRF whose unary is the softmax of the [C + 1, H, W] logits."""
    shifted = np.exp(logits - logits.max(axis=0, keepdims=True))
    probabilities = (shifted / shifted.sum(axis=0, keepdims=True)).astype(np.float32)
    return dense_crf(image, unary_from_softmax(probabilities), settings).argmax(axis=0)
