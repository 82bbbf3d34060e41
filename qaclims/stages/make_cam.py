"""Multi-scale CAMs of one shard of the images, one npz file per image."""

import os

import numpy as np
import torch
from tqdm import tqdm

from qaclims.cam.inference import ScaledImages, multiscale_cams, save_cams
from qaclims.data.index import read_index
from qaclims.models.cam import BaselineCAMNetwork, QACLIMSNetwork
from qaclims.models.weights import load_weights
from qaclims.runtime.device import resolve_device
from qaclims.runtime.sharding import shard_items
from qaclims.runtime.stage_metrics import StageMeter, add_metrics_argument
from qaclims.stages.shared.arguments import add_config_argument
from qaclims.stages.shared.partial import partial_shard, unfinished_images

DESCRIPTION = "multi-scale, flipped CAMs of a trained CAM network for one shard of the images"
NETWORKS = {"baseline": BaselineCAMNetwork, "ritc": QACLIMSNetwork}


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--index", required=True)
    parser.add_argument("--weights", required=True, help="cam/<network>.pt")
    parser.add_argument("--network", required=True, choices=sorted(NETWORKS),
                        help="the architecture: baseline (the classifier) or ritc (QA-CLIMS and its ablation variants)")
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--num-shards", type=int, default=1)
    parser.add_argument("--out", required=True, help="folder that receives {image_id}.npz for the shard")
    parser.add_argument("--threads", type=int, default=1, help="threads of the job; all but one load images")
    add_metrics_argument(parser)


def run(args) -> None:
    config, settings = args.config, args.config["make_cam"]
    index = read_index(args.index)
    shard = shard_items(index.split(settings["split"]).sort_values("image_id"), args.shard, args.num_shards)
    partial = partial_shard(args, __name__, [args.index, args.weights])
    frame = unfinished_images(shard, partial.done())
    labels = index.labels(frame)
    device = resolve_device(config["device"])
    weights = load_weights(args.weights)
    network = NETWORKS[args.network](config["cam"]["backbone"], len(index.classes))
    network.load_state_dict(weights["state_dict"], strict=True)
    network = network.to(device).eval()
    # Workers decode and rescale the next images while the network runs on this one.
    loader = torch.utils.data.DataLoader(ScaledImages(list(frame["image_path"]), settings["scales"]),
                                         batch_size=None, num_workers=max(0, args.threads - 1))
    image_ids = frame["image_id"].to_numpy()
    meter = StageMeter(device, "img")
    for position, height, width, inputs in tqdm(loader, total=len(frame), unit="img", desc=f"make_cam {args.network}"):
        cams = multiscale_cams(network.cam_logits, inputs, height, width, np.flatnonzero(labels[position]), device)
        save_cams(os.path.join(partial.part("items"), f"{image_ids[position]}.npz"), cams, settings["dtype"])
    meter.write(args.metrics, len(frame))
    partial.move_to({"items": args.out})
    print(f"wrote CAMs of {len(shard)} images to {args.out}")
