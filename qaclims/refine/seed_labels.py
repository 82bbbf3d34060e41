"""IRNet's seed labels: confident foreground, confident background, and ignore in between.

Two background thresholds split each image: below the low one a pixel is surely background,
above the high one its best class is surely foreground. Each pass is cleaned up by a dense CRF
on the image, and pixels that the two passes leave in doubt are ignored when IRNet trains.
"""

import functools
import multiprocessing
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from qaclims.cam.cam_files import checked_cams
from qaclims.cam.labels import planes_to_class_ids, thresholded_planes
from qaclims.config import settings_from
from qaclims.data.images import load_rgb
from qaclims.data.labels import IGNORE_INDEX, write_label_png
from qaclims.refine.crf import CRFSettings, crf_refined_labels


@dataclass(frozen=True)
class IRLabelSettings:
    foreground_threshold: float
    background_threshold: float
    gt_prob: float
    crf: CRFSettings


def combine_confident_labels(foreground_pass: np.ndarray, background_pass: np.ndarray) -> np.ndarray:
    """Keep the foreground pass's classes; where it says background, trust it only if the background pass agrees."""
    combined = foreground_pass.astype(np.int64)
    doubtful = foreground_pass == 0
    combined[doubtful] = IGNORE_INDEX
    combined[doubtful & (background_pass == 0)] = 0
    return combined


def ir_label(image: np.ndarray, cams: np.ndarray, keys: np.ndarray, settings: IRLabelSettings) -> np.ndarray:
    """uint8 [H, W] label map (0 background, class id + 1, 255 ignore) of one image and its high-res CAMs."""
    num_labels = len(keys) + 1
    passes = [crf_refined_labels(image, thresholded_planes(cams, threshold), num_labels, settings.gt_prob, settings.crf)
              for threshold in (settings.foreground_threshold, settings.background_threshold)]
    return planes_to_class_ids(combine_confident_labels(*passes), keys)


@dataclass(frozen=True)
class LabelJob:
    image_path: str
    cam_path: str
    labels: np.ndarray  # [C] multi-hot
    out_path: str


def settings_from_config(section: dict) -> IRLabelSettings:
    return settings_from(IRLabelSettings, section, crf=CRFSettings.from_config(section["crf"]))


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
