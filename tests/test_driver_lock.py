"""One driver per working folder and per output folder, beside which commands that only read go through; the
lock a killed workflow driver leaves behind is removed only when it is certainly stale."""

import os
import subprocess
import sys

import pytest
from workflow_runs import REPO, snakemake

from qaclims.cli import main
from qaclims.errors import QaclimsError
from qaclims.runtime.driver_lock import (
    hold_driver_lock,
    hold_driver_locks,
    job_locks_folder,
    reads_only,
)
from qaclims.runtime.job_locks import JOB_LOCKS_VARIABLE, live_jobs


def left_lock(workdir, recorded_host):
    """A working folder as a driver of ``recorded_host`` leaves it when it is killed: a lock in Snakemake's
    lock folder, and its host in the driver lock file."""
    locks = workdir / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text("results/vqa/shard-0.parquet\n")
    (workdir / ".snakemake" / "qaclims-driver.lock").write_text(recorded_host)
    return locks


def test_a_lock_left_by_this_host_is_removed_when_no_driver_runs(tmp_path, capsys):
    locks = left_lock(tmp_path, "node-a")
    driver_lock = hold_driver_lock(tmp_path, "node-a")
    try:
        assert driver_lock is not None
        assert not locks.exists()
        assert "removing the lock" in capsys.readouterr().err
    finally:
        driver_lock.close()


# A process that waits for a line on stdin, takes the driver lock of the folder argv[1], says whether it holds it
# (or the refusal), and keeps it until its stdin closes.
DRIVER = """
import sys
from qaclims.errors import QaclimsError
from qaclims.runtime.driver_lock import hold_driver_lock
sys.stdin.readline()
try:
    driver_lock = hold_driver_lock(sys.argv[1], "node-a")
    print("held", flush=True)
except QaclimsError as error:
    print(error, flush=True)
sys.stdin.read()
"""


def start_driver(workdir) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(workdir)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen) -> None:
    process.stdin.close()
    process.wait(timeout=30)


def test_a_second_driver_is_refused_naming_the_live_one_whose_lock_is_kept(tmp_path):
    holder = start_driver(tmp_path)
    try:
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline() == "held\n"
        # The running driver's Snakemake locks its outputs.
        locks = tmp_path / ".snakemake" / "locks"
        locks.mkdir()
        (locks / "0.output.lock").write_text("results/vqa/shard-0.parquet\n")
        with pytest.raises(QaclimsError, match=f"another Snakemake \\(PID {holder.pid}\\) runs the workflow"):
            hold_driver_lock(tmp_path, "node-a")
        assert (locks / "0.output.lock").exists()
    finally:
        stop(holder)


def test_of_two_drivers_started_at_the_same_instant_one_runs_and_the_other_names_it(tmp_path):
    for attempt in range(6):
        drivers = [start_driver(tmp_path / str(attempt)) for _ in range(2)]
        try:
            for driver in drivers:
                driver.stdin.write("go\n")
            for driver in drivers:
                driver.stdin.flush()
            said = [driver.stdout.readline() for driver in drivers]
            assert sorted(said)[-1] == "held\n", said
            runner = drivers[said.index("held\n")]
            assert f"another Snakemake (PID {runner.pid})" in sorted(said)[0], said
        finally:
            for driver in drivers:
                stop(driver)


# A driver that holds the locks of the working folder argv[1] and the output folder argv[2] until its stdin closes.
FULL_DRIVER = """
import sys
from qaclims.runtime.driver_lock import hold_driver_locks
driver_locks = hold_driver_locks(sys.argv[1], sys.argv[2], "node-a", read_only=False)
print("held", flush=True)
sys.stdin.read()
"""


def test_a_driver_of_the_same_output_folder_is_refused_from_another_working_folder_unless_it_only_reads(
        tmp_path, capsys):
    output_dir = tmp_path / "results"
    holder = subprocess.Popen([sys.executable, "-c", FULL_DRIVER, str(tmp_path / "a"), str(output_dir)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(QaclimsError, match=f"another Snakemake \\(PID {holder.pid}\\) runs the workflow into "
                                               f"output_dir {output_dir};"):
            hold_driver_locks(tmp_path / "b", output_dir, "node-a", read_only=False)
        assert hold_driver_locks(tmp_path / "b", output_dir, "node-a", read_only=True) == []
        assert f"reading only, beside the run that holds the folder (another Snakemake (PID {holder.pid})" in (
            capsys.readouterr().err)
        # The refused driver let go of its working folder's lock.
        elsewhere = hold_driver_locks(tmp_path / "b", tmp_path / "other-results", "node-a", read_only=False)
        assert len(elsewhere) == 2
        for lock in elsewhere:
            lock.close()
    finally:
        stop(holder)


def test_a_dry_run_of_the_workflow_goes_through_beside_a_driver_of_its_output_folder(tmp_path):
    # The driver runs in another working folder: the dry run gets its own folder's lock, not the output folder's.
    workdir = tmp_path / "work"
    holder = subprocess.Popen([sys.executable, "-c", FULL_DRIVER, str(tmp_path / "other"), str(workdir / "results")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        dry_run = snakemake(REPO, workdir, "--dry-run", "--quiet")
        assert dry_run.returncode == 0, dry_run.stderr
        assert (f"reading only, beside the run that holds the folder (another Snakemake (PID {holder.pid}) runs the "
                f"workflow into output_dir {workdir / 'results'};") in dry_run.stderr
    finally:
        stop(holder)


@pytest.mark.parametrize(("arguments", "dry_run", "read_only"), [
    (["--cores", "2"], True, True),
    (["--summary"], False, True),
    (["-S"], False, True),
    (["--list-changes", "code"], False, True),
    (["--lc=input"], False, True),
    (["--detailed-summary"], False, True),
    (["--dag"], False, True),
    (["--cores", "2", "--rerun-incomplete"], False, False),
    (["--configfile", "site.yaml", "--forceall"], False, False),
])
def test_dry_runs_and_summaries_read_only(arguments, dry_run, read_only):
    assert reads_only(["snakemake", *arguments], dry_run) == read_only


# A job of a killed driver: a process that holds its job lock in the folder argv[1] until its stdin closes.
ORPHAN_JOB = """
import sys
from qaclims.runtime.job_locks import job_lock
with job_lock(sys.argv[1]):
    print("running", flush=True)
    sys.stdin.read()
"""


def test_a_killed_drivers_lock_is_kept_while_its_jobs_run_and_their_pids_are_named(tmp_path):
    locks = left_lock(tmp_path, "node-a")
    job = subprocess.Popen([sys.executable, "-c", ORPHAN_JOB, job_locks_folder(tmp_path)], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    try:
        assert job.stdout.readline() == "running\n"
        with pytest.raises(QaclimsError, match=f"jobs of a Snakemake that was killed still run .*PIDs {job.pid};"):
            hold_driver_lock(tmp_path, "node-a")
        assert (locks / "0.output.lock").exists()
    finally:
        stop(job)
    driver_lock = hold_driver_lock(tmp_path, "node-a")
    driver_lock.close()
    assert not locks.exists() and live_jobs(job_locks_folder(tmp_path)) == []


def test_a_stage_run_by_the_workflow_holds_its_job_lock_while_it_runs(tmp_path, monkeypatch):
    folder = tmp_path / "jobs"
    monkeypatch.setenv(JOB_LOCKS_VARIABLE, str(folder))
    seen = []
    monkeypatch.setattr("qaclims.stages.vqa_merge.run", lambda args: seen.append(live_jobs(folder)))
    assert main(["vqa-merge", "--shards", "a.parquet", "--out", "b.parquet"]) == 0
    assert seen == [[os.getpid()]] and live_jobs(folder) == []


def test_a_lock_left_by_another_host_is_kept_also_on_the_next_run(tmp_path):
    locks = left_lock(tmp_path, "node-b")
    for _ in range(2):
        driver_lock = hold_driver_lock(tmp_path, "node-a")
        assert driver_lock is not None
        driver_lock.close()
        assert (locks / "0.output.lock").exists()


def test_a_driver_records_its_host_in_a_fresh_folder(tmp_path):
    driver_lock = hold_driver_lock(tmp_path, "node-a")
    try:
        assert (tmp_path / ".snakemake" / "qaclims-driver.lock").read_text() == f"node-a\n{os.getpid()}\n"
    finally:
        driver_lock.close()
