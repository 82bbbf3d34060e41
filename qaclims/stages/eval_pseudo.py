"""mIoU of the pseudo labels on the evaluation split, per class, with overlays of seeds and pseudo labels."""

import json
import os

import numpy as np
from PIL import Image
from tqdm import tqdm

from qaclims.data.images import load_rgb
from qaclims.data.index import read_index
from qaclims.data.labels import IGNORE_INDEX
from qaclims.data.stage_outputs import checked_label_map, files_by_image
from qaclims.errors import DatasetError
from qaclims.evaluation.metrics import ConfusionMatrix
from qaclims.evaluation.pictures import evenly_spaced, label_picture, side_by_side
from qaclims.evaluation.tables import activation_rates, write_per_class
from qaclims.runtime.atomic import atomic_directory, write_text
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "evaluate pseudo labels (predicted ignore counts as background), with overlays"
IGNORE_CONVENTION = "predicted 255 (ignore) counts as background, as IRNet's evaluation does"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--index", required=True)
    parser.add_argument("--labels", nargs="+", required=True, help="pseudo_label shard folders")
    parser.add_argument("--seeds", nargs="+", required=True, help="ir_label shard folders, drawn in the overlays")
    parser.add_argument("--summary", required=True, help="json to write")
    parser.add_argument("--per-class", required=True, help="csv to write")
    parser.add_argument("--overlays", required=True, help="folder of overlay PNGs to write")


def run(args) -> None:
    settings = args.config["eval_cam"]
    index = read_index(args.index)
    frame = index.split(settings["split"])
    num_classes = len(index.classes)
    label_paths = files_by_image(args.labels, frame["image_id"], ".png", "pseudo_label")
    seed_paths = files_by_image(args.seeds, frame["image_id"], ".png", "ir_label")
    confusion = ConfusionMatrix(num_classes + 1)
    shown = set(evenly_spaced(frame, settings["overlays"])["image_id"]) if settings["overlays"] else set()
    with atomic_directory(args.overlays) as overlay_dir:
        for row in tqdm(frame.itertuples(), total=len(frame), unit="img", desc="eval_pseudo"):
            if row.mask_path is None:
                raise DatasetError(f"image {row.image_id} of the evaluation split has no ground-truth mask")
            ground_truth = checked_label_map(row.mask_path, num_classes)
            prediction = checked_label_map(label_paths[row.image_id], num_classes, ground_truth.shape)
            confusion.update(np.where(prediction == IGNORE_INDEX, 0, prediction), ground_truth)
            if row.image_id in shown:
                seed = checked_label_map(seed_paths[row.image_id], num_classes, ground_truth.shape)
                picture = side_by_side(np.asarray(load_rgb(row.image_path)), label_picture(seed),
                                       label_picture(prediction), label_picture(ground_truth))
                Image.fromarray(picture).save(os.path.join(overlay_dir, f"{row.image_id}.png"))
    summary = {"miou": confusion.mean_iou(), **activation_rates(confusion), "split": settings["split"],
               "images": len(frame), "prediction_ignore": IGNORE_CONVENTION}
    write_text(args.summary, json.dumps(summary, indent=2) + "\n")
    write_per_class(args.per_class, confusion, index.classes)
    print(f"pseudo-label mIoU {summary['miou']:.4f} on {len(frame)} {settings['split']} images ({IGNORE_CONVENTION}); "
          f"background false activation {summary['background_false_activation']:.4f}, foreground under-activation "
          f"{summary['foreground_under_activation']:.4f}")
