"""The segmentation network's training objective: class-balanced or plain cross-entropy, summed over
DeepLab's input scales (MSC)."""

from collections.abc import Callable

import torch
import torch.nn.functional as F

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
