"""Overlays of the seed and pseudo labels where no split is scored: eval_pseudo's pictures, without ground truth."""

import os

import numpy as np
from PIL import Image

from qaclims.data.images import load_rgb
from qaclims.data.index import read_index
from qaclims.data.stage_outputs import checked_label_map, files_by_image
from qaclims.evaluation.pictures import evenly_spaced, label_picture, side_by_side
from qaclims.runtime.atomic import atomic_directory
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "draw label overlays (image, seed label, pseudo label) of a run without masks"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--index", required=True)
    parser.add_argument("--labels", nargs="+", required=True, help="pseudo_label shard folders")
    parser.add_argument("--seeds", nargs="+", required=True, help="ir_label shard folders")
    parser.add_argument("--out", required=True, help="folder of overlay PNGs to write")


def run(args) -> None:
    index = read_index(args.index)
    frame = evenly_spaced(index.split(args.config["make_cam"]["split"]), args.config["eval_cam"]["overlays"])
    label_paths = files_by_image(args.labels, frame["image_id"], ".png", "pseudo_label")
    seed_paths = files_by_image(args.seeds, frame["image_id"], ".png", "ir_label")
    with atomic_directory(args.out) as out:
        for row in frame.itertuples():
            size = (row.height, row.width)
            labels = [checked_label_map(paths[row.image_id], len(index.classes), size)
                      for paths in (seed_paths, label_paths)]
            picture = side_by_side(np.asarray(load_rgb(row.image_path)), *map(label_picture, labels))
            Image.fromarray(picture).save(os.path.join(out, f"{row.image_id}.png"))
    print(f"drew the label overlays of {len(frame)} images into {args.out} (no split has masks to score)")
