"""Where the time of one QA-CLIMS (RITC) training step goes, at real sizes with random weights.

ResNet-50 CAM network on 512 x 512 crops (batch 2), open_clip ViT-B-16 as a CPU stand-in for
ViT-L-14 with a depth-3 mask prompt, and random text features. It times the backbone's forward
and backward, CLIP's forward and backward (on the pair regions of the same step), and reports
everything else (resizing, thresholding, text lookup, losses, optimiser) as the rest.

    python benchmarks/ritc_step.py                  # CPU
    python benchmarks/ritc_step.py --device cuda --clip ViT-L-14 --batch 8

The last line is the whole step's metrics record (benchmarks/gpu_table.py reads it). open_clip builds the
named architecture with random weights: nothing is downloaded.
"""

import argparse
import statistics
import time
import warnings

import open_clip
import torch
import torch.nn.functional as F

from qaclims.cam.ritc_objective import ObjectiveSettings, PairTexts, ritc_losses
from qaclims.models.cam import QACLIMSNetwork
from qaclims.models.mask_clip import MaskPromptCLIP, foreground_adaptive_threshold
from qaclims.runtime.device import autocast, resolve_device
from qaclims.runtime.stage_metrics import peak_gpu_memory_mb, print_metrics
from qaclims.train.optim import poly_sgd

NUM_CLASSES = 20


def timed(function, device: torch.device, repeats: int) -> float:
    """Median seconds of ``function`` over ``repeats`` runs after one warm-up run."""
    function()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--crop", type=int, default=512)
    parser.add_argument("--clip", default="ViT-B-16")
    parser.add_argument("--pairs-per-image", type=int, default=2, help="positive classes per image")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "fp16"])
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)

    network = QACLIMSNetwork("resnet50", NUM_CLASSES).to(device).train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no OV-Seg checkpoint here: zero mask embeddings are fine for timing
        clip = MaskPromptCLIP(open_clip.create_model(args.clip, device=device), depth=3)
    clip_size = clip.clip_model.visual.image_size[0]
    dimension = clip.clip_model.text_projection.shape[-1]
    images = torch.randn(args.batch, 3, args.crop, args.crop, device=device)
    labels = torch.zeros(args.batch, NUM_CLASSES, device=device)
    labels[:, :args.pairs_per_image] = 1
    pairs = int(labels.sum())
    pair_of = torch.full((args.batch, NUM_CLASSES), -1, dtype=torch.long, device=device)
    pair_of[labels > 0] = torch.arange(pairs, device=device)
    texts = PairTexts(pair_of, torch.randn(pairs, dimension, device=device) * 0.05,
                      torch.randint(0, 50, (pairs, 10), device=device), torch.ones(pairs, 10, dtype=torch.bool, device=device),
                      F.normalize(torch.randn(50, dimension, device=device), dim=-1))
    settings = ObjectiveSettings(alpha=0.1, temperature=0.7, foreground_weight=10, background_weight=8,
                                 area_weight=0.2, contrastive_batch=4, clip_input_size=clip_size,
                                 clip_normalization="imagenet", precision=args.precision)
    backbone, head = network.parameter_groups()
    optimizer, scheduler = poly_sgd(backbone, head, 3.5e-4, 10, 1e-4, 1e-4, max_steps=1000)
    samples = torch.arange(args.batch, device=device)

    def full_step():
        losses = ritc_losses(network(images), images, labels, samples, clip, texts, settings)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        optimizer.step()
        scheduler.step()

    def backbone_forward():
        with torch.no_grad():
            network(images)

    def backbone_forward_backward():
        network(images).sum().backward()

    regions = torch.randn(2 * pairs, 3, clip_size, clip_size, device=device, requires_grad=True)
    masks = foreground_adaptive_threshold(torch.rand(2 * pairs, 1, clip_size, clip_size, device=device), 0.1)
    def clip_forward():
        with torch.no_grad(), autocast(device, args.precision):
            clip.encode_image(regions, masks)

    def clip_forward_backward():
        with autocast(device, args.precision):
            features = clip.encode_image(regions, masks)
        features.float().sum().backward()

    step = timed(full_step, device, args.repeats)
    parts = {"backbone forward": timed(backbone_forward, device, args.repeats),
             "backbone forward+backward": timed(backbone_forward_backward, device, args.repeats),
             "CLIP forward": timed(clip_forward, device, args.repeats),
             "CLIP forward+backward": timed(clip_forward_backward, device, args.repeats)}
    breakdown = {
        "backbone forward": parts["backbone forward"],
        "backbone backward": parts["backbone forward+backward"] - parts["backbone forward"],
        "CLIP forward": parts["CLIP forward"],
        "CLIP backward": parts["CLIP forward+backward"] - parts["CLIP forward"],
    }
    breakdown["rest"] = step - sum(breakdown.values())
    print(f"RITC step: ResNet-50 {args.batch}x{args.crop}px, {args.clip} ({2 * pairs} regions of {clip_size}px), "
          f"{device}, {torch.get_num_threads()} threads, CLIP {args.precision if device.type == 'cuda' else 'fp32'}")
    print(f"whole step: {step:.3f} s (median of {args.repeats})")
    for name, seconds in breakdown.items():
        print(f"  {name:<18} {seconds:8.3f} s  {100 * seconds / step:5.1f} %")
    print_metrics(args.batch, step, "img", peak_gpu_memory_mb(device))


if __name__ == "__main__":
    main()
