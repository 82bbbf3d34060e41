"""Training steps of the baseline CAM network through the training stages' own DDP set-up, under torchrun.

ResNet-50 with random weights on random crops, joined, wrapped and stopped by qaclims.train.distributed as the
training stages do: NCCL across GPUs, gloo on CPUs, and no process group for one process.

    python -m torch.distributed.run --standalone --nproc_per_node=2 benchmarks/ddp_step.py --device cuda
    python -m torch.distributed.run --standalone --nproc_per_node=1 benchmarks/ddp_step.py --crop 64 --steps 1

The main process's last line is the metrics record of the timed steps: images of all processes, and the
largest peak GPU memory of any (benchmarks/gpu_table.py reads it).
"""

import argparse
import time

import torch
import torch.nn.functional as F

from qaclims.models.cam import BaselineCAMNetwork
from qaclims.runtime.stage_metrics import peak_gpu_memory_mb, print_metrics
from qaclims.train.distributed import (
    distribute,
    largest_over_processes,
    start_processes,
    stop_processes,
)

NUM_CLASSES = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8, help="images per process and step")
    parser.add_argument("--crop", type=int, default=512)
    parser.add_argument("--steps", type=int, default=5, help="timed steps, after one warm-up step")
    parser.add_argument("--device", default="auto", help="of a single process; torchrun's take one GPU each")
    args = parser.parse_args()
    processes = start_processes(args.device)
    torch.manual_seed(processes.rank)
    model = distribute(BaselineCAMNetwork("resnet50", NUM_CLASSES), processes, sync_batch_norm=False).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    images = torch.randn(args.batch, 3, args.crop, args.crop, device=processes.device)
    labels = (torch.rand(args.batch, NUM_CLASSES, device=processes.device) < 0.1).float()

    def step() -> None:
        loss = F.multilabel_soft_margin_loss(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()  # waits for the step, as the training loop's finiteness check does

    step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = time.perf_counter() - start
    peak = peak_gpu_memory_mb(processes.device)
    if peak is not None:
        peak = largest_over_processes(peak, processes)
    if processes.is_main:
        print(f"{processes.world_size} process(es) on {processes.device.type}, batch {args.batch} x {args.crop} px each: "
              f"{seconds / args.steps:.3f} s per step")
        print_metrics(args.steps * args.batch * processes.world_size, seconds, "img", peak)
    stop_processes(processes)


if __name__ == "__main__":
    main()
