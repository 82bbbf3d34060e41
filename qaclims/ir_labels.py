"""IRNet's seed labels: confident foreground, confident background, and ignore in between.

Two background thresholds split each image: below the low one a pixel is surely background,
above the high one its best class is surely foreground. Each pass is cleaned up by a dense CRF
on the image, and pixels that the two passes leave in doubt are ignored when IRNet trains.
"""

from dataclasses import dataclass

import numpy as np

from qaclims.cam_labels import planes_to_class_ids, thresholded_planes
from qaclims.crf import CRFSettings, crf_refined_labels
from qaclims.data.labels import IGNORE_INDEX


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
