"""Fully connected CRF (Krähenbühl and Koltun) on an RGB image, through pydensecrf.

Two callers: the seed labels of IRNet (a unary from hard labels) and the post-processing of
the segmentation model (a unary from softmax probabilities).
"""

from dataclasses import dataclass

import numpy as np
import pydensecrf.densecrf as densecrf
from pydensecrf.utils import unary_from_labels

from qaclims.config import settings_from
from qaclims.errors import QaclimsError


@dataclass(frozen=True)
class CRFSettings:
    iterations: int
    gaussian_sxy: float
    gaussian_compat: float
    bilateral_sxy: float
    bilateral_srgb: float
    bilateral_compat: float

    @classmethod
    def from_config(cls, section: dict) -> "CRFSettings":
        return settings_from(cls, section)


def dense_crf(image: np.ndarray, unary: np.ndarray, settings: CRFSettings) -> np.ndarray:
    """Marginals [n, H, W] of the CRF whose unary energy is ``unary`` [n, H*W] (negative log probabilities)."""
    height, width = image.shape[:2]
    num_labels = unary.shape[0]
    crf = densecrf.DenseCRF2D(width, height, num_labels)
    # pydensecrf takes writable C-ordered buffers only.
    crf.setUnaryEnergy(np.require(unary, np.float32, ["C", "W"]))
    crf.addPairwiseGaussian(sxy=settings.gaussian_sxy, compat=settings.gaussian_compat)
    crf.addPairwiseBilateral(sxy=settings.bilateral_sxy, srgb=settings.bilateral_srgb,
                             rgbim=np.require(image, np.uint8, ["C", "W"]), compat=settings.bilateral_compat)
    marginals = np.asarray(crf.inference(settings.iterations), dtype=np.float32).reshape(num_labels, height, width)
    if not np.isfinite(marginals).all():
        raise QaclimsError(f"the dense CRF returned non-finite values on a {height}x{width} image with "
                           f"{num_labels} labels; check the unary for NaN or infinite energies")
    return marginals


def crf_refined_labels(image: np.ndarray, labels: np.ndarray, num_labels: int, gt_prob: float,
                       settings: CRFSettings) -> np.ndarray:
    """The CRF's argmax [H, W] for hard ``labels`` in 0..num_labels-1 trusted with probability ``gt_prob``."""
    if num_labels == 1:
        return np.zeros(labels.shape, dtype=np.int64)  # a single label has nothing to refine
    unary = unary_from_labels(labels, num_labels, gt_prob=gt_prob, zero_unsure=False)
    return dense_crf(image, unary, settings).argmax(axis=0)
