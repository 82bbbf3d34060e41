"""Questions answered per second by each answerer family: batched against one question per call, on CPU.

Each family is the tiny random model of qaclims/models/tiny_answerers.py (two-layer towers, 32 wide), loaded
through the stage's loader. It answers the 16 QA-CLIMS questions about each of ``--images`` images twice:
one question per call through transformers' own ``generate`` (the image encoded with every question), and
as the vqa stage asks them, ``--batch-size`` questions of any images and lengths per call. The tiny models
measure the answerer's overhead (preprocessing, padding, calls), not a real model's compute.

    python benchmarks/answerer_throughput.py
"""

import argparse
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from qaclims.config import validate_config
from qaclims.models.tiny_answerers import TINY_ANSWERERS, write_tiny_answerer
from qaclims.vqa.answerers import load_answerer
from qaclims.vqa.questions import questions_for_classes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)) for _ in range(args.images)]
    questions = [question.text for question in questions_for_classes(["dog"])] * args.images
    owners = np.repeat(np.arange(args.images), len(questions) // args.images)
    section = validate_config({})["vqa"]
    print(f"{len(questions)} questions about {args.images} images, {args.threads} CPU thread(s), "
          f"batch {args.batch_size}")
    print(f"{'family':<14}{'one at a time (q/s)':>22}{'batched (q/s)':>16}{'speed-up':>10}")
    with tempfile.TemporaryDirectory() as folder:
        for model_type in TINY_ANSWERERS:
            answerer = load_answerer(write_tiny_answerer(model_type, f"{folder}/{model_type}"), section,
                                     torch.device("cpu"), "fp32")[0]
            start = time.perf_counter()
            for owner, question in zip(owners, questions):
                answerer.answer_one(images[owner], question)
            one_at_a_time = len(questions) / (time.perf_counter() - start)
            start = time.perf_counter()
            answerer.answer(images, questions, owners, args.batch_size)
            batched = len(questions) / (time.perf_counter() - start)
            print(f"{model_type:<14}{one_at_a_time:>22.1f}{batched:>16.1f}{batched / one_at_a_time:>9.1f}x")


if __name__ == "__main__":
    main()
