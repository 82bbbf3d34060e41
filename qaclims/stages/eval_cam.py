"""Seed mIoU of CAMs on the evaluation split: fixed threshold, full sweep, per class, overlays."""

import glob
import json
import os

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from qaclims.atomic import atomic_directory, atomic_path, write_text
from qaclims.cam_inference import load_cams
from qaclims.data.images import load_rgb
from qaclims.data.index import read_index
from qaclims.data.labels import read_label_png
from qaclims.errors import DatasetError
from qaclims.metrics import ThresholdSweep
from qaclims.stages.common import add_config_argument
from qaclims.viz import evenly_spaced, heatmap, label_picture, side_by_side

DESCRIPTION = "evaluate CAMs: mIoU at a fixed threshold and over a threshold sweep, with overlays"


def add_arguments(parser) -> None:
    add_config_argument(parser, "reads eval_cam.*")
    parser.add_argument("--index", required=True)
    parser.add_argument("--cams", nargs="+", required=True, help="make_cam shard folders")
    parser.add_argument("--summary", required=True, help="json to write")
    parser.add_argument("--per-class", required=True, help="csv to write")
    parser.add_argument("--sweep", required=True, help="csv to write")
    parser.add_argument("--overlays", required=True, help="folder of overlay PNGs to write")


def cam_files(folders: list[str], image_ids) -> dict[str, str]:
    found = {os.path.basename(path)[:-4]: path for folder in folders for path in glob.glob(os.path.join(folder, "*.npz"))}
    missing = [image_id for image_id in image_ids if image_id not in found]
    if missing:
        raise DatasetError(f"{len(missing)} images of the evaluation split have no CAM file in {folders}, "
                           f"first: {missing[:5]}; run make_cam on a split that contains them")
    return found


def checked_cams(path: str, labels: np.ndarray) -> dict:
    cams = load_cams(path)
    if not np.array_equal(np.sort(cams["keys"]), np.flatnonzero(labels)):
        raise DatasetError(f"CAM file {path} has classes {cams['keys'].tolist()} but the image is labelled "
                           f"{np.flatnonzero(labels).tolist()}; make the CAMs again from the current index")
    return cams


def checked_ground_truth(path: str, num_classes: int) -> np.ndarray:
    mask = read_label_png(path)
    bad = np.setdiff1d(np.unique(mask), np.r_[np.arange(num_classes + 1), 255])
    if bad.size:
        raise DatasetError(f"ground-truth mask {path} has values {bad.tolist()} outside 0..{num_classes} and 255")
    return mask


def predict(cams: dict, threshold: float) -> np.ndarray:
    planes = np.concatenate([np.full((1, *cams["high_res"].shape[1:]), threshold, np.float32),
                             cams["high_res"].astype(np.float32)])
    return np.concatenate([[0], cams["keys"] + 1])[planes.argmax(axis=0)].astype(np.uint8)


def overlay(image_path: str, cams: dict, threshold: float, ground_truth: np.ndarray) -> np.ndarray:
    """The image, a heat map per labelled class, the prediction and the ground truth, side by side."""
    image = np.asarray(load_rgb(image_path))
    return side_by_side(image, *(heatmap(image, cam) for cam in cams["high_res"]),
                        label_picture(predict(cams, threshold)), label_picture(ground_truth))


def run(args) -> None:
    settings = args.config["eval_cam"]
    index = read_index(args.index)
    frame = index.split(settings["split"])
    labels = index.labels(frame)
    files = cam_files(args.cams, frame["image_id"])
    sweep_settings = settings["sweep"]
    thresholds = np.round(np.arange(sweep_settings["start"], sweep_settings["stop"] + 1e-9, sweep_settings["step"]), 6)
    thresholds = np.unique(np.r_[thresholds, settings["threshold"]])
    sweep = ThresholdSweep(thresholds, len(index.classes) + 1)
    shown = set(evenly_spaced(frame, settings["overlays"])["image_id"]) if settings["overlays"] else set()
    with atomic_directory(args.overlays) as overlay_dir:
        for row, image_labels in tqdm(zip(frame.itertuples(), labels), total=len(frame), unit="img", desc="eval_cam"):
            if row.mask_path is None:
                raise DatasetError(f"image {row.image_id} of the evaluation split has no ground-truth mask")
            cams = checked_cams(files[row.image_id], image_labels)  # each file is read once
            ground_truth = checked_ground_truth(row.mask_path, len(index.classes))
            sweep.update(cams["high_res"], cams["keys"], ground_truth)
            if row.image_id in shown:
                picture = overlay(row.image_path, cams, settings["threshold"], ground_truth)
                Image.fromarray(picture).save(os.path.join(overlay_dir, f"{row.image_id}.png"))

    mean_ious = sweep.mean_ious()
    fixed = int(np.flatnonzero(np.isclose(thresholds, settings["threshold"]))[0])
    best = int(np.nanargmax(mean_ious))
    confusion = sweep.confusion(fixed)
    summary = {
        "miou": float(mean_ious[fixed]), "threshold": float(thresholds[fixed]),
        "best_miou": float(mean_ious[best]), "best_threshold": float(thresholds[best]),
        "split": settings["split"], "images": len(frame),
        "note": "best_threshold is tuned on the evaluation labels; report miou at the fixed threshold",
    }
    write_text(args.summary, json.dumps(summary, indent=2) + "\n")
    per_class = pd.DataFrame({"class": ["background", *index.classes], "iou": confusion.iou(),
                              "precision": confusion.precision(), "recall": confusion.recall()})
    with atomic_path(args.per_class) as partial:
        per_class.to_csv(partial, index=False)
    with atomic_path(args.sweep) as partial:
        pd.DataFrame({"threshold": thresholds, "miou": mean_ious}).to_csv(partial, index=False)
    print(f"mIoU {summary['miou']:.4f} at threshold {summary['threshold']} on {len(frame)} {settings['split']} images; "
          f"best {summary['best_miou']:.4f} at {summary['best_threshold']} (tuned on the evaluation labels)")
