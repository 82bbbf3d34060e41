"""IRNet's random walk: class maps spread along affinities until they fill their regions.

The transition matrix T of the stride-4 grid has a column per pixel j holding the affinities
A(i, j)^beta of its neighbours i within the radius (and 1 for itself), divided by their sum.
The reference builds T densely (HW x HW), squares it exp_times times and multiplies once.
Here T is a sparse matrix with at most ~pi r^2 entries per column and the maps are multiplied
by it 2^exp_times times: the same x T^(2^exp_times), with memory linear in the pixels.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from qaclims.cam.labels import label_map
from qaclims.refine.affinity import pair_affinities, search_offsets


def half_plane_affinities(boundary: torch.Tensor, radius: int, beta: float) -> torch.Tensor:
    """[P, h, w]: A(j, j + offset_p)^beta for every pixel j of the [h, w] boundary map, 0 where j + offset leaves it."""
    reach = radius - 1
    # A boundary of 1 around the map gives pairs that leave it affinity 0.
    padded = F.pad(boundary[None], (reach, reach, 0, reach), value=1.0)[0]
    return pair_affinities(padded, radius) ** beta


def _neighbour_entries(boundary: torch.Tensor, radius: int, beta: float):
    """(columns j, rows i, A(i, j)^beta) of every pair within the radius, both directions, and the self loops."""
    height, width = boundary.shape
    half = half_plane_affinities(boundary, radius, beta)
    ys, xs = torch.meshgrid(torch.arange(height, device=boundary.device), torch.arange(width, device=boundary.device),
                            indexing="ij")
    offsets = torch.tensor(search_offsets(radius), device=boundary.device)
    target_y, target_x = ys + offsets[:, :1, None], xs + offsets[:, 1:, None]  # [P, h, w]
    inside = (target_y >= 0) & (target_y < height) & (target_x >= 0) & (target_x < width)
    source = (ys * width + xs).expand_as(target_y)[inside]
    target = (target_y * width + target_x)[inside]
    values = half[inside]
    pixels = torch.arange(height * width, device=boundary.device)
    columns = torch.cat([pixels, source, target])
    rows = torch.cat([pixels, target, source])
    return columns, rows, torch.cat([torch.ones_like(pixels, dtype=values.dtype), values, values])


def sparse_transition(boundary: torch.Tensor, radius: int, beta: float) -> torch.Tensor:
    """T transposed as a sparse CSR [HW, HW] matrix: row j holds column j of T."""
    columns, rows, values = _neighbour_entries(boundary, radius, beta)
    size = boundary.numel()
    column_sums = torch.zeros(size, dtype=values.dtype, device=values.device).index_add_(0, columns, values)
    transposed = torch.sparse_coo_tensor(torch.stack([columns, rows]), values / column_sums[columns], (size, size),
                                         check_invariants=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return transposed.coalesce().to_sparse_csr()


def random_walk(maps: torch.Tensor, boundary: torch.Tensor, radius: int, beta: float, exp_times: int) -> torch.Tensor:
    """[K, h, w] maps weighted by (1 - boundary), walked 2^exp_times steps: (x T^(2^exp_times)) reshaped."""
    channels, height, width = maps.shape
    # Float64: 256 float32 products drift ~1e-3 from the exact walk, float64 stays within 1e-9.
    transposed = sparse_transition(boundary.double(), radius, beta)
    state = (maps.double() * (1 - boundary.double())).reshape(channels, height * width).t().contiguous()  # [HW, K]
    for _ in range(2 ** exp_times):
        state = torch.sparse.mm(transposed, state)
    return state.t().reshape(channels, height, width).to(maps.dtype)


def dense_random_walk(maps: torch.Tensor, boundary: torch.Tensor, radius: int, beta: float,
                      exp_times: int) -> torch.Tensor:
    """The reference's dense computation, for tests and benchmarks only: HW x HW memory, (HW)^3 time."""
    channels, height, width = maps.shape
    columns, rows, values = _neighbour_entries(boundary, radius, beta)
    affinity = torch.zeros(height * width, height * width, dtype=values.dtype, device=values.device)
    affinity[rows, columns] = values
    transition = affinity / affinity.sum(dim=0, keepdim=True)
    for _ in range(exp_times):
        transition = transition @ transition
    return ((maps * (1 - boundary)).reshape(channels, height * width) @ transition).reshape(channels, height, width)


@dataclass(frozen=True)
class RandomWalkSettings:
    radius: int
    beta: float
    exp_times: int
    background_threshold: float


def random_walk_label_map(strided_cams: torch.Tensor, keys: np.ndarray, boundary: torch.Tensor,
                          image_size: tuple[int, int], settings: RandomWalkSettings) -> np.ndarray:
    """uint8 [H, W] pseudo label map from the stride-4 CAMs [K, h, w] of classes ``keys`` and the boundary map."""
    if not len(keys):
        return np.zeros(image_size, dtype=np.uint8)
    walked = random_walk(strided_cams.float(), boundary.float(), settings.radius, settings.beta, settings.exp_times)
    return walked_label_map(walked, keys, image_size, settings.background_threshold)


def walked_label_map(walked: torch.Tensor, keys: np.ndarray, image_size: tuple[int, int],
                     background_threshold: float) -> np.ndarray:
    """Walked stride-4 maps [K, h, w] upsampled x4, cropped to [H, W], scaled by their maximum, labelled."""
    height, width = image_size
    upsampled = F.interpolate(walked[None].float(), scale_factor=4, mode="bilinear", align_corners=False)
    upsampled = upsampled[0, :, :height, :width]
    peak = upsampled.max()
    # One maximum over all classes, not one per class: a weak class stays weak.
    scores = upsampled / peak if peak > 0 else upsampled
    return label_map(scores.cpu().numpy(), keys, background_threshold)
