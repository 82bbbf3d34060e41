"""Segment new, unlabelled images with the trained DeepLab: a VOC-palette label PNG at each image's original size
and a colour overlay."""

import csv
import json
import os

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from qaclims.data.images import imagenet_normalise
from qaclims.data.labels import VOC_PALETTE, write_label_png
from qaclims.data.new_images import UprightImages, image_files
from qaclims.errors import DatasetError
from qaclims.evaluation.pictures import overlay_label, side_by_side
from qaclims.models.weights import load_weights
from qaclims.refine.crf import CRFSettings
from qaclims.runtime.atomic import atomic_directory, atomic_path
from qaclims.runtime.device import autocast, resolve_device
from qaclims.runtime.stage_metrics import StageMeter, add_metrics_argument
from qaclims.seg.inference import InferenceSettings, crf_postprocess, fused_logits
from qaclims.seg.network import network_from_config
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "segment a folder of new images with seg/deeplab.pt: label PNGs at their size and colour overlays"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--weights", required=True, help="seg/deeplab.pt")
    parser.add_argument("--images", required=True, help="folder of JPEG or PNG images (no labels needed)")
    parser.add_argument("--out", required=True, help="folder to write: labels/, overlays/, classes.csv")
    parser.add_argument("--threads", type=int, default=1, help="threads of the job; all but one load images")
    add_metrics_argument(parser)


def model_classes(weights: dict, path: str, classes: list[str]) -> list[str]:
    """The classes the model file records, which must be dataset.classes: its outputs mean those classes."""
    recorded = list(weights.get("classes", []))
    if recorded != list(classes):
        raise DatasetError(f"model file {path} was trained on the classes {recorded}, but dataset.classes is "
                           f"{list(classes)}; predict with the config it was trained with, or train it again")
    return recorded


def trained_network_settings(weights: dict, path: str) -> dict:
    """The seg section the model was trained with, as its file records it: the architecture comes with the
    weights, so predict needs no copy of the training config."""
    try:
        return json.loads(weights["config"])["seg"]
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise DatasetError(f"model file {path} records no seg config ({error!r}); give predict the seg/deeplab.pt "
                           "that train_seg wrote") from error


def write_classes(path: str, classes: list[str]) -> None:
    """classes.csv: each label value, its class and its colour in the label PNGs."""
    with atomic_path(path) as partial, open(partial, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["value", "class", "red", "green", "blue"])
        for value, name in enumerate(["background", *classes]):
            writer.writerow([value, name, *VOC_PALETTE[value].tolist()])


def run(args) -> None:
    config = args.config
    files = image_files(args.images)
    try:
        weights = load_weights(args.weights)
    except (OSError, RuntimeError) as error:
        raise DatasetError(f"model file {args.weights} cannot be read ({error}); run train_seg first") from error
    classes = model_classes(weights, args.weights, config["dataset"]["classes"])
    inference = InferenceSettings.from_config(config["infer_seg"])
    crf = CRFSettings.from_config(config["infer_seg"]["crf"])
    device = resolve_device(config["device"])
    network = network_from_config(trained_network_settings(weights, args.weights), len(classes), "none")
    network.load_state_dict(weights["state_dict"], strict=True)
    network = network.to(device).eval()
    max_long_side = config["dataset"]["max_long_side"]
    loader = torch.utils.data.DataLoader(UprightImages(files, max_long_side), batch_size=None,
                                         num_workers=max(0, args.threads - 1))
    meter = StageMeter(device, "img")
    with atomic_directory(args.out) as out:
        os.makedirs(out / "labels")
        os.makedirs(out / "overlays")
        for position, image, size in tqdm(loader, total=len(files), unit="img", desc="predict"):
            image = image.numpy()  # the loader turns arrays into tensors
            pixels = torch.from_numpy(imagenet_normalise(image).transpose(2, 0, 1).copy()).to(device)
            with autocast(device, config["precision"]):
                logits = fused_logits(network, pixels, inference).float().cpu().numpy()
            label = crf_postprocess(image, logits, crf).astype(np.uint8)
            # The label goes back to the image's own size; nearest neighbour keeps every value a class.
            height, width = (int(side) for side in size)
            full = np.asarray(Image.fromarray(label).resize((width, height), Image.Resampling.NEAREST))
            stem = files[position].stem
            write_label_png(out / "labels" / f"{stem}.png", full)
            Image.fromarray(side_by_side(image, overlay_label(image, label))).save(out / "overlays" / f"{stem}.png")
        write_classes(str(out / "classes.csv"), classes)
    meter.write(args.metrics, len(files))
    print(f"segmented {len(files)} images of {args.images} into {args.out} (labels at their own size, inference "
          f"within a long side of {max_long_side} px; classes: {', '.join(classes)})")
