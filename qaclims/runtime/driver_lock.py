"""Recovery from a workflow driver killed outright, which leaves its lock in the working folder.

A driver killed by SIGKILL, a power loss or a lost session leaves the lock folder ``.snakemake/locks`` behind,
and the same command then refuses to start until it is unlocked by hand. Every driver holds an exclusive lock
on a file of its own, ``.snakemake/qaclims-driver.lock``, for its whole life; the kernel drops it when the
process dies. A driver that gets that lock knows that no other driver of this host runs in the folder, so a
lock folder left by this host is stale. A lock folder left by another host is kept: this host cannot tell
whether that driver still runs.
"""

import fcntl
import os
import shutil
import sys


def hold_driver_lock(workdir, host):
    """Take the driver lock of ``workdir`` for this process, removing a stale lock folder left by ``host``.

    Returns the open driver lock file, which the caller keeps open while it runs, or None when another driver
    holds it (then the other driver's own lock stops this one where their outputs overlap).
    """
    metadata = os.path.join(workdir, ".snakemake")
    os.makedirs(metadata, exist_ok=True)
    driver_lock = open(os.path.join(metadata, "qaclims-driver.lock"), "a+")
    try:
        fcntl.flock(driver_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        driver_lock.close()
        return None
    driver_lock.seek(0)
    last_host = driver_lock.read().strip()
    locks = os.path.join(metadata, "locks")
    held_locks = os.path.isdir(locks) and os.listdir(locks)
    if held_locks and last_host not in ("", host):
        # The host that owns the locks stays recorded, so that a later driver of this host keeps them too.
        return driver_lock
    if held_locks:
        print("qaclims: removing the lock that a killed Snakemake left in this folder", file=sys.stderr)
        shutil.rmtree(locks)
    driver_lock.seek(0)
    driver_lock.truncate()
    driver_lock.write(host)
    driver_lock.flush()
    return driver_lock
