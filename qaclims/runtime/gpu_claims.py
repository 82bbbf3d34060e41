"""Whole GPUs for one job at a time on a machine where nothing else hands them out.

Snakemake counts GPUs (its `gpu` resource) but does not tell a local job which ones it got
(snakemake#281): two one-GPU jobs on a two-GPU workstation would both open GPU 0. A job
claims GPUs by holding an exclusive lock on one file per GPU; the kernel drops the lock when
the last process holding it exits, so a killed job never leaves a GPU claimed.
"""

import fcntl
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GpuClaim:
    devices: list[str]  # as CUDA_VISIBLE_DEVICES names them
    lock_descriptors: list[int]  # open while the claim holds; inherit them to pass it on


def driver_gpus() -> list[str]:
    """Indices of the GPUs the NVIDIA driver lists; none without a driver."""
    if shutil.which("nvidia-smi") is None:
        return []
    listing = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True)
    if listing.returncode != 0:
        return []
    return [line.strip() for line in listing.stdout.splitlines() if line.strip()]


def visible_gpus(environment: Mapping[str, str], list_driver_gpus: Callable[[], list[str]] = driver_gpus) -> list[str]:
    """The GPUs this process may use: those CUDA_VISIBLE_DEVICES names when it is set, else all of them."""
    if "CUDA_VISIBLE_DEVICES" in environment:
        return [name.strip() for name in environment["CUDA_VISIBLE_DEVICES"].split(",") if name.strip()]
    return list_driver_gpus()


def _lock_file(lock_dir: Path, device: str) -> Path:
    # Devices may be named by UUID or MIG id, which hold characters unfit for a file name.
    return lock_dir / f"gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', device)}.lock"


def try_claim(devices: list[str], count: int, lock_dir: Path) -> GpuClaim | None:
    """Claim ``count`` free GPUs of ``devices``, or none at all when fewer are free.

    All or nothing, so that two jobs that each want two GPUs cannot hold one each forever.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    claimed, descriptors = [], []
    for device in devices:
        descriptor = os.open(_lock_file(lock_dir, device), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            continue
        claimed.append(device)
        descriptors.append(descriptor)
        if len(claimed) == count:
            return GpuClaim(claimed, descriptors)
    for descriptor in descriptors:
        os.close(descriptor)
    return None


def claim_gpus(devices: list[str], count: int, lock_dir: Path, poll_seconds: float = 5.0,
               on_wait: Callable[[], None] = lambda: None) -> GpuClaim:
    """Wait until ``count`` of ``devices`` are free, then claim them."""
    if count > len(devices):
        raise ValueError(f"the job asks for {count} GPUs but only {len(devices)} are visible ({', '.join(devices)}); "
                         "lower the stage's `gpus` in the config, or make more GPUs visible")
    while (claim := try_claim(devices, count, lock_dir)) is None:
        on_wait()
        time.sleep(poll_seconds)
    return claim
