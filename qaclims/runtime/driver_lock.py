"""One workflow driver per working folder, and recovery from a driver killed outright.

Every driver holds an exclusive lock on ``.snakemake/qaclims-driver.lock`` for its whole life and records its host
and PID in it; the kernel drops the lock when the process dies. A second driver is refused here, naming the first:
Snakemake's own lock has a gap between its check and its write, through which two drivers that start at the same
instant both run.

A driver killed by SIGKILL, a power loss or a lost session leaves Snakemake's lock folder ``.snakemake/locks``
behind, and the same command would refuse to start until it is unlocked by hand. A driver that gets the driver
lock knows that no other driver of this host runs in the folder, so a lock folder left by this host is stale,
unless jobs of the killed driver still run (they hold job locks, see job_locks.py): then it is refused, naming
them, as they would still rewrite their outputs. A lock folder left by another host is kept: this host cannot
tell whether that driver still runs.

The output folder has a driver lock of its own, ``.qaclims-driver.lock`` in it, as drivers in two working folders
with the same output_dir would write the same files. A command that only reads (a dry run, --summary,
--list-changes, ...) goes through while another driver runs, without the locks.
"""

import fcntl
import os
import shutil
import sys
import time

from qaclims.errors import QaclimsError
from qaclims.runtime.job_locks import live_jobs


def job_locks_folder(workdir) -> str:
    return os.path.join(workdir, ".snakemake", "qaclims-jobs")


def _running_driver(driver_lock) -> str:
    """The PID that the driver holding ``driver_lock`` records, which it writes just after taking the lock."""
    deadline = time.monotonic() + 2
    while True:
        driver_lock.seek(0)
        lines = driver_lock.read().splitlines()
        pid = int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else None
        if pid is not None and _alive(pid) or time.monotonic() > deadline:
            return str(pid) if pid is not None else "unknown"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class FolderInUse(QaclimsError):
    """Another driver, or jobs of a killed one, write in the folder."""


def _exclusive_lock(path: str, where: str):
    """The open lock file ``path``, locked for this process; FolderInUse naming the holder's PID if another holds it."""
    driver_lock = open(path, "a+")
    try:
        fcntl.flock(driver_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _running_driver(driver_lock)
        driver_lock.close()
        raise FolderInUse(f"another Snakemake (PID {pid}) runs the workflow {where}; wait for it to end, or stop it, "
                          "before starting one") from None
    return driver_lock


def hold_driver_lock(workdir, host):
    """Take the driver lock of ``workdir`` for this process, removing a stale lock folder left by ``host``.

    Returns the open driver lock file, which the caller keeps open while it runs. Raises FolderInUse naming the
    PIDs when another driver, or jobs of a killed one, run in the folder.
    """
    metadata = os.path.join(workdir, ".snakemake")
    os.makedirs(metadata, exist_ok=True)
    driver_lock = _exclusive_lock(os.path.join(metadata, "qaclims-driver.lock"), f"in {os.path.abspath(workdir)}")
    driver_lock.seek(0)
    last_host = (driver_lock.read().splitlines() or [""])[0].strip()
    locks = os.path.join(metadata, "locks")
    held_locks = os.path.isdir(locks) and os.listdir(locks)
    # The host that owns the locks stays recorded, so that a later driver of this host keeps them too.
    keeps_locks = held_locks and last_host not in ("", host)
    driver_lock.seek(0)
    driver_lock.truncate()
    driver_lock.write(f"{last_host if keeps_locks else host}\n{os.getpid()}\n")
    driver_lock.flush()
    jobs = live_jobs(job_locks_folder(workdir))
    if jobs:
        driver_lock.close()
        raise FolderInUse(f"jobs of a Snakemake that was killed still run in {os.path.abspath(workdir)} and would "
                           f"rewrite their outputs: PIDs {', '.join(map(str, jobs))}; wait for them to end, or end "
                           "them, then run again")
    if held_locks and not keeps_locks:
        print("qaclims: removing the lock that a killed Snakemake left in this folder", file=sys.stderr)
        shutil.rmtree(locks)
    return driver_lock


def hold_output_lock(output_dir, host):
    """Take the driver lock of the output folder, which it makes; returns the open lock file, like hold_driver_lock."""
    os.makedirs(output_dir, exist_ok=True)
    output_lock = _exclusive_lock(os.path.join(output_dir, ".qaclims-driver.lock"),
                                  f"into output_dir {os.path.abspath(output_dir)}")
    output_lock.truncate(0)
    output_lock.write(f"{host}\n{os.getpid()}\n")
    output_lock.flush()
    return output_lock


# Snakemake's options that only read the workflow's state, as the command line spells them; a dry run, whatever its
# spelling (-n, -np, --dry-run), the workflow itself knows.
READ_ONLY_OPTIONS = {
    "--summary", "-S", "--detailed-summary", "-D", "--list-changes", "--lc", "--list-input-changes", "--li",
    "--list-params-changes", "--lp", "--list-code-changes", "--list-untracked", "--lu", "--list-rules", "--list",
    "-l", "--list-target-rules", "--lt", "--dag", "--rulegraph", "--filegraph", "--d3dag", "--lint",
    "--print-compilation", "--list-conda-envs",
}


def reads_only(argv: list[str], dry_run: bool) -> bool:
    """Whether the Snakemake command ``argv`` (a ``dry_run`` or not) only reads the workflow's state."""
    return dry_run or any(argument.split("=")[0] in READ_ONLY_OPTIONS for argument in argv[1:])


def hold_driver_locks(workdir, output_dir, host, read_only: bool) -> list:
    """The driver locks of ``workdir`` and ``output_dir``, held while the caller runs (see hold_driver_lock).

    A ``read_only`` command that finds them held runs beside the driver that holds them, with none.
    """
    held = []
    try:
        held.append(hold_driver_lock(workdir, host))
        held.append(hold_output_lock(output_dir, host))
    except FolderInUse as refusal:
        for lock in held:
            lock.close()
        if not read_only:
            raise
        print(f"qaclims: reading only, beside the run that holds the folder ({refusal})", file=sys.stderr)
        return []
    return held
