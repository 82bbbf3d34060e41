"""ir_label images per second against the bare dense CRF calls on one core, times the workers.

Synthetic VOC-like 500 x 375 JPEGs with a few coloured shapes and CAM files of two labelled
classes each, the ir_label defaults (thresholds 0.30 and 0.10, gt_prob 0.7, 10 CRF iterations).
"bare" makes the stage's two CRF calls per image (crf_refined_labels at each threshold) on
images and label planes already in memory, in this one process. "ir_label" is the stage's own
path, qaclims.stages.ir_label.label_images: a process pool that reads the JPEG and npz, makes
both passes and writes the PNG. The stage should keep >= 80 % of workers x the bare rate,
and its PNGs must be the bare passes combined. pydensecrf runs on one thread, so thread
settings do not matter (OMP_NUM_THREADS=1 and 2 gave the same figures), but other load does:
run it on an otherwise idle machine with at least --workers cores.

    python benchmarks/crf_throughput.py                  # 24 images, 2 workers
    python benchmarks/crf_throughput.py --images 8 --workers 1
"""

import argparse
import os
import tempfile
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

from qaclims.cam.cam_files import load_cams
from qaclims.cam.inference import ImageCams, save_cams
from qaclims.cam.labels import planes_to_class_ids, thresholded_planes
from qaclims.config import validate_config
from qaclims.data.images import load_rgb
from qaclims.data.labels import read_label_png
from qaclims.refine.crf import crf_refined_labels
from qaclims.refine.seed_labels import (
    LabelJob,
    combine_confident_labels,
    label_images,
    settings_from_config,
)

HEIGHT, WIDTH, NUM_CLASSES = 375, 500, 20


def synthetic_image(rng: np.random.Generator) -> tuple[Image.Image, list[tuple[float, float, float, float]]]:
    """A noisy gradient with four coloured ellipses and rectangles, and their boxes (top, left, bottom, right)."""
    ramp = np.linspace(0, 1, WIDTH)[None, :, None] * rng.uniform(40, 120, 3) + rng.uniform(60, 130, 3)
    background = ramp + rng.normal(0, 12, (HEIGHT, WIDTH, 3))
    image = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    boxes = []
    for shape in range(4):
        top, left = rng.uniform(0, 0.6) * HEIGHT, rng.uniform(0, 0.6) * WIDTH
        bottom, right = top + rng.uniform(0.2, 0.4) * HEIGHT, left + rng.uniform(0.2, 0.4) * WIDTH
        colour = tuple(int(channel) for channel in rng.integers(0, 256, 3))
        (draw.ellipse if shape % 2 == 0 else draw.rectangle)([left, top, right, bottom], fill=colour)
        boxes.append((top, left, bottom, right))
    return image, boxes


def synthetic_cams(boxes, keys: np.ndarray) -> ImageCams:
    """One map per key peaking inside one of the shapes, as make_cam writes them (each normalised to 1)."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    maps = []
    for top, left, bottom, right in boxes[:len(keys)]:
        centre_y, centre_x, spread_y, spread_x = (top + bottom) / 2, (left + right) / 2, bottom - top, right - left
        maps.append(np.exp(-(((ys - centre_y) / (0.4 * spread_y)) ** 2 + ((xs - centre_x) / (0.4 * spread_x)) ** 2)))
    high_res = np.stack(maps)
    high_res /= high_res.max(axis=(1, 2), keepdims=True)
    # Numpy only: the stage forks its workers, and this process should have started no torch threads.
    return ImageCams(keys, torch.from_numpy(high_res), torch.from_numpy(np.ascontiguousarray(high_res[:, ::4, ::4])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    defaults = validate_config({})
    settings = settings_from_config(defaults["ir_label"])
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        jobs = []
        for number in range(args.images):
            image, boxes = synthetic_image(rng)
            keys = np.sort(rng.choice(NUM_CLASSES, size=2, replace=False)).astype(np.int64)
            labels = np.zeros(NUM_CLASSES, dtype=np.float32)
            labels[keys] = 1
            image_path, cam_path = os.path.join(folder, f"{number}.jpg"), os.path.join(folder, f"{number}.npz")
            image.save(image_path, quality=90)
            save_cams(cam_path, synthetic_cams(boxes, keys), defaults["make_cam"]["dtype"])
            jobs.append(LabelJob(image_path, cam_path, labels, os.path.join(folder, f"{number}.png")))

        # The bare inputs come from the same files, so both paths label the same pixels.
        images = [np.asarray(load_rgb(job.image_path)) for job in jobs]
        cams = [load_cams(job.cam_path) for job in jobs]
        thresholds = (settings.foreground_threshold, settings.background_threshold)
        planes = [[thresholded_planes(cam["high_res"], threshold) for threshold in thresholds] for cam in cams]
        num_labels = [len(cam["keys"]) + 1 for cam in cams]
        crf_refined_labels(images[0], planes[0][0], num_labels[0], settings.gt_prob, settings.crf)  # warm-up
        start = time.perf_counter()
        passes = [[crf_refined_labels(image, plane, count, settings.gt_prob, settings.crf) for plane in pair]
                  for image, pair, count in zip(images, planes, num_labels)]
        bare = args.images / (time.perf_counter() - start)

        start = time.perf_counter()
        label_images(jobs, settings, workers=args.workers)
        stage = args.images / (time.perf_counter() - start)

        # Same work on both sides: the stage's files must be the bare passes combined.
        expected = [planes_to_class_ids(combine_confident_labels(*pair), cam["keys"]) for pair, cam in zip(passes, cams)]
        written = [read_label_png(job.out_path) for job in jobs]
        assert all(np.array_equal(a, b) for a, b in zip(expected, written)), "ir_label wrote other labels than the bare CRF"
    print(f"{args.images} images of {WIDTH}x{HEIGHT}, 2 classes each, {settings.crf.iterations} CRF iterations, "
          f"{os.cpu_count()} cores")
    print(f"bare CRF, 1 core:        {bare:.3f} images/s")
    print(f"ir_label, {args.workers} workers:     {stage:.3f} images/s  "
          f"({100 * stage / (args.workers * bare):.1f} % of {args.workers} x the bare rate; target >= 80 %)")


if __name__ == "__main__":
    main()
