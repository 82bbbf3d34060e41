"""The lock a killed workflow driver leaves behind is removed only when it is certainly stale."""

import subprocess
import sys

from qaclims.runtime.driver_lock import hold_driver_lock


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


# Another driver: a process that holds the driver lock until its stdin closes.
LIVE_DRIVER = """
import fcntl, sys
driver_lock = open(sys.argv[1], "a+")
fcntl.flock(driver_lock, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


def test_a_lock_held_by_a_live_driver_is_kept(tmp_path):
    locks = left_lock(tmp_path, "node-a")
    holder = subprocess.Popen([sys.executable, "-c", LIVE_DRIVER, str(tmp_path / ".snakemake" / "qaclims-driver.lock")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert hold_driver_lock(tmp_path, "node-a") is None
        assert (locks / "0.output.lock").exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


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
        assert (tmp_path / ".snakemake" / "qaclims-driver.lock").read_text() == "node-a"
        # A second driver of the same folder finds the lock taken.
        assert hold_driver_lock(tmp_path, "node-a") is None
    finally:
        driver_lock.close()
