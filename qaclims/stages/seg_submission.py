"""The test-split predictions in the folder layout of the PASCAL VOC evaluation server."""

import os
import shutil

from qaclims.data.index import read_index
from qaclims.data.stage_outputs import files_by_image
from qaclims.data.voc import SERVER_FOLDER
from qaclims.runtime.atomic import atomic_directory
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "gather test-split predictions as results/VOC2012/Segmentation/comp6_test_cls/*.png for the server"
# comp6: segmentation trained with data beyond VOC's own segmentation masks (here: image labels only).


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--index", required=True)
    parser.add_argument("--predictions", nargs="+", required=True, help="infer_seg shard folders of the test split")
    parser.add_argument("--out", required=True, help="folder that receives results/VOC2012/...; tar it to upload")


def run(args) -> None:
    frame = read_index(args.index).split(args.config["infer_seg"]["test_split"])
    paths = files_by_image(args.predictions, frame["image_id"], ".png", "infer_seg")
    with atomic_directory(args.out) as staging:
        target = os.path.join(staging, SERVER_FOLDER)
        os.makedirs(target)
        for image_id in frame["image_id"]:
            shutil.copyfile(paths[image_id], os.path.join(target, f"{image_id}.png"))
    print(f"gathered {len(frame)} predictions under {os.path.join(args.out, SERVER_FOLDER)}")
