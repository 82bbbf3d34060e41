"""A demo run killed outright picks up where it stopped when the same command runs again, and ends
with the scores and weights of a run that was never killed.

The run is killed as a power loss would: SIGKILL to Snakemake and every job it started. Then
the plain command runs again, with no --unlock and no --rerun-incomplete.
"""

import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import torch
from workflow_runs import (
    TINY,
    copy_checkout,
    dry_run_plan,
    snakemake,
    snakemake_command,
    write_config,
)

pytestmark = pytest.mark.workflow

# IRN trains long enough to be killed between checkpoints; ir_label's two shards run one after the other
# (each wants both cores), so a kill can fall between them. No ablation variants: their CAM jobs would run beside
# the refinement, so a kill there would also leave them unfinished.
RESUMABLE = {**TINY, "irn": {**TINY["irn"], "epochs": 6, "checkpoint_every": 2},
             "ir_label": {"threads": 2}, "ritc": {**TINY["ritc"], "variants": None}}


def start(checkout: Path, workdir: Path, config: str) -> subprocess.Popen:
    return subprocess.Popen(snakemake_command(checkout, workdir, "--configfile", config), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def wait_for(condition, run: subprocess.Popen, what: str, timeout: float = 400) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if run.poll() is not None:
            pytest.fail(f"the run ended before {what}:\n{run.stdout.read()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def kill_everything(run: subprocess.Popen) -> None:
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()


STALE_LOCK_REMOVED = "removing the lock that a killed Snakemake left"


def planned(checkout: Path, workdir: Path, config: str) -> tuple[Counter, str]:
    """The jobs per rule a dry run plans, and what it printed."""
    result = snakemake(checkout, workdir, "--configfile", config, "--dry-run")
    return dry_run_plan(result), result.stdout + result.stderr


def assert_same_scores_and_weights(resumed: Path, uninterrupted: Path) -> None:
    scores = sorted(path.relative_to(uninterrupted) for path in (uninterrupted / "eval").rglob("*.json"))
    assert {"eval/seg.json", "eval/pseudo.json", "eval/ritc/cam.json"} <= {path.as_posix() for path in scores}
    for score in scores:
        assert json.loads((resumed / score).read_text()) == json.loads((uninterrupted / score).read_text()), score
    for name in ("cam/baseline.pt", "cam/ritc.pt", "irn/irn.pt", "seg/deeplab.pt"):
        got, want = (torch.load(folder / name, weights_only=True) for folder in (resumed, uninterrupted))
        assert {key: got[key] for key in got if key != "state_dict"} == {
            key: want[key] for key in want if key != "state_dict"}, name
        assert got["state_dict"].keys() == want["state_dict"].keys(), name
        assert all(torch.equal(got["state_dict"][key], want["state_dict"][key]) for key in want["state_dict"]), name


def test_a_killed_run_resumes_training_and_redoes_only_unfinished_shards(tmp_path):
    checkout = copy_checkout(tmp_path / "checkout")
    workdir = tmp_path / "work"
    workdir.mkdir()
    config = write_config(tmp_path / "resumable.yaml", RESUMABLE)
    results = workdir / "results"
    shards = [results / "ir_label" / f"shard-{k}" for k in range(2)]

    first = start(checkout, workdir, config)
    # A second driver in the same folder is refused, and leaves the running one's lock alone.
    wait_for(lambda: any((workdir / ".snakemake" / "locks").glob("*.lock")), first, "the first run's lock")
    concurrent = snakemake(checkout, workdir, "--configfile", config)
    assert concurrent.returncode != 0 and f"another Snakemake (PID {first.pid})" in concurrent.stdout + concurrent.stderr
    # Killed while the second shard is half written: the first one has finished, and Snakemake has noted it.
    wait_for(lambda: any(shard.is_dir() for shard in shards) and any((results / "ir_label").glob(".shard-*.work/*/items/*")),
             first, "one seed-label shard finished and the other one started")
    kill_everything(first)
    assert [shard.is_dir() for shard in shards].count(True) == 1
    unfinished = next(shard for shard in shards if not shard.is_dir())
    kept = len(list(unfinished.parent.glob(f".{unfinished.name}.work/*/items/*.png")))

    after_first_kill, output = planned(checkout, workdir, config)
    assert STALE_LOCK_REMOVED in output
    assert after_first_kill["ir_label"] == 1 and "make_cam" not in after_first_kill

    checkpoints = results / "checkpoints" / "train_irn"
    second = start(checkout, workdir, config)
    wait_for(lambda: any(checkpoints.rglob("last.pt")), second, "an IRN checkpoint")
    kill_everything(second)
    assert all(shard.is_dir() for shard in shards) and not (results / "irn" / "irn.pt").exists()
    after_second_kill, output = planned(checkout, workdir, config)
    assert STALE_LOCK_REMOVED in output
    assert "train_irn" in after_second_kill and "ir_label" not in after_second_kill

    finished = snakemake(checkout, workdir, "--configfile", config)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    # The unfinished seed-label shard kept the images it had labelled, and labelled only the rest.
    shard_log = (results / "logs" / "ir_label" / f"{unfinished.name}.log").read_text()
    assert kept > 0 and f"kept {kept} of {len(list(unfinished.glob('*.png')))} images" in shard_log
    resumed = re.search(r"resuming from .* at step (\d+)", (results / "logs" / "train_irn.log").read_text())
    assert resumed and int(resumed.group(1)) >= 2
    assert planned(checkout, workdir, config)[0] == Counter()

    never_killed = tmp_path / "never-killed"
    never_killed.mkdir()
    uninterrupted = snakemake(checkout, never_killed, "--configfile", config)
    assert uninterrupted.returncode == 0, uninterrupted.stdout + uninterrupted.stderr
    assert_same_scores_and_weights(results, never_killed / "results")
    # IRNet's curve too, but for the speed: the steps the killed job logged after its checkpoint are not doubled.
    resumed_curve, whole_curve = (pd.read_csv(folder / "logs" / "train_irn.curve.csv").drop(columns="images_per_second")
                                  for folder in (results, never_killed / "results"))
    pd.testing.assert_frame_equal(resumed_curve, whole_curve)
