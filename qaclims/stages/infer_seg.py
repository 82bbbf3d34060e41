"""Segment one shard of a split: multi-scale logits, fused, with and without dense-CRF post-processing."""

import os

import numpy as np
import torch
from tqdm import tqdm

from qaclims.data.image_arrays import ImageArrays
from qaclims.data.images import imagenet_normalise
from qaclims.data.index import read_index
from qaclims.data.labels import write_label_png
from qaclims.models.weights import load_weights
from qaclims.refine.crf import CRFSettings
from qaclims.runtime.device import autocast, resolve_device
from qaclims.runtime.sharding import shard_items
from qaclims.runtime.stage_metrics import StageMeter, add_metrics_argument
from qaclims.seg.inference import InferenceSettings, crf_postprocess, fused_logits
from qaclims.seg.network import network_from_config
from qaclims.stages.shared.arguments import add_config_argument
from qaclims.stages.shared.partial import partial_shard, unfinished_images

DESCRIPTION = "segment one shard of a split with the trained DeepLab (multi-scale, optional flip and CRF)"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--index", required=True)
    parser.add_argument("--weights", required=True, help="seg/deeplab.pt")
    parser.add_argument("--split", required=True)
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--num-shards", type=int, default=1)
    parser.add_argument("--out", required=True, help="folder for {image_id}.png predicted without CRF")
    parser.add_argument("--crf-out", help="folder for {image_id}.png after the dense CRF")
    parser.add_argument("--threads", type=int, default=1, help="threads of the job; all but one load images")
    add_metrics_argument(parser)


def run(args) -> None:
    config, settings = args.config, args.config["infer_seg"]
    inference = InferenceSettings.from_config(settings)
    crf = CRFSettings.from_config(settings["crf"])
    index = read_index(args.index)
    shard = shard_items(index.split(args.split).sort_values("image_id"), args.shard, args.num_shards)
    outputs = {"raw": args.out, **({"crf": args.crf_out} if args.crf_out else {})}
    partial = partial_shard(args, __name__, [args.index, args.weights], tuple(outputs))
    frame = unfinished_images(shard, partial.done())
    device = resolve_device(config["device"])
    network = network_from_config(config["seg"], len(index.classes), "none")
    network.load_state_dict(load_weights(args.weights)["state_dict"], strict=True)
    network = network.to(device).eval()
    loader = torch.utils.data.DataLoader(ImageArrays(list(frame["image_path"])), batch_size=None,
                                         num_workers=max(0, args.threads - 1))
    image_ids = frame["image_id"].to_numpy()
    meter = StageMeter(device, "img")
    for position, image in tqdm(loader, total=len(frame), unit="img", desc=f"infer_seg {args.split}"):
        image = image.numpy()  # the loader turns arrays into tensors
        pixels = torch.from_numpy(imagenet_normalise(image).transpose(2, 0, 1).copy()).to(device)
        with autocast(device, config["precision"]):
            logits = fused_logits(network, pixels, inference).float().cpu().numpy()
        name = f"{image_ids[position]}.png"
        write_label_png(os.path.join(partial.part("raw"), name), logits.argmax(axis=0).astype(np.uint8))
        if args.crf_out:
            write_label_png(os.path.join(partial.part("crf"), name), crf_postprocess(image, logits, crf).astype(np.uint8))
    meter.write(args.metrics, len(frame))
    partial.move_to(outputs)
    print(f"segmented {len(shard)} images of {args.split} into {args.out}" + (f" and {args.crf_out}" if args.crf_out else ""))
