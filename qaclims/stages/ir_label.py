"""IRNet seed labels of one shard of the images: two CAM thresholds, dense CRF, confident regions."""

import functools
import multiprocessing
import os
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from qaclims.atomic import atomic_directory
from qaclims.crf import CRFSettings
from qaclims.data.images import load_rgb
from qaclims.data.index import read_index
from qaclims.data.labels import write_label_png
from qaclims.ir_labels import IRLabelSettings, ir_label
from qaclims.sharding import shard_items
from qaclims.stages.common import add_config_argument
from qaclims.stages.image_files import checked_cams, files_by_image

DESCRIPTION = "IRNet seed labels (confident foreground and background, dense CRF) for one shard of the images"


def add_arguments(parser) -> None:
    add_config_argument(parser, "reads ir_label.*, make_cam.split")
    parser.add_argument("--index", required=True)
    parser.add_argument("--cams", nargs="+", required=True, help="make_cam shard folders")
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--num-shards", type=int, default=1)
    parser.add_argument("--out", required=True, help="folder that receives {image_id}.png for the shard")
    parser.add_argument("--threads", type=int, default=1, help="worker processes, one CRF each")


@dataclass(frozen=True)
class LabelJob:
    image_path: str
    cam_path: str
    labels: np.ndarray  # [C] multi-hot
    out_path: str


def settings_from_config(section: dict) -> IRLabelSettings:
    return IRLabelSettings(section["foreground_threshold"], section["background_threshold"], section["gt_prob"],
                           CRFSettings.from_config(section["crf"]))


def label_one_image(job: LabelJob, settings: IRLabelSettings) -> None:
    image = np.asarray(load_rgb(job.image_path))
    cams = checked_cams(job.cam_path, job.labels, image.shape[:2])
    write_label_png(job.out_path, ir_label(image, cams["high_res"], cams["keys"], settings))


def label_images(jobs: list[LabelJob], settings: IRLabelSettings, workers: int) -> None:
    """Label every job's image, on ``workers`` processes; each image's file depends on that image alone."""
    work = functools.partial(label_one_image, settings=settings)
    progress = functools.partial(tqdm, total=len(jobs), unit="img", desc="ir_label")
    if workers <= 1 or len(jobs) <= 1:
        for job in progress(jobs):
            work(job)
        return
    # Fork is cheap and safe here: this process has run no threads (no torch ops, no progress bar) yet.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    chunk = max(1, min(16, len(jobs) // (4 * workers)))
    with multiprocessing.get_context(method).Pool(min(workers, len(jobs))) as pool:
        for _ in progress(pool.imap_unordered(work, jobs, chunksize=chunk)):
            pass


def run(args) -> None:
    config = args.config
    index = read_index(args.index)
    frame = shard_items(index.split(config["make_cam"]["split"]).sort_values("image_id"), args.shard, args.num_shards)
    cam_paths = files_by_image(args.cams, frame["image_id"], ".npz", "make_cam")
    with atomic_directory(args.out) as staging:
        jobs = [LabelJob(row.image_path, cam_paths[row.image_id], labels, os.path.join(staging, f"{row.image_id}.png"))
                for row, labels in zip(frame.itertuples(), index.labels(frame))]
        label_images(jobs, settings_from_config(config["ir_label"]), args.threads)
    print(f"wrote IRNet seed labels of {len(frame)} images to {args.out}")
