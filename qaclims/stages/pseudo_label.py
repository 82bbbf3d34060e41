"""Semantic pseudo labels of one shard of the images: IRNet's boundary map guides a random walk of the CAMs."""

import os

import numpy as np
import torch
from tqdm import tqdm

from qaclims.cam.cam_files import checked_cams
from qaclims.config import settings_from
from qaclims.data.image_arrays import ImageArrays
from qaclims.data.images import imagenet_normalise
from qaclims.data.index import read_index
from qaclims.data.labels import write_label_png
from qaclims.data.stage_outputs import files_by_image
from qaclims.errors import DatasetError
from qaclims.models.irn import IRNetwork
from qaclims.models.weights import load_weights
from qaclims.refine.random_walk import RandomWalkSettings, random_walk_label_map
from qaclims.runtime.device import resolve_device
from qaclims.runtime.sharding import shard_items
from qaclims.runtime.stage_metrics import StageMeter, add_metrics_argument
from qaclims.stages.shared.arguments import add_config_argument
from qaclims.stages.shared.partial import partial_shard, unfinished_images

DESCRIPTION = "pseudo labels of one shard: random walk of the CAMs along IRNet's boundary-aware affinities"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--index", required=True)
    parser.add_argument("--cams", nargs="+", required=True, help="make_cam shard folders")
    parser.add_argument("--weights", required=True, help="irn/irn.pt")
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--num-shards", type=int, default=1)
    parser.add_argument("--out", required=True, help="folder that receives {image_id}.png for the shard")
    parser.add_argument("--threads", type=int, default=1, help="threads of the job; all but one load images")
    add_metrics_argument(parser)


def run(args) -> None:
    config, settings = args.config, args.config["pseudo_label"]
    walk = settings_from(RandomWalkSettings, settings)
    index = read_index(args.index)
    shard = shard_items(index.split(config["make_cam"]["split"]).sort_values("image_id"), args.shard, args.num_shards)
    cam_paths = files_by_image(args.cams, shard["image_id"], ".npz", "make_cam")
    partial = partial_shard(args, __name__, [args.index, *args.cams, args.weights])
    frame = unfinished_images(shard, partial.done())
    labels = index.labels(frame)
    device = resolve_device(config["device"])
    network = IRNetwork(config["cam"]["backbone"], "none", config["irn"]["displacement"])
    network.load_state_dict(load_weights(args.weights)["state_dict"], strict=True)
    network = network.to(device).eval()
    pad_to = config["irn"]["crop_size"] if settings["pad_to_crop"] else None
    loader = torch.utils.data.DataLoader(ImageArrays(list(frame["image_path"])), batch_size=None,
                                         num_workers=max(0, args.threads - 1))
    image_ids = frame["image_id"].to_numpy()
    meter = StageMeter(device, "img")
    for position, image in tqdm(loader, total=len(frame), unit="img", desc="pseudo_label"):
        size = tuple(image.shape[:2])
        image = torch.from_numpy(imagenet_normalise(image.numpy()).transpose(2, 0, 1).copy())
        cam_path = cam_paths[image_ids[position]]
        cams = checked_cams(cam_path, labels[position], size)
        boundary = network.boundary_map(image.to(device), pad_to)
        if cams["strided"].shape[1:] != boundary.shape:
            raise DatasetError(f"CAM file {cam_path} has stride-4 maps of {cams['strided'].shape[1:]} where the "
                               f"image needs {tuple(boundary.shape)}; make the CAMs again")
        strided = torch.from_numpy(cams["strided"].astype(np.float32)).to(device)
        label = random_walk_label_map(strided, cams["keys"], boundary, size, walk)
        write_label_png(os.path.join(partial.part("items"), f"{image_ids[position]}.png"), label)
    meter.write(args.metrics, len(frame))
    partial.move_to({"items": args.out})
    print(f"wrote pseudo labels of {len(shard)} images to {args.out}")
