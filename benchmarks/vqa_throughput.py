"""VQA answers per second: the reference's one-question-per-call way against our batched way.

A BLIP VQA model with the real base architecture (ViT-B/16 vision tower at 480 px, BERT-base
text encoder and decoder) and random weights answers the 16 QA-CLIMS questions about each of
8 images, twice: once one question per call with the image encoded again every time (as the
reference does), once with each image encoded once and its questions decoded together.
The weights are drawn with BLIP's own spread (0.02): a much wider spread makes a base-size
network chaotic, and float rounding alone then changes answers.

    python benchmarks/vqa_throughput.py                 # CPU, the issue's setting
    python benchmarks/vqa_throughput.py --device cuda --precision bf16   # on a GPU machine

The last line is the batched way's metrics record (benchmarks/gpu_table.py reads it). The real model of the
presets, Salesforce/blip-vqa-capfilt-large, has this base architecture: "large" names CapFilt's data.
"""

import argparse
import time

import numpy as np
import torch
from PIL import Image

from qaclims.models.demo_blip import (
    BASE_LAYERS,
    BLIP_INITIALIZER_RANGE,
    build_random_blip,
)
from qaclims.runtime.device import resolve_device
from qaclims.runtime.stage_metrics import peak_gpu_memory_mb, print_metrics
from qaclims.vqa.answering import BlipAnswerer, GenerationSettings
from qaclims.vqa.questions import questions_for_classes

BLIP_NATIVE_SIZE = 384  # the size of the hub's BLIP conversions; the reference asks at 480
BERT_BASE_VOCAB = 30524


def random_images(count: int, rng: np.random.Generator) -> list[Image.Image]:
    return [Image.fromarray(rng.integers(0, 256, size=(375, 500, 3), dtype=np.uint8)) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=480)
    parser.add_argument("--batch-size", type=int, default=128, help="most questions per decoder call")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--init-std", type=float, default=BLIP_INITIALIZER_RANGE,
                        help="spread of the random weights (BLIP's own by default)")
    args = parser.parse_args()

    device = resolve_device(args.device)
    model, processor = build_random_blip(BASE_LAYERS, BLIP_NATIVE_SIZE, seed=0, initializer_range=args.init_std,
                                         vocab_size=BERT_BASE_VOCAB)
    answerer = BlipAnswerer(model.to(device), processor, GenerationSettings(image_size=args.image_size), args.precision)
    rng = np.random.default_rng(0)
    images = random_images(args.images, rng)
    classes = list(rng.choice(["cat", "dog", "dining table", "person", "tv monitor", "bus"], size=args.images))
    questions = [question.text for name in classes for question in questions_for_classes([name])]
    owners = np.repeat(np.arange(args.images), len(questions) // args.images)
    print(f"{len(questions)} questions about {args.images} images, {args.image_size} px, on {device}, "
          f"{torch.get_num_threads()} CPU threads, {args.precision}")

    def timed(function):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = function()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return result, time.perf_counter() - start

    # One untimed answer first: torch's one-time costs (thread pool, allocator) would otherwise fall on the way
    # timed first.
    answerer.answer_one(images[0], questions[0])
    batched, batched_seconds = timed(lambda: answerer.answer(images, questions, owners, args.batch_size))
    one_by_one, single_seconds = timed(lambda: [answerer.answer_one(images[o], q) for o, q in zip(owners, questions)])
    same = sum(a == b for a, b in zip(batched, one_by_one))
    print(f"one question per call: {len(questions) / single_seconds:8.2f} answers/s ({single_seconds:.1f} s)")
    print(f"batched:               {len(questions) / batched_seconds:8.2f} answers/s ({batched_seconds:.1f} s)")
    print(f"speed-up: {single_seconds / batched_seconds:.1f}x; identical answers: {same}/{len(questions)}; "
          f"distinct answers: {len(set(one_by_one))}")
    print_metrics(len(questions), batched_seconds, "q", peak_gpu_memory_mb(device))


if __name__ == "__main__":
    main()
