"""A job's throughput, peak GPU memory and peak resident memory, kept in a small JSON file that the run report reads.

Snakemake's benchmark records give a job's wall time and resident memory but know nothing of the GPU,
nor of how many images or questions the job went through. The cacheable rules (vqa, corpus) can have no benchmark
record at all: their metrics file is all the report knows of them.
"""

import argparse
import json
import os
import resource
import time
from collections.abc import Callable

import torch

from qaclims.runtime.atomic import write_text


def add_metrics_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics", help="JSON file to write the job's throughput and peak GPU memory to")


class Throughput:
    """Items done against a clock that starts when this is made."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self.clock = clock
        self.started = clock()
        self.items = 0

    def add(self, items: int) -> None:
        self.items += items

    @property
    def seconds(self) -> float:
        return self.clock() - self.started


def peak_gpu_memory_mb(device: torch.device) -> float | None:
    """The most memory that tensors held at once on ``device`` since the process started; None off CUDA."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def peak_rss_mb() -> float:
    """The most resident memory this process has held (Linux counts it in KiB), not that of its children."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def metrics_record(items: int, seconds: float, unit: str, peak_gpu_mb: float | None) -> dict:
    """What a metrics file holds: ``items`` (``unit``: "img", "q" or "text") done in ``seconds``, the peak GPU memory
    and this process's peak resident memory."""
    return {"items": items, "unit": unit, "seconds": round(seconds, 3),
            "per_second": items / seconds if items and seconds > 0 else None, "peak_gpu_memory_mb": peak_gpu_mb,
            "peak_rss_mb": round(peak_rss_mb(), 1)}


METRICS_LINE = "metrics: "


def print_metrics(items: int, seconds: float, unit: str, peak_gpu_mb: float | None) -> None:
    """A benchmark's result as one line of its output, a metrics record after METRICS_LINE, which
    benchmarks/gpu_table.py reads."""
    print(METRICS_LINE + json.dumps(metrics_record(items, seconds, unit, peak_gpu_mb)), flush=True)


class StageMeter:
    """Counts a stage's main loop from the moment it is made; ``write`` saves what it measured.

    ``unit`` names the items as the report shows the rate: "img" gives "img/s".
    """

    def __init__(self, device: torch.device, unit: str, clock: Callable[[], float] = time.perf_counter):
        self.device, self.unit = device, unit
        self.throughput = Throughput(clock)

    def write(self, path: str | os.PathLike | None, items: int) -> None:
        """Record ``items`` done since the start into the JSON file ``path``; nothing without a path."""
        if path is None:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # the clock stops when the GPU's work is done, not queued
        self.throughput.add(items)
        write_stage_metrics(path, metrics_record(items, self.throughput.seconds, self.unit,
                                                 peak_gpu_memory_mb(self.device)))


def write_stage_metrics(path: str | os.PathLike, record: dict) -> None:
    write_text(path, json.dumps(record, sort_keys=True) + "\n")
