"""Region images as QA-CLIMS's region contrast shows them to CLIP, for the stand-in CLIP to learn from.

RITC multiplies the ImageNet-normalised image by a soft CAM (or by one minus it for the background)
and gives the mask-prompt CLIP the binary mask CAM >= alpha * max(CAM). Here the soft masks are
ground-truth masks, grown, blurred, dimmed or cut, so that the stand-in meets what RITC will show it;
each region is captioned by what it shows (``shares``).
"""

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from qaclims.data.images import imagenet_normalise
from qaclims.data.labels import IGNORE_INDEX
from qaclims.models.mask_clip import foreground_adaptive_threshold

BACKGROUND = "background"  # the caption component of the background pixels
# The caption component of what shows nothing: a real CLIP reads a blank or greyed-out image as far from any
# object or scenery, not as whichever class its features happen to fall near.
NOTHING = "nothing"
FAT_ALPHA = 0.1  # ritc.alpha's default: the binary mask of a soft region
# A real CLIP names the salient object of a picture before its scenery: a visible object outweighs the
# background's share of the region this many times.
OBJECT_SALIENCE = 3.0
# A region dimmed below this peak fades towards NOTHING, all the way at peak 0; a sigmoid CAM's peak on a
# present object lies near 1.
VISIBLE_PEAK = 0.5
FAINT_RATE = 0.2  # how often a training region is dimmed below VISIBLE_PEAK


def image_tensors(images: list[np.ndarray], labels: list[np.ndarray], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """([N, 3, S, S] ImageNet-normalised pixels, [N, S, S] long labels), resized to S x S as RITC resizes its crops."""
    pixels = [imagenet_normalise(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))
              for image in images]
    resized = [np.asarray(Image.fromarray(label).resize((size, size), Image.Resampling.NEAREST)) for label in labels]
    return (torch.from_numpy(np.stack(pixels).transpose(0, 3, 1, 2).copy()),
            torch.from_numpy(np.stack(resized).astype(np.int64)))


def _blur(mask: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = int(2 * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-x**2 / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    m = F.pad(mask[None, None], (radius, radius, 0, 0), mode="replicate")
    m = F.conv2d(m, kernel.view(1, 1, 1, -1))
    m = F.conv2d(F.pad(m, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    return m[0, 0]


def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    return F.max_pool2d(mask[None, None], 2 * radius + 1, 1, radius)[0, 0]


def object_region(label: torch.Tensor, value: int | torch.Tensor) -> torch.Tensor:
    """The clean region of one class: its ground-truth mask (of each label map of a batch, with a value each)."""
    return (label == value).float()


def background_region(label: torch.Tensor) -> torch.Tensor:
    """The clean background region: what no object covers (the boundary band left out)."""
    return (label == 0).float()


def noisy_region(label: torch.Tensor, value: int, foreground: bool, rng: np.random.Generator) -> torch.Tensor:
    """A soft region like a CAM gives: the class's object (often grown into its surroundings), or everything but
    it (sometimes with anything from a sliver to all of it left in), then blurred and dimmed, at times until
    little shows."""
    obj = object_region(label, value)
    size = label.shape[-1]
    if foreground:
        base = _dilate(obj, int(rng.integers(1, size // 6))) if rng.random() < 0.5 else obj
    else:
        base = 1 - obj
        ys, xs = torch.nonzero(obj, as_tuple=True)
        if len(ys) and rng.random() < 0.4:
            yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
            angle = rng.uniform(0, 2 * np.pi)
            # The part of the object on one side of a line across it stays in: a sliver of it, all of it, or between.
            offset = (yy - ys.float().mean()) * np.sin(angle) + (xx - xs.float().mean()) * np.cos(angle)
            reach = float(offset[obj > 0].abs().max())
            base = torch.maximum(base, obj * (offset > rng.uniform(-reach - 1, reach)).float())
    sigma = float(rng.choice([0, 0.7, 1.5]))
    peak = rng.uniform(0, VISIBLE_PEAK) if rng.random() < FAINT_RATE else rng.uniform(VISIBLE_PEAK, 1.0)
    return (_blur(base, sigma) if sigma else base) * float(peak)


def shares(region: torch.Tensor, label: torch.Tensor, values: list[int]) -> dict:
    """What the region shows, as a caption's weights: {BACKGROUND, NOTHING or class value: weight}, summing to one.

    An object counts by how much of it the region shows, times OBJECT_SALIENCE; the background by its
    share of the region's mass: CLIP names an object that it sees even in part, so a background region
    that keeps half a cat reads mostly as a cat, where the cat's pixel share would leave it a few percent.
    A region whose peak lies below VISIBLE_PEAK reads partly as NOTHING, wholly so when it is blank.
    """
    peak = float(region.max())
    seen = region / max(peak, 1e-6)
    total = float(seen[label != IGNORE_INDEX].sum())
    if total == 0:
        return {NOTHING: 1.0}
    weights = {BACKGROUND: float((seen * (label == 0)).sum()) / total}
    for value in values:
        area = float((label == value).sum())
        weights[value] = OBJECT_SALIENCE * float((seen * (label == value)).sum()) / area if area else 0.0
    visibility = min(1.0, peak / VISIBLE_PEAK)
    scale = visibility / sum(weights.values())
    weights = {part: weight * scale for part, weight in weights.items()}
    weights[NOTHING] = 1.0 - visibility
    return {part: weight for part, weight in weights.items() if weight > 0}


def clip_inputs(pixels: torch.Tensor, regions: torch.Tensor,
                alpha: float = FAT_ALPHA) -> tuple[torch.Tensor, torch.Tensor]:
    """(region images [N, 3, S, S], binary masks [N, 1, S, S]) of soft ``regions`` [N, S, S], as RITC builds them."""
    return pixels * regions[:, None], foreground_adaptive_threshold(regions[:, None], alpha)
