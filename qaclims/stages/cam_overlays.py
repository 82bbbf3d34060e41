"""Overlays of a network's CAMs where no split is scored: the pictures that eval_cam draws, without ground truth."""

import os

import numpy as np
from PIL import Image

from qaclims.cam.cam_files import checked_cams
from qaclims.data.images import load_rgb
from qaclims.data.index import read_index
from qaclims.data.stage_outputs import files_by_image
from qaclims.evaluation.pictures import cam_overlay, evenly_spaced
from qaclims.runtime.atomic import atomic_directory
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "draw CAM overlays (image, CAM per labelled class, prediction) of a run without masks"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--index", required=True)
    parser.add_argument("--cams", nargs="+", required=True, help="make_cam shard folders")
    parser.add_argument("--out", required=True, help="folder of overlay PNGs to write")


def run(args) -> None:
    settings = args.config["eval_cam"]
    index = read_index(args.index)
    frame = evenly_spaced(index.split(args.config["make_cam"]["split"]), settings["overlays"])
    files = files_by_image(args.cams, frame["image_id"], ".npz", "make_cam")
    with atomic_directory(args.out) as out:
        for row, labels in zip(frame.itertuples(), index.labels(frame)):
            cams = checked_cams(files[row.image_id], labels)
            picture = cam_overlay(np.asarray(load_rgb(row.image_path)), cams, settings["threshold"])
            Image.fromarray(picture).save(os.path.join(out, f"{row.image_id}.png"))
    print(f"drew the CAM overlays of {len(frame)} images into {args.out} (no split has masks to score)")
