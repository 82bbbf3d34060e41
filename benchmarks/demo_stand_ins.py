"""Seconds of the stand-in CLIP's per-batch work outside the model: its training batches and its zero-shot scores.

`training_batch` makes the region images and soft caption targets of one pretraining step of the stand-in CLIP
(qaclims.demo.pretrain_clip); `clip_scores` scores a random-weight stand-in on ground-truth regions of world
images (qaclims.demo.knowledge). Both at the demo's default sizes (demo_models.clip: 800 images, batch 64,
64 px). The CLIP tower's own time is part of `clip_scores`, not of `training_batch`. One thread; CPU seconds
are printed beside wall seconds, as they vary less on a machine that others share.

    python benchmarks/demo_stand_ins.py
    python benchmarks/demo_stand_ins.py --batches 20 --score-images 60
"""

import argparse
import tempfile
import time

import numpy as np
import torch

from qaclims.demo.knowledge import clip_scores
from qaclims.demo.pretrain_clip import (
    CONTEXT_LENGTH,
    MASK_PROMPT_DEPTH,
    PATCH_SIZE,
    WORLD_STREAM,
    caption_table,
    caption_weights,
    training_batch,
)
from qaclims.demo.regions import image_tensors
from qaclims.demo.world import BACKGROUNDS, PRETRAINING_DRAWING, world_images
from qaclims.models.demo_clip import create_demo_clip, demo_clip_config
from qaclims.models.mask_clip import MaskPromptCLIP

CLASSES = ["aeroplane", "cat", "dining table", "person", "tv monitor"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=800, help="world images to draw training batches from")
    parser.add_argument("--batches", type=int, default=50, help="training batches to time")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--score-images", type=int, default=108, help="images to score (the demo scores 108)")
    parser.add_argument("--size", type=int, default=64, help="the stand-in CLIP's input size")
    args = parser.parse_args()
    torch.set_num_threads(1)

    world = world_images([0, WORLD_STREAM], args.images, CLASSES, None, **PRETRAINING_DRAWING)
    pixels, labels = image_tensors([s.image for s in world], [s.label for s in world], args.size)
    texts, rows = caption_table(CLASSES)
    present = np.array([[k in sample.kinds for k in range(len(CLASSES))] for sample in world])
    captions = caption_weights(world, rows, len(CLASSES), len(texts))
    rng = np.random.default_rng([0, WORLD_STREAM])
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(args.batches):
        training_batch(pixels, labels, present, captions, rng, args.batch_size)
    batch_seconds, cpu_seconds = ((now - then) / args.batches for now, then in
                                  ((time.perf_counter(), start), (time.process_time(), cpu_start)))
    print(f"training_batch: {batch_seconds:.4f} s wall, {cpu_seconds:.4f} s CPU per batch of {args.batch_size} "
          f"({150 * batch_seconds:.1f} s wall over the demo's 150 steps)")

    scored = world[:args.score_images]
    with tempfile.TemporaryDirectory() as folder:
        model = create_demo_clip(folder, demo_clip_config(args.size, PATCH_SIZE, CONTEXT_LENGTH), seed=0)
    clip = MaskPromptCLIP(model, MASK_PROMPT_DEPTH)
    prompts = [torch.nn.functional.normalize(torch.randn(count, model.visual.output_dim), dim=-1)
               for count in (len(CLASSES), len(BACKGROUNDS))]
    start, cpu_start = time.perf_counter(), time.process_time()
    clip_scores(clip, *prompts, [s.image for s in scored], [s.label for s in scored],
                [sorted(s.kinds) for s in scored], [BACKGROUNDS.index(s.background) for s in scored], args.size)
    print(f"clip_scores: {time.perf_counter() - start:.2f} s wall, {time.process_time() - cpu_start:.2f} s CPU "
          f"for {len(scored)} images")


if __name__ == "__main__":
    main()
