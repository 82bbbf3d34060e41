"""mIoU of the segmentation on the evaluation split, without and with dense-CRF post-processing."""

import json

import pandas as pd
from tqdm import tqdm

from qaclims.data.index import read_index
from qaclims.data.stage_outputs import checked_label_map, files_by_image
from qaclims.errors import DatasetError
from qaclims.evaluation.metrics import ConfusionMatrix
from qaclims.evaluation.tables import per_class_table
from qaclims.runtime.atomic import atomic_path, write_text
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "evaluate the segmentation (mIoU, per class) with and without CRF post-processing"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--index", required=True)
    parser.add_argument("--predictions", nargs="+", required=True, help="infer_seg shard folders without CRF")
    parser.add_argument("--crf-predictions", nargs="*", default=[], help="infer_seg shard folders after the CRF")
    parser.add_argument("--summary", required=True, help="json to write")
    parser.add_argument("--per-class", required=True, help="csv to write")


def confusion_of(folders: list[str], frame, num_classes: int, truths: dict) -> ConfusionMatrix:
    paths = files_by_image(folders, frame["image_id"], ".png", "infer_seg")
    confusion = ConfusionMatrix(num_classes + 1)
    for image_id, truth in truths.items():
        confusion.update(checked_label_map(paths[image_id], num_classes, truth.shape), truth)
    return confusion


def run(args) -> None:
    split = args.config["infer_seg"]["split"]
    index = read_index(args.index)
    frame = index.split(split)
    num_classes = len(index.classes)
    missing = frame.loc[frame["mask_path"].isna(), "image_id"].tolist()
    if missing:
        raise DatasetError(f"{len(missing)} images of the evaluation split {split} have no ground-truth mask, "
                           f"first: {missing[:5]}; evaluate on a split with masks")
    truths = {row.image_id: checked_label_map(row.mask_path, num_classes)
              for row in tqdm(frame.itertuples(), total=len(frame), unit="img", desc="eval_seg")}
    variants = {"": args.predictions, "_crf": args.crf_predictions}
    summary, tables = {"split": split, "images": len(frame)}, []
    for suffix, folders in variants.items():
        if not folders:
            continue
        confusion = confusion_of(folders, frame, num_classes, truths)
        summary[f"miou{suffix}"] = confusion.mean_iou()
        table = per_class_table(confusion, index.classes)
        tables.append(table if not suffix else table.drop(columns="class").add_suffix(suffix))
    write_text(args.summary, json.dumps(summary, indent=2) + "\n")
    with atomic_path(args.per_class) as partial:
        pd.concat(tables, axis=1).to_csv(partial, index=False)
    print("mIoU " + ", ".join(f"{name} {value:.4f}" for name, value in summary.items() if name.startswith("miou"))
          + f" on {len(frame)} {split} images")
