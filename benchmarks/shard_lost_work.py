"""Work lost to a kill inside a shard: how many finished images an ir_label shard redoes after SIGKILL.

A demo-style dataset of --images training images (96 to 160 px) in one shard, with CAM files that follow
the ground-truth masks. `qaclims ir-label` runs as a process of its own and is killed with SIGKILL once
--kill-after label files are kept in the shard's work folder; the rerun, in this process, counts the label
files it writes. Finished images redone = kept before the kill + written by the rerun - images in the shard.
The rerun's output is then compared byte for byte with an uninterrupted shard.

    python benchmarks/shard_lost_work.py                          # 60 images, killed after 25
    python benchmarks/shard_lost_work.py --images 30 --kill-after 10
"""

import argparse
import contextlib
import io
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import qaclims.refine.seed_labels as seed_labels
from qaclims.cli import main
from qaclims.data.index import read_index

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import indexed_demo_dataset, write_cams_following_masks  # noqa: E402

SPLIT = "train_aug"


def kill_when_kept(command: list[str], work: Path, kept: int) -> int:
    """Run ``command``, SIGKILL it once ``kept`` label files are in ``work``; the count kept by then."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(list(work.glob("*/items/*.png"))) < kept and process.poll() is None:
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return len(list(work.glob("*/items/*.png")))


def rerun_counting_writes(arguments: list[str]) -> tuple[int, str]:
    """(label files the rerun writes, its log), with the stage run in this process."""
    written, write = [], seed_labels.write_label_png
    seed_labels.write_label_png = lambda path, label: (written.append(path), write(path, label))
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            if main(["ir-label", *arguments]) != 0:
                raise SystemExit("the rerun of the killed shard failed")
    finally:
        seed_labels.write_label_png = write
    return len(written), log.getvalue().strip()


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--kill-after", type=int, default=25)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        index, dataset = indexed_demo_dataset(base, ["cat", "dog", "person"], seed=2, num_train=options.images // 2,
                                              num_train_extra=options.images - options.images // 2, num_val=1,
                                              min_size=96, max_size=160)
        table = read_index(str(index))
        write_cams_following_masks(table, SPLIT, base / "cams")
        arguments = ["--config", json.dumps({"dataset": dataset}), "--index", str(index), "--cams",
                     str(base / "cams"), "--threads", "1"]
        out = base / "shard"
        command = [sys.executable, "-m", "qaclims", "ir-label", *arguments, "--out", str(out)]
        kept = kill_when_kept(command, base / ".shard.work", options.kill_after)
        rewritten, log = rerun_counting_writes([*arguments, "--out", str(out)])
        if main(["ir-label", *arguments, "--out", str(base / "whole")]) != 0:
            raise SystemExit("the uninterrupted shard failed")
        same = all((out / path.name).read_bytes() == path.read_bytes() for path in (base / "whole").iterdir())
        total = len(table.split(SPLIT))
        print(log)
        print(f"images in the shard: {total}; kept before the kill: {kept}; labelled by the rerun: {rewritten}; "
              f"finished images redone: {kept + rewritten - total}; "
              f"output byte-identical to an uninterrupted shard: {same}")


if __name__ == "__main__":
    main_benchmark()
