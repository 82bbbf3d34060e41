"""Single-process or torchrun/DDP training: which process this is and where it computes."""

import os
from dataclasses import dataclass

import torch
from torch import nn

from qaclims.runtime.device import resolve_device


@dataclass(frozen=True)
class Processes:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def loader_workers(job_threads: int, processes: Processes) -> int:
    """Data-loading workers of each process. A job's threads count the whole job, as Snakemake and Slurm
    count them, so its processes share them; each keeps one thread for the training step itself."""
    return max(job_threads // processes.world_size - 1, 0)


def start_processes(device_setting: str) -> Processes:
    """Join the torchrun process group when launched by torchrun; otherwise one process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Processes(0, 1, resolve_device(device_setting))
    local_rank = int(os.environ["LOCAL_RANK"])
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device, backend = torch.device("cuda", local_rank), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    torch.distributed.init_process_group(backend)
    return Processes(torch.distributed.get_rank(), world_size, device)


def distribute(model: nn.Module, processes: Processes, sync_batch_norm: bool) -> nn.Module:
    """Wrap for DDP when there are several processes; live batch norm becomes SyncBatchNorm."""
    model = model.to(processes.device)
    if processes.world_size == 1:
        return model
    # SyncBatchNorm exists only on GPUs; CPU processes (gloo) keep per-process statistics.
    if sync_batch_norm and processes.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    device_ids = [processes.device.index] if processes.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def largest_over_processes(value: float, processes: Processes) -> float:
    """The largest of every process's ``value``; every process must call it."""
    if processes.world_size == 1:
        return value
    largest = torch.tensor([value], dtype=torch.float64, device=processes.device)
    torch.distributed.all_reduce(largest, op=torch.distributed.ReduceOp.MAX)
    return largest.item()


def stop_processes(processes: Processes) -> None:
    if processes.world_size > 1:
        torch.distributed.destroy_process_group()
