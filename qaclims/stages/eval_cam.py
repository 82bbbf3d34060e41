"""Seed mIoU of CAMs on the evaluation split: fixed threshold, full sweep, per class, overlays; and the mIoU of
any further splits at the fixed threshold."""

import json
import os

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from qaclims.cam.cam_files import checked_cams
from qaclims.data.images import load_rgb
from qaclims.data.index import read_index
from qaclims.data.stage_outputs import checked_label_map, files_by_image
from qaclims.errors import DatasetError
from qaclims.evaluation.metrics import ThresholdSweep, best_position
from qaclims.evaluation.pictures import cam_overlay, evenly_spaced
from qaclims.evaluation.tables import activation_rates, write_per_class
from qaclims.runtime.atomic import atomic_directory, atomic_path, write_text
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "evaluate CAMs: mIoU at a fixed threshold and over a threshold sweep, with overlays"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--index", required=True)
    parser.add_argument("--cams", nargs="+", required=True, help="make_cam shard folders")
    parser.add_argument("--summary", required=True, help="json to write")
    parser.add_argument("--per-class", required=True, help="csv to write")
    parser.add_argument("--sweep", required=True, help="csv to write")
    parser.add_argument("--overlays", required=True, help="folder of overlay PNGs to write")


def split_scores(confusion, images: int) -> dict:
    """What cam.json holds for each of eval_cam.extra_splits, at the fixed threshold."""
    return {"miou": confusion.mean_iou(), **activation_rates(confusion), "images": images}


def run(args) -> None:
    settings = args.config["eval_cam"]
    index = read_index(args.index)
    evaluated = index.split(settings["split"])
    # The further splits are scored at the fixed threshold only, by the sweep's own rule for it.
    members = {name: set(index.split(name)["image_id"]) for name in settings["extra_splits"]}
    split_sweeps = {name: ThresholdSweep([settings["threshold"]], len(index.classes) + 1) for name in members}
    in_evaluated = set(evaluated["image_id"])
    frame = index.frame[index.frame["image_id"].isin(in_evaluated.union(*members.values()))]
    labels = index.labels(frame)
    files = files_by_image(args.cams, frame["image_id"], ".npz", "make_cam")
    sweep_settings = settings["sweep"]
    swept = np.round(np.arange(sweep_settings["start"], sweep_settings["stop"] + 1e-9, sweep_settings["step"]), 6)
    thresholds = np.unique(np.r_[swept, settings["threshold"]])
    sweep = ThresholdSweep(thresholds, len(index.classes) + 1)
    shown = set(evenly_spaced(evaluated, settings["overlays"])["image_id"]) if settings["overlays"] else set()
    with atomic_directory(args.overlays) as overlay_dir:
        for row, image_labels in tqdm(zip(frame.itertuples(), labels), total=len(frame), unit="img", desc="eval_cam"):
            if row.mask_path is None:
                raise DatasetError(f"image {row.image_id} of an evaluated split has no ground-truth mask")
            cams = checked_cams(files[row.image_id], image_labels)  # each file is read once
            ground_truth = checked_label_map(row.mask_path, len(index.classes))
            if row.image_id in in_evaluated:
                sweep.update(cams["high_res"], cams["keys"], ground_truth)
            for name, split_sweep in split_sweeps.items():
                if row.image_id in members[name]:
                    split_sweep.update(cams["high_res"], cams["keys"], ground_truth)
            if row.image_id in shown:
                picture = cam_overlay(np.asarray(load_rgb(row.image_path)), cams, settings["threshold"], ground_truth)
                Image.fromarray(picture).save(os.path.join(overlay_dir, f"{row.image_id}.png"))

    mean_ious = sweep.mean_ious()
    fixed = int(np.flatnonzero(np.isclose(thresholds, settings["threshold"]))[0])
    best = best_position(thresholds, mean_ious, swept, sweep_settings["pick"])
    confusion = sweep.confusion(fixed)
    summary = {
        "miou": float(mean_ious[fixed]), "threshold": float(thresholds[fixed]),
        "best_miou": float(mean_ious[best]), "best_threshold": float(thresholds[best]),
        "best_pick": sweep_settings["pick"], **activation_rates(confusion),
        "split": settings["split"], "images": len(evaluated),
        "note": "best_threshold is tuned on the evaluation labels; report miou at the fixed threshold",
        "splits": {name: split_scores(split_sweep.confusion(0), len(members[name]))
                   for name, split_sweep in split_sweeps.items()},
    }
    write_text(args.summary, json.dumps(summary, indent=2) + "\n")
    write_per_class(args.per_class, confusion, index.classes)
    with atomic_path(args.sweep) as partial:
        pd.DataFrame({"threshold": thresholds, "miou": mean_ious}).to_csv(partial, index=False)
    print(f"mIoU {summary['miou']:.4f} at threshold {summary['threshold']} on {len(evaluated)} {settings['split']} "
          f"images; best {summary['best_miou']:.4f} at {summary['best_threshold']} (tuned on the evaluation labels)")
    print(f"background false activation {summary['background_false_activation']:.4f}, foreground under-activation "
          f"{summary['foreground_under_activation']:.4f} at threshold {summary['threshold']}")
    for name, scores in summary["splits"].items():
        print(f"{name} ({scores['images']} images): mIoU {scores['miou']:.4f}, background false activation "
              f"{scores['background_false_activation']:.4f}, foreground under-activation "
              f"{scores['foreground_under_activation']:.4f}")
