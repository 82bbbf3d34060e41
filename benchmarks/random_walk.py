"""The sparse random walk against the dense reference: seconds, peak memory, and the labels they give.

One VOC-sized image (500 x 375, so a 94 x 125 stride-4 grid), K = 3 class maps, radius 5,
beta 10, exp_times 8, on CPU. "sparse" is qaclims.refine.random_walk.random_walk, which multiplies the
maps by a sparse transition matrix 256 times; "dense" is dense_random_walk, the reference's
HW x HW matrix squared 8 times. Each runs in a fresh child process so that its peak resident
memory (ru_maxrss) is its own; the growth is counted from after the inputs are built. The
walked maps then go through the pseudo_label stage's labelling (x4 bilinear, crop, one global
maximum, background plane 0.20, argmax) and the two label maps are compared pixel by pixel.
The inputs are synthetic: smooth blobs whose outlines are boundaries, CAMs peaking inside them.

    python benchmarks/random_walk.py                           # full size; dense takes minutes
    python benchmarks/random_walk.py --height 120 --width 160  # quick
    python benchmarks/random_walk.py --device cuda             # both walks on the GPU, peak GPU memory instead

The last line is the sparse walk's metrics record (benchmarks/gpu_table.py reads it).
"""

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from qaclims.refine.random_walk import (
    RandomWalkSettings,
    dense_random_walk,
    random_walk,
    random_walk_label_map,
    walked_label_map,
)
from qaclims.runtime.device import resolve_device
from qaclims.runtime.stage_metrics import peak_gpu_memory_mb, print_metrics

RADIUS, BETA, EXP_TIMES = 5, 10, 8  # the pseudo_label stage's defaults
BACKGROUND_THRESHOLD = 0.20
KEYS = np.array([2, 7, 14])  # three labelled classes of the twenty


def synthetic_inputs(grid_height: int, grid_width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(CAM maps [K, h, w] in [0, 1], boundary map [h, w] in [0, 1]) on the stride-4 grid, the same for every seed."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:grid_height, 0:grid_width].astype(np.float64)
    boundary = np.full((grid_height, grid_width), 0.05)
    maps = []
    for blob in range(len(KEYS) + 1):  # one blob more than classes: an unlabelled object the walk must not fill
        centre_y, centre_x = rng.uniform(0.25, 0.75) * grid_height, rng.uniform(0.2, 0.8) * grid_width
        radius_y, radius_x = rng.uniform(0.12, 0.3) * grid_height, rng.uniform(0.1, 0.25) * grid_width
        # Distance from the centre in radii: 1 on the outline.
        spread = np.hypot((ys - centre_y) / radius_y, (xs - centre_x) / radius_x)
        outline_pixels = (spread - 1) * min(radius_y, radius_x)
        boundary = np.maximum(boundary, 0.9 * np.exp(-(outline_pixels / 1.2) ** 2))
        if blob < len(KEYS):
            # A CAM covers only the most discriminative part of its object: a peak off the centre.
            peak_y, peak_x = centre_y + 0.4 * radius_y, centre_x - 0.3 * radius_x
            cam = np.exp(-(((ys - peak_y) / (0.4 * radius_y)) ** 2 + ((xs - peak_x) / (0.4 * radius_x)) ** 2))
            maps.append(cam + rng.uniform(0, 0.05, cam.shape))
    boundary = np.clip(boundary + rng.normal(0, 0.03, boundary.shape), 0, 1)
    maps = np.stack(maps)
    maps /= maps.max(axis=(1, 2), keepdims=True)  # as make_cam normalises each class by its maximum
    return torch.from_numpy(maps).float(), torch.from_numpy(boundary).float()


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure_in_this_process(method: str, height: int, width: int, save_path: str, device: torch.device) -> dict:
    """Walk with one method here and return its seconds, its peak resident memory growth and the process's peak
    GPU memory (None off CUDA); the walked maps go to save_path."""
    walk = {"sparse": random_walk, "dense": dense_random_walk}[method]

    def walk_on_device(maps, boundary):
        return walk(maps.to(device), boundary.to(device), RADIUS, BETA, EXP_TIMES).cpu()  # .cpu() waits for the GPU

    # A tiny walk first, so that loading kernels and libraries is not counted.
    walk_on_device(*synthetic_inputs(8, 8))
    maps, boundary = synthetic_inputs(math.ceil(height / 4), math.ceil(width / 4))
    before = peak_mib()
    start = time.perf_counter()
    walked = walk_on_device(maps, boundary)
    seconds = time.perf_counter() - start
    growth = peak_mib() - before
    np.save(save_path, walked.numpy())
    return {"seconds": seconds, "peak_growth_mib": growth, "peak_gpu_mb": peak_gpu_memory_mb(device)}


def measure_in_child(method: str, height: int, width: int, save_path: str, device: str) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--method", method, "--height", str(height),
               "--width", str(width), "--save", save_path, "--device", device]
    finished = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(finished.stdout.strip().splitlines()[-1])


def memory_mib(result: dict) -> float:
    """The walk's memory: the child's peak GPU memory on CUDA, else the growth of its peak resident memory."""
    return result["peak_gpu_mb"] if result["peak_gpu_mb"] is not None else result["peak_growth_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--method", choices=["sparse", "dense"], help="internal: measure one method in this process")
    parser.add_argument("--save", help="internal: where --method writes its walked maps (.npy)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if args.method:
        print(json.dumps(measure_in_this_process(args.method, args.height, args.width, args.save, device)))
        return

    grid = (math.ceil(args.height / 4), math.ceil(args.width / 4))
    with tempfile.TemporaryDirectory() as folder:
        results, walked = {}, {}
        for method in ("sparse", "dense"):
            path = os.path.join(folder, f"{method}.npy")
            results[method] = measure_in_child(method, args.height, args.width, path, args.device)
            walked[method] = torch.from_numpy(np.load(path))
    labels = {method: walked_label_map(maps, KEYS, (args.height, args.width), BACKGROUND_THRESHOLD)
              for method, maps in walked.items()}

    # The sparse labels must be the stage's, or the comparison below says nothing about the stage.
    maps, boundary = synthetic_inputs(*grid)
    settings = RandomWalkSettings(RADIUS, BETA, EXP_TIMES, BACKGROUND_THRESHOLD)
    stage_labels = random_walk_label_map(maps, KEYS, boundary, (args.height, args.width), settings)
    assert np.array_equal(stage_labels, labels["sparse"]), "the stage labels differ from the sparse walk's"

    sparse, dense = results["sparse"], results["dense"]
    difference = (walked["sparse"].double() - walked["dense"].double()).abs().max() / walked["dense"].abs().max()
    same = (labels["sparse"] == labels["dense"]).mean()
    print(f"{args.width}x{args.height} image, {grid[0]}x{grid[1]} grid, K={len(KEYS)}, radius {RADIUS}, beta {BETA}, "
          f"exp_times {EXP_TIMES}, {device}, {torch.get_num_threads()} threads")
    memory_kind = "peak GPU memory" if device.type == "cuda" else "peak growth"
    for method, result in results.items():
        print(f"{method:6s}: {result['seconds']:9.3f} s  {memory_mib(result):9.1f} MiB {memory_kind}")
    print(f"speed-up {dense['seconds'] / sparse['seconds']:.1f}x, memory {memory_mib(dense) / max(memory_mib(sparse), 1e-3):.1f}x "
          f"less (target >= 10x each)")
    print(f"identical labels: {100 * same:.4f} % of {labels['sparse'].size} pixels "
          f"(classes in the sparse labels: {np.unique(labels['sparse']).tolist()})")
    print(f"max |sparse - dense| / max |dense| of the walked maps: {difference:.2e}")
    print_metrics(1, sparse["seconds"], "img", sparse["peak_gpu_mb"])


if __name__ == "__main__":
    main()
