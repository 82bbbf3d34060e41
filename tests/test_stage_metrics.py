"""A stage's metrics file: the items of its main loop per second, its peak GPU memory (none on a CPU) and its peak
resident memory."""

import json

import torch

from qaclims.runtime.stage_metrics import StageMeter


def test_a_stage_meter_writes_the_items_per_second_since_it_started_its_peak_rss_and_no_gpu_memory_on_a_cpu(tmp_path):
    times = iter([10.0, 14.0])
    meter = StageMeter(torch.device("cpu"), "q", clock=lambda: next(times))
    meter.write(tmp_path / "vqa/shard-0.metrics.json", 100)
    record = json.loads((tmp_path / "vqa/shard-0.metrics.json").read_text())
    peak_rss_mb = record.pop("peak_rss_mb")
    assert record == {"items": 100, "unit": "q", "seconds": 4.0, "per_second": 25.0, "peak_gpu_memory_mb": None}
    assert 50 < peak_rss_mb < 1e6  # this process's own, in MB: torch alone takes more than 50

