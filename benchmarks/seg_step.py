"""Seconds per DeepLab training iteration: forward and backward of the MSC loss, and the SGD step.

DeepLab-v2 ResNet-101 (ASPP 6/12/18/24) with random weights, the reference's batch of crops
(321 x 321), MSC training scales (1.0, 0.75, 0.5) and the class-balanced loss, on 21 outputs.

    python benchmarks/seg_step.py                              # CPU, batch 2, 3 timed iterations
    python benchmarks/seg_step.py --device cuda --batch 10 --iterations 20

The last line is the metrics record of the timed iterations (benchmarks/gpu_table.py reads it).
"""

import argparse
import time

import torch

from qaclims.models.deeplab import segmentation_network
from qaclims.runtime.device import autocast, resolve_device
from qaclims.runtime.stage_metrics import peak_gpu_memory_mb, print_metrics
from qaclims.seg.objective import balanced_cross_entropy, multi_scale_loss


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="deeplabv2", choices=["deeplabv2", "deeplabv3"])
    parser.add_argument("--backbone", default="resnet101")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--crop", type=int, default=321)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="bf16", choices=["bf16", "fp16", "fp32"], help="autocast on CUDA only")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    network = segmentation_network(args.model, args.backbone, 21).to(device).train()
    optimizer = torch.optim.SGD([p for p in network.parameters() if p.requires_grad], lr=2.5e-4, momentum=0.9)
    images = torch.randn(args.batch, 3, args.crop, args.crop, device=device)
    labels = torch.randint(0, 21, (args.batch, args.crop, args.crop), device=device)

    def iteration() -> None:
        with autocast(device, args.precision):
            loss = multi_scale_loss(network, images, labels, [1.0, 0.75, 0.5], balanced_cross_entropy)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    iteration()  # warm-up: allocations and kernel selection
    synchronise(device)
    start = time.perf_counter()
    for _ in range(args.iterations):
        iteration()
    synchronise(device)
    total_seconds = time.perf_counter() - start
    seconds = total_seconds / args.iterations
    print(f"{args.model} {args.backbone}, batch {args.batch}, crop {args.crop}, MSC (1.0, 0.75, 0.5), "
          f"{device.type} ({torch.get_num_threads()} threads): {seconds:.2f} s per iteration")
    print_metrics(args.batch * args.iterations, total_seconds, "img", peak_gpu_memory_mb(device))


if __name__ == "__main__":
    main()
