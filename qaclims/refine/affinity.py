"""Pixel-pair affinities from a class-boundary map, and the labels and losses that train IRNet on them.

Pairs are taken on a stride-4 grid between a source pixel and each destination within a
radius, over one half-plane of offsets (the other half is the same pairs reversed). The
affinity of a pair is 1 minus the strongest boundary on the straight path between them, so
a single boundary pixel anywhere on the path separates the two.

Every tensor of pairs has the layout [..., P, h - R, w - 2R] with R = radius - 1: offset p
of the half-plane, source pixel (y, x + R). Every destination then lies inside the grid.
"""

import functools

import torch

from qaclims.data.labels import IGNORE_INDEX


@functools.cache
def search_offsets(radius: int) -> tuple[tuple[int, int], ...]:
    """(dy, dx) with dy > 0, or dy = 0 and dx > 0, and dy^2 + dx^2 < radius^2."""
    return tuple((dy, dx) for dy in range(radius) for dx in range(-radius + 1, radius)
                 if (dy > 0 or dx > 0) and dy * dy + dx * dx < radius * radius)


@functools.cache
def offset_paths(radius: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """For each search offset, the grid pixels within distance 1 of the segment from (0, 0) to it."""
    paths = []
    for dy, dx in search_offsets(radius):
        length_sq = dy * dy + dx * dx
        path = [(y, x) for y in range(min(0, dy), max(0, dy) + 1) for x in range(min(0, dx), max(0, dx) + 1)
                if (dy * x - dx * y) ** 2 < length_sq]
        paths.append(tuple(path))
    return tuple(paths)


def _shifted(grid: torch.Tensor, radius: int, dy: int, dx: int) -> torch.Tensor:
    """The [..., h - R, w - 2R] view of ``grid`` at the pixels (dy, dx) away from each source pixel."""
    reach = radius - 1
    height, width = grid.shape[-2] - reach, grid.shape[-1] - 2 * reach
    return grid[..., dy:dy + height, reach + dx:reach + dx + width]


def pair_views(grid: torch.Tensor, radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(source [..., 1, h', w'], destinations [..., P, h', w']) of a [..., h, w] grid."""
    source = _shifted(grid, radius, 0, 0).unsqueeze(-3)
    destinations = torch.stack([_shifted(grid, radius, dy, dx) for dy, dx in search_offsets(radius)], dim=-3)
    return source, destinations


def pair_affinities(boundary: torch.Tensor, radius: int) -> torch.Tensor:
    """[..., P, h', w'] affinities 1 - max(boundary on the path) of a [..., h, w] boundary map in [0, 1]."""
    return torch.stack([1 - torch.stack([_shifted(boundary, radius, y, x) for y, x in path]).amax(dim=0)
                        for path in offset_paths(radius)], dim=-3)


def affinity_labels(label_map: torch.Tensor, radius: int) -> dict[str, torch.Tensor]:
    """Boolean pair masks of a [..., h, w] label map: background pairs, same-class foreground pairs,
    pairs of different labels; a pair touching an ignored pixel is in none of them."""
    source, destinations = pair_views(label_map, radius)
    valid = (source != IGNORE_INDEX) & (destinations != IGNORE_INDEX)
    same = source == destinations
    return {"background_positive": valid & same & (source == 0),
            "foreground_positive": valid & same & (source != 0),
            "negative": valid & ~same}


def _masked_mean(values: torch.Tensor, mask: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    return (values * mask).sum() / (scale * mask.sum() + 1e-5)


def irn_losses(boundary_logits: torch.Tensor, label_map: torch.Tensor, radius: int,
               displacement: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """IRNet's objective on a batch: boundary logits [B, 1, h, w], label map [B, h, w] at the same stride,
    and optionally the displacement field [B, 2, h, w]. Each term averages over its pairs in the batch."""
    affinity = pair_affinities(torch.sigmoid(boundary_logits[:, 0].float()), radius)
    masks = {name: mask.float() for name, mask in affinity_labels(label_map, radius).items()}
    attract, repel = -torch.log(affinity + 1e-5), -torch.log(1 + 1e-5 - affinity)
    losses = {
        "background_affinity": _masked_mean(attract, masks["background_positive"]),
        "foreground_affinity": _masked_mean(attract, masks["foreground_positive"]),
        "negative_affinity": _masked_mean(repel, masks["negative"]),
    }
    positive = (losses["background_affinity"] + losses["foreground_affinity"]) / 2
    losses["total"] = (positive + losses["negative_affinity"]) / 2
    if displacement is not None:
        # Pixels of one instance point at one centre: their displacements differ by their offset.
        source, destinations = pair_views(displacement.float(), radius)
        pair_difference = source - destinations  # [B, 2, P, h', w']
        offsets = torch.tensor(search_offsets(radius), dtype=pair_difference.dtype, device=pair_difference.device)
        target = offsets.t()[None, :, :, None, None]
        losses["foreground_displacement"] = _masked_mean((pair_difference - target).abs(),
                                                         masks["foreground_positive"].unsqueeze(1), scale=2)
        losses["background_displacement"] = _masked_mean(pair_difference.abs(),
                                                         masks["background_positive"].unsqueeze(1), scale=2)
        losses["total"] = losses["total"] + (losses["foreground_displacement"] + losses["background_displacement"]) / 2
    return losses

