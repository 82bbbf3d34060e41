"""benchmarks/gpu_check.sh without a GPU (its refusal, its dry run) and the table it prints (benchmarks/gpu_table.py)."""

import importlib.util
import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gpu_table", REPO / "benchmarks/gpu_table.py")
gpu_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_table)


def metrics_line(items, seconds, unit, peak):
    return "metrics: " + json.dumps({"items": items, "unit": unit, "seconds": seconds, "per_second": items / seconds,
                                     "peak_gpu_memory_mb": peak})


def test_the_table_gives_each_steps_throughput_and_peak_memory_and_marks_failed_steps(tmp_path):
    outputs = {
        "vqa_blip": f"128 questions\n{metrics_line(100, 4.0, 'q', 1500.0)}\n",
        "seg_r101": "deeplabv2 resnet101, batch 10\n",  # stopped at its time limit
        "random_walk": "Traceback ...\nRuntimeError: CUDA error: out of memory\n",
        "ddp_1_process": "1 process(es) on cuda\n",  # exited 0 without a result
        "demo": "Finished jobs\n",
    }
    for name, text in outputs.items():
        (tmp_path / f"{name}.log").write_text(text)
    for job, peak in (("train_cam", 900.0), ("make_cam/ritc-shard-0", 2500.0)):
        path = tmp_path / f"demo/logs/{job}.metrics.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"items": 8, "unit": "img", "seconds": 1.0, "per_second": 8.0,
                                    "peak_gpu_memory_mb": peak}))
    (tmp_path / "steps.tsv").write_text("demo\t0\t200\nvqa_blip\t0\t31\nseg_r101\t124\t45\n"
                                        "random_walk\t1\t12\nddp_1_process\t0\t9\n")
    rows, notes = gpu_table.table_rows(tmp_path)
    assert rows == [["demo", "ok", "200 s", "(2 GPU jobs)", "2,500 MiB"],
                    ["vqa_blip", "ok", "31 s", "25.0 q/s", "1,500 MiB"],
                    ["seg_r101", "FAILED (time limit)", "45 s", "—", "—"],
                    ["random_walk", "FAILED (exit 1)", "12 s", "—", "—"],
                    ["ddp_1_process", "FAILED (no result)", "9 s", "—", "—"]]
    assert notes == ["seg_r101: deeplabv2 resnet101, batch 10", "random_walk: RuntimeError: CUDA error: out of memory",
                     "ddp_1_process: 1 process(es) on cuda"]
    lines = gpu_table.format_table(rows).splitlines()
    assert len(lines) == 2 + len(rows) and len({len(line) for line in lines}) == 1  # the columns line up


def run_check(*arguments):
    return subprocess.run(["bash", str(REPO / "benchmarks/gpu_check.sh"), *arguments], capture_output=True, text=True,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, timeout=120)


def test_the_check_refuses_to_run_without_a_gpu():
    result = run_check()
    assert result.returncode == 2 and "no CUDA GPU is visible" in result.stderr and result.stdout == ""


def test_the_dry_run_lists_every_step_with_its_limit_within_eight_minutes():
    result = run_check("--dry-run")
    assert result.returncode == 0
    steps = [line.split(" (at most ") for line in result.stdout.splitlines()]
    assert [name for name, _ in steps] == ["demo", "vqa_blip", "ritc_vit_l14", "seg_r101", "random_walk", "ddp_1_process"]
    assert sum(int(rest.split(" s)")[0]) for _, rest in steps) <= 8 * 60


def test_a_rehearsal_steps_peak_comes_from_its_runs_results_and_its_forecast_follows_the_table(tmp_path):
    (tmp_path / "rehearsal_1_gpu.log").write_text("rehearse: the workflow ran in 250 s\n")
    (tmp_path / "steps.tsv").write_text("rehearsal_1_gpu\t0\t300\n")
    logs = tmp_path / "rehearsal_1_gpu/results/logs/train_ritc"
    logs.mkdir(parents=True)
    (logs / "ritc.metrics.json").write_text(json.dumps({"items": 16, "unit": "img", "seconds": 8.0,
                                                        "per_second": 2.0, "peak_gpu_memory_mb": 30000.0}))
    (tmp_path / "rehearsal_1_gpu-forecast.md").write_text("| stage | ... |\n")
    rows, notes = gpu_table.table_rows(tmp_path)
    assert rows == [["rehearsal_1_gpu", "ok", "300 s", "(1 GPU jobs)", "30,000 MiB"]] and notes == []
    assert gpu_table.forecasts(tmp_path) == ["rehearsal_1_gpu:\n| stage | ... |\n"]


def test_the_rehearsal_dry_run_lists_the_one_gpu_rehearsal_without_gpus():
    result = run_check("--rehearsal", "--dry-run")
    assert result.returncode == 0
    assert [line.split(" (at most ")[0] for line in result.stdout.splitlines()] == ["rehearsal_1_gpu"]
    assert "qaclims rehearse --preset voc12 --device cuda --gpus 1" in result.stdout
