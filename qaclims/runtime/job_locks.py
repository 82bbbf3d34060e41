"""Locks that the jobs of a workflow run hold while they live, so that a later driver sees them.

A driver killed alone leaves its jobs running. Each job holds an exclusive lock on a file of its own,
``<pid>.lock`` in the run's job lock folder, for its whole life; processes it forks (data loader workers, CRF
workers) share the lock, and the kernel drops it when the last of them dies.
"""

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

# The folder of the job locks, which the workflow sets for the jobs it starts.
JOB_LOCKS_VARIABLE = "QACLIMS_JOB_LOCKS"


@contextlib.contextmanager
def job_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold this process's job lock in ``folder`` while the block runs."""
    path = Path(folder) / f"{os.getpid()}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)


def live_jobs(folder: str | os.PathLike) -> list[int]:
    """PIDs of the jobs whose lock in ``folder`` is held, removing the locks of jobs that are gone."""
    folder, live = Path(folder), []
    for path in sorted(folder.glob("*.lock")) if folder.is_dir() else []:
        with open(path) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                live.append(int(path.stem))
                continue
            path.unlink()
    return sorted(live)
