"""IRNet seed labels of one shard of the images: two CAM thresholds, dense CRF, confident regions."""

import os

from qaclims.data.index import read_index
from qaclims.data.stage_outputs import files_by_image
from qaclims.refine.seed_labels import LabelJob, label_images, settings_from_config
from qaclims.runtime.sharding import shard_items
from qaclims.stages.shared.arguments import add_config_argument
from qaclims.stages.shared.partial import partial_shard, unfinished_images

DESCRIPTION = "IRNet seed labels (confident foreground and background, dense CRF) for one shard of the images"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--index", required=True)
    parser.add_argument("--cams", nargs="+", required=True, help="make_cam shard folders")
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--num-shards", type=int, default=1)
    parser.add_argument("--out", required=True, help="folder that receives {image_id}.png for the shard")
    parser.add_argument("--threads", type=int, default=1, help="worker processes, one CRF each")


def run(args) -> None:
    config = args.config
    index = read_index(args.index)
    shard = shard_items(index.split(config["make_cam"]["split"]).sort_values("image_id"), args.shard, args.num_shards)
    cam_paths = files_by_image(args.cams, shard["image_id"], ".npz", "make_cam")
    partial = partial_shard(args, __name__, [args.index, *args.cams])
    frame = unfinished_images(shard, partial.done())
    jobs = [LabelJob(row.image_path, cam_paths[row.image_id], labels,
                     os.path.join(partial.part("items"), f"{row.image_id}.png"))
            for row, labels in zip(frame.itertuples(), index.labels(frame))]
    label_images(jobs, settings_from_config(config["ir_label"]), args.threads)
    partial.move_to({"items": args.out})
    print(f"wrote IRNet seed labels of {len(shard)} images to {args.out}")
