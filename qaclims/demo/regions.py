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
OBJECT_SALIENCE = 6.0
# A region dimmed below this peak fades towards NOTHING, all the way at peak 0; a sigmoid CAM's peak on a
# present object lies near 1.
VISIBLE_PEAK = 0.5
FAINT_RATE = 0.2  # how often a training region is dimmed below VISIBLE_PEAK
# How often a training region shows a part of its object; otherwise a foreground one shows all of it, and a
# background one none.
CUT_RATE = 0.5
# CLIP names an object better the more of it a region shows: a region that shows a share f of an object reads
# partly as NOTHING, by this many times OBJECT_SALIENCE * f * (1 - f), so that a CAM on the object's
# discriminative part alone scores its class below one on the whole object.
PARTIAL_VIEW = 2.0


def image_tensors(images: list[np.ndarray], labels: list[np.ndarray], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """([N, 3, S, S] ImageNet-normalised pixels, [N, S, S] long labels), resized to S x S as RITC resizes its crops."""
    pixels = [imagenet_normalise(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))
              for image in images]
    resized = [np.asarray(Image.fromarray(label).resize((size, size), Image.Resampling.NEAREST)) for label in labels]
    return (torch.from_numpy(np.stack(pixels).transpose(0, 3, 1, 2).copy()),
            torch.from_numpy(np.stack(resized).astype(np.int64)))


def _blur(masks: torch.Tensor, sigma: float) -> torch.Tensor:
    """[N, S, S] masks blurred by a Gaussian of ``sigma``, their edges repeated outwards."""
    radius = int(2 * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-x**2 / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    m = F.pad(masks[:, None], (radius, radius, 0, 0), mode="replicate")
    m = F.conv2d(m, kernel.view(1, 1, 1, -1))
    m = F.conv2d(F.pad(m, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    return m[:, 0]


def _dilate(masks: torch.Tensor, radii: np.ndarray) -> torch.Tensor:
    """[N, S, S] masks each grown by its own radius (0: as it is), the masks of one radius together."""
    grown = masks.clone()
    for radius in np.unique(radii[radii > 0]).tolist():
        chosen = torch.from_numpy(radii == radius)
        grown[chosen] = F.max_pool2d(masks[chosen][:, None], 2 * radius + 1, 1, radius)[:, 0]
    return grown


def object_region(label: torch.Tensor, value: int | torch.Tensor) -> torch.Tensor:
    """The clean region of one class: its ground-truth mask (of each label map of a batch, with a value each)."""
    return (label == value).float()


def background_region(label: torch.Tensor) -> torch.Tensor:
    """The clean background region: what no object covers (the boundary band left out)."""
    return (label == 0).float()


def noisy_regions(labels: torch.Tensor, values: torch.Tensor, foreground: np.ndarray,
                  rng: np.random.Generator) -> torch.Tensor:
    """[N, S, S] soft regions like a CAM gives, one per label map of ``labels`` [N, S, S]: where ``foreground``,
    the object of class ``values`` [N] or a part of it (half the time grown into its surroundings), else
    everything but it (sometimes with anything from a sliver to all of it left in); then blurred and dimmed, at
    times until little shows."""
    count, size = len(values), labels.shape[-1]
    objects = object_region(labels, values[:, None, None])
    # The part of the object on one side of a line across it: a sliver of it, all of it (about half the time, so
    # that a background region is often the whole image, as RITC shows CLIP while a CAM is blank), or between.
    # The line's offset along a random direction falls from one span of the object before it to a tenth of a span
    # inside its far end.
    cut = (objects.flatten(1).amax(1) > 0).numpy() & (rng.random(count) < CUT_RATE)
    angle = torch.from_numpy(rng.uniform(0, 2 * np.pi, size=count)).float()[:, None, None]
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    offset = yy * torch.sin(angle) + xx * torch.cos(angle)
    inside, along = objects.flatten(1) > 0, offset.flatten(1)
    ends = (torch.where(inside, along, torch.inf).amin(1), torch.where(inside, along, -torch.inf).amax(1))
    low, high = (torch.where(inside.any(1), end, 0).numpy() for end in ends)
    span = high - low
    line = torch.from_numpy(rng.uniform(low - span, high - span / 10)).float()[:, None, None]
    kept = torch.where(torch.from_numpy(cut)[:, None, None], objects * (offset > line).float(), objects)
    radii = np.where(rng.random(count) < 0.5, rng.integers(1, size // 6, size=count), 0)
    grown = _dilate(kept, np.where(foreground, radii, 0))
    left_in = torch.where(torch.from_numpy(cut)[:, None, None], kept, 0)
    regions = torch.where(torch.from_numpy(foreground)[:, None, None], grown, torch.maximum(1 - objects, left_in))
    sigmas = rng.choice([0, 0.7, 1.5], size=count)
    for sigma in (0.7, 1.5):
        blurred = torch.from_numpy(sigmas == sigma)
        if blurred.any():
            regions[blurred] = _blur(regions[blurred], sigma)
    faint = rng.random(count) < FAINT_RATE
    peaks = np.where(faint, rng.uniform(0, VISIBLE_PEAK, size=count), rng.uniform(VISIBLE_PEAK, 1.0, size=count))
    return regions * torch.from_numpy(peaks).float()[:, None, None]


def part_weights(regions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """What each region shows, as its caption's weights: [N, C + 2] over (the background, the classes' values
    1..C, NOTHING), each row summing to one.

    An object counts by how much of it the region shows, times OBJECT_SALIENCE; the background by its
    share of the region's mass: CLIP names an object that it sees even in part, so a background region
    that keeps half a cat reads mostly as a cat, where the cat's pixel share would leave it a few percent.
    An object seen in part also reads partly as NOTHING (PARTIAL_VIEW), and a region whose peak lies below
    VISIBLE_PEAK reads partly as NOTHING, wholly so when it is blank.
    """
    peaks = regions.flatten(1).amax(1)
    seen = regions / peaks.clamp(min=1e-6)[:, None, None]
    # Each pixel's part (the ignored boundary band an extra one, dropped), summed per region.
    parts = torch.where(labels == IGNORE_INDEX, num_classes + 1, labels).flatten(1)
    seen_mass, areas = (torch.zeros(len(regions), num_classes + 2).scatter_add_(1, parts, values)[:, :-1]
                        for values in (seen.flatten(1), torch.ones(parts.shape)))
    total = seen_mass.sum(1, keepdim=True)
    shares = (seen_mass[:, 1:] / areas[:, 1:].clamp(min=1)).clamp(max=1.0)
    partial = PARTIAL_VIEW * OBJECT_SALIENCE * (shares * (1 - shares)).sum(1, keepdim=True)
    weights = torch.cat([seen_mass[:, :1] / total.clamp(min=1e-12), OBJECT_SALIENCE * shares, partial], dim=1)
    visibility = (peaks / VISIBLE_PEAK).clamp(max=1.0)[:, None]
    weights = visibility * weights / weights.sum(1, keepdim=True).clamp(min=1e-12)
    shown = torch.cat([weights[:, :-1], weights[:, -1:] + 1 - visibility], dim=1)
    blank = torch.zeros_like(shown)
    blank[:, -1] = 1.0
    return torch.where(total > 0, shown, blank)


def clip_inputs(pixels: torch.Tensor, regions: torch.Tensor,
                alpha: float = FAT_ALPHA) -> tuple[torch.Tensor, torch.Tensor]:
    """(region images [N, 3, S, S], binary masks [N, 1, S, S]) of soft ``regions`` [N, S, S], as RITC builds them."""
    return pixels * regions[:, None], foreground_adaptive_threshold(regions[:, None], alpha)
