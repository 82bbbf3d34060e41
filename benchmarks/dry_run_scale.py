"""Seconds that `snakemake -n` takes with each preset at real dataset scale, and the jobs it plans.

For each preset (workflow/configs/voc12.yaml: 10,582 train_aug and 1,449 val images, train the
first 1,464 of train_aug; coco14.yaml: 82,081 train and 40,137 val images) a fake dataset is
written in a temporary folder: the split lists or annotation files that the index rule reads,
and an up-to-date index of every image (tests/dry_run_fixture.py). Then
`snakemake -n --configfile <preset> <site file>` runs in a child process, --repeats times, and
the median is printed with the planned jobs per rule. The same at a small image count
(--small-factor of each split) shows that the plan depends on the shard counts, not on the
images. Last, a dry run on the small dataset with an index whose bytes are not parquet (at the
same mtime) shows whether any rule reads the index while the DAG is built: it must plan the
same jobs. Targets: under 10 s for VOC and under 30 s for COCO, on an otherwise idle machine.

    python benchmarks/dry_run_scale.py
    python benchmarks/dry_run_scale.py --presets voc12 --repeats 1
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

from qaclims.data.classes import EXPECTED_SPLIT_COUNTS
from qaclims.data.index import read_index

REPO = Path(__file__).resolve().parents[1]
# The fake datasets and the plan parser are the tests' (tests/test_presets.py plans the same dry runs).
sys.path.insert(0, str(REPO / "tests"))
from dry_run_fixture import planned_jobs, scaled_sizes, write_fake_dataset

TARGET_SECONDS = {"voc12": 10, "coco14": 30}


def dry_run(workdir: Path, preset: Path, site: Path) -> tuple[float, subprocess.CompletedProcess]:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--dry-run", "--configfile", str(preset), str(site)]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    return time.perf_counter() - start, result


def plan(result: subprocess.CompletedProcess) -> Counter:
    if result.returncode != 0:
        raise SystemExit(f"dry run failed:\n{result.stdout}{result.stderr}")
    return planned_jobs(result.stdout + result.stderr)


def measure(folder: Path, preset: Path, sizes: dict[str, int], repeats: int) -> tuple[int, Counter, float]:
    """Write a fake dataset of ``sizes`` in ``folder``; (images, planned jobs, median seconds of the dry run)."""
    site = folder / "site.yaml"
    site.write_text(yaml.safe_dump(write_fake_dataset(folder, preset, sizes)))
    images = len(read_index(str(folder / "results" / "data" / "index.parquet")).frame)
    runs = [dry_run(folder, preset, site) for _ in range(repeats)]
    return images, plan(runs[0][1]), statistics.median(seconds for seconds, _ in runs)


def reads_index_while_planning(folder: Path, preset: Path, expected: Counter) -> bool:
    """Whether a dry run changes when the index's bytes are not parquet (its times kept)."""
    path = folder / "results" / "data" / "index.parquet"
    times = os.stat(path)
    path.write_text("not a parquet file")
    os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))
    _, result = dry_run(folder, preset, folder / "site.yaml")
    return result.returncode != 0 or planned_jobs(result.stdout + result.stderr) != expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", choices=sorted(TARGET_SECONDS), default=["voc12", "coco14"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small-factor", type=float, default=0.001, help="split sizes of the small run, as a fraction")
    args = parser.parse_args()

    for name in args.presets:
        preset = REPO / "workflow" / "configs" / f"{name}.yaml"
        full = EXPECTED_SPLIT_COUNTS[name]
        plans = {}
        with tempfile.TemporaryDirectory() as temporary:
            for label, sizes in (("full", full), ("small", scaled_sizes(full, args.small_factor))):
                images, plans[label], seconds = measure(Path(temporary) / label, preset, sizes, args.repeats)
                target = f" (target < {TARGET_SECONDS[name]} s)" if label == "full" else ""
                print(f"{name:<7} {label:<6} {images:>8,} images {sum(plans[label].values()):>5} jobs "
                      f"{seconds:6.2f} s median of {args.repeats}{target}")
            print("  jobs per rule: " + ", ".join(f"{rule} {count}" for rule, count in sorted(plans["full"].items())))
            print(f"  same plan at both sizes: {'yes' if plans['full'] == plans['small'] else 'NO'}")
            reads = reads_index_while_planning(Path(temporary) / "small", preset, plans["small"])
            print(f"  a rule reads the index while the DAG is built: {'YES' if reads else 'no'}")


if __name__ == "__main__":
    main()
