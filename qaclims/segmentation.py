"""Training objective and inference of the segmentation network: losses over scales, fused
multi-scale (optionally flipped) logits, and dense-CRF post-processing."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from pydensecrf.utils import unary_from_softmax

from qaclims.crf import CRFSettings, dense_crf
from qaclims.data.labels import IGNORE_INDEX


def balanced_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The reference's class-balanced loss: mean CE over background pixels and mean CE over
    foreground pixels, averaged (over whichever of the two the batch has); 255 is ignored."""
    pixel_losses = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="none")
    means = [pixel_losses[mask].mean() for mask in (labels == 0, (labels > 0) & (labels != IGNORE_INDEX))
             if mask.any()]
    return torch.stack(means).mean() if means else pixel_losses.sum() * 0


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    valid = labels != IGNORE_INDEX
    if not valid.any():
        return logits.sum() * 0
    return F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)


LOSSES = {"balanced": balanced_cross_entropy, "cross_entropy": cross_entropy}


def multi_scale_loss(model: Callable, images: torch.Tensor, labels: torch.Tensor, scales: list[float],
                     loss: Callable) -> torch.Tensor:
    """DeepLab's MSC training: the loss of the logits at each input scale, plus that of their
    pixel-wise maximum at the first scale's size; labels are resized (nearest) to each."""
    logits = [model(images if scale == 1 else F.interpolate(images, scale_factor=scale, mode="bilinear",
                                                            align_corners=False)) for scale in scales]
    if len(logits) > 1:
        size = logits[0].shape[-2:]
        logits.append(torch.stack([F.interpolate(item, size, mode="bilinear", align_corners=False) for item in logits])
                      .amax(dim=0))
    total = 0
    for item in logits:
        resized = F.interpolate(labels[:, None].float(), item.shape[-2:], mode="nearest")[:, 0].long()
        total = total + loss(item.float(), resized)
    return total


@dataclass(frozen=True)
class InferenceSettings:
    scales: tuple[float, ...]
    flip: bool
    fusion: str  # "max" or "mean"
    fuse_at: str  # "logits": at the size of the scale-1 logits, as DeepLab's MSC; "image": each resized to the image

    @classmethod
    def from_config(cls, section: dict) -> "InferenceSettings":
        """From the infer_seg section."""
        return cls(tuple(section["scales"]), section["flip"], section["fusion"], section["fuse_at"])


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
