"""make_cam images per second against the bare network forward over the same scales and flips.

ResNet-50 CAM network with random weights, VOC-like 500 x 375 JPEGs, scales (1.0, 0.5, 1.5, 2.0)
each with its mirror. "make_cam" is the stage's own path: JPEG decoding and rescaling in a
loader worker, the forward, flips, resizing, class selection, normalisation and the npz
write. "bare forward" only runs the network on inputs prepared beforehand.

    python benchmarks/make_cam_throughput.py            # CPU, 4 images
    python benchmarks/make_cam_throughput.py --device cuda --images 32
"""

import argparse
import os
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from qaclims.cam.inference import (
    ScaledImages,
    multiscale_cams,
    save_cams,
    scaled_inputs,
)
from qaclims.config import validate_config
from qaclims.models.cam import QACLIMSNetwork
from qaclims.runtime.device import resolve_device

SCALES = [1.0, 0.5, 1.5, 2.0]


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=1, help="loader workers, as the stage uses threads - 1")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    network = QACLIMSNetwork("resnet50", 20).to(device).eval()
    dtype = validate_config({})["make_cam"]["dtype"]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for number in range(args.images):
            path = os.path.join(folder, f"{number}.jpg")
            Image.fromarray(rng.integers(0, 256, size=(375, 500, 3), dtype=np.uint8)).save(path, quality=90)
            paths.append(path)
        keys = np.array([3, 14])

        prepared = [scaled_inputs(Image.open(path).convert("RGB"), SCALES) for path in paths]
        with torch.no_grad():
            network.cam_logits(torch.stack([prepared[0][0]] * 2).to(device))  # warm-up
            synchronise(device)
            start = time.perf_counter()
            for inputs in prepared:
                for scaled in inputs:
                    network.cam_logits(torch.stack([scaled, scaled.flip(-1)]).to(device))
            synchronise(device)
        bare = args.images / (time.perf_counter() - start)

        loader = torch.utils.data.DataLoader(ScaledImages(paths, SCALES), batch_size=None, num_workers=args.workers)
        synchronise(device)
        start = time.perf_counter()
        for position, height, width, inputs in loader:
            cams = multiscale_cams(network.cam_logits, inputs, height, width, keys, device)
            save_cams(os.path.join(folder, f"out-{position}.npz"), cams, dtype)
        synchronise(device)
        full = args.images / (time.perf_counter() - start)
    print(f"{args.images} images of 500x375, scales {SCALES} with flips, ResNet-50, {device}, "
          f"{torch.get_num_threads()} threads")
    print(f"bare forward: {bare:.3f} images/s")
    print(f"make_cam:     {full:.3f} images/s  ({100 * full / bare:.1f} % of the bare forward rate; target >= 85 %)")


if __name__ == "__main__":
    main()
