"""Pair offsets and paths, boundary affinities, and the sparse random walk against the dense matrix power."""

import numpy as np
import pytest
import torch

from qaclims.refine.affinity import offset_paths, pair_affinities, search_offsets
from qaclims.refine.random_walk import (
    RandomWalkSettings,
    dense_random_walk,
    random_walk,
    random_walk_label_map,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_offsets_cover_one_half_disc():
    assert len(search_offsets(5)) == 34 and len(search_offsets(10)) == 152
    offsets = set(search_offsets(5))
    assert (0, 1) in offsets and (0, -1) not in offsets and (0, 0) not in offsets
    assert (4, 2) in offsets and (3, 4) not in offsets and (4, 3) not in offsets  # 25 is not inside radius 5
    for dy, dx in offsets:
        assert (-dy, -dx) not in offsets


def test_a_path_holds_the_pixels_within_one_of_the_segment():
    paths = dict(zip(search_offsets(5), offset_paths(5)))
    assert sorted(paths[(0, 3)]) == [(0, 0), (0, 1), (0, 2), (0, 3)]
    # (0, 1) lies 0.71 from the diagonal to (2, 2); (0, 2) lies 1.41 from it.
    assert sorted(paths[(2, 2)]) == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 1), (2, 2)]
    # (1, 0) and (1, 1) lie 0.45 from the segment to (2, 1); (0, 1) and (2, 0) lie 0.89 from it.
    assert sorted(paths[(2, 1)]) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]


def test_a_boundary_on_the_path_cuts_the_affinity():
    boundary = torch.zeros(6, 9)
    boundary[:, 4] = 0.8  # a vertical wall
    affinity = pair_affinities(boundary, radius=3)  # source pixels: rows 0..3, columns 2..6
    assert affinity.shape == (len(search_offsets(3)), 4, 5)
    offsets = search_offsets(3)
    right = offsets.index((0, 1))
    # Source column 3 (index 1) to column 4 touches the wall; column 5 (index 3) to 6 does not.
    assert affinity[right, 0, 1] == pytest.approx(0.2) and affinity[right, 0, 3] == 1
    down = offsets.index((1, 0))
    assert affinity[down, :, 2].allclose(torch.tensor(0.2)) and affinity[down, :, 0].eq(1).all()


@pytest.mark.parametrize("size", [(9, 13), (12, 7)])
def test_sparse_walk_equals_the_dense_matrix_power(size):
    generator = torch.Generator().manual_seed(sum(size))
    boundary = torch.rand(size, generator=generator) ** 3
    boundary[:, size[1] // 2] = 0.9
    maps = torch.rand(3, *size, generator=generator)
    sparse = random_walk(maps, boundary, radius=5, beta=10, exp_times=8)
    dense = dense_random_walk(maps.double(), boundary.double(), radius=5, beta=10, exp_times=8)
    assert sparse.dtype == torch.float32 and sparse.shape == maps.shape
    relative = ((sparse.double() - dense).abs() / dense.abs()).max().item()
    assert relative < 1e-4
    # Few steps differ from many: the test is not comparing two no-ops.
    assert not torch.allclose(random_walk(maps, boundary, 5, 10, 1), sparse, rtol=1e-2)


def test_a_closed_boundary_keeps_the_walk_inside():
    boundary = torch.zeros(16, 16)
    boundary[3:12, 3] = boundary[3:12, 11] = boundary[3, 3:12] = boundary[11, 3:12] = 1.0
    seed = torch.zeros(1, 16, 16)
    seed[0, 7, 7] = 1.0
    walked = random_walk(seed, boundary, radius=5, beta=10, exp_times=6)[0]
    inside = walked[4:11, 4:11]
    assert (inside > 0).all() and inside.min() > 0.1 * inside.max()
    assert walked.sum() - inside.sum() < 1e-6 * walked.sum()


def test_pseudo_label_map_divides_by_the_global_maximum_and_handles_empty_cams():
    settings = RandomWalkSettings(radius=5, beta=10, exp_times=4, background_threshold=0.2)
    boundary = torch.zeros(8, 10)
    boundary[:, 5] = 1.0
    cams = torch.zeros(2, 8, 10)
    cams[0, :, :5], cams[1, :, 6:] = 1.0, 0.1  # the second class is weak wherever it is
    labels = random_walk_label_map(cams, np.array([3, 8]), boundary, (30, 40), settings)
    assert labels.shape == (30, 40) and labels.dtype == np.uint8
    assert (labels[:, :16] == 4).all() and (labels[:, -12:] == 0).all()  # 0.1 stays below the 0.2 plane
    alone = random_walk_label_map(cams[1:], np.array([8]), boundary, (30, 40), settings)
    assert (alone[:, -12:] == 9).all()  # alone, the weak class is its own maximum
    assert (random_walk_label_map(torch.zeros(2, 8, 10), np.array([3, 8]), boundary, (30, 40), settings) == 0).all()
    empty = random_walk_label_map(torch.zeros(0, 8, 10), np.array([], dtype=np.int64), boundary, (30, 40), settings)
    assert (empty == 0).all()
