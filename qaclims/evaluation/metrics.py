"""Segmentation metrics from a confusion matrix accumulated over images."""

import numpy as np

from qaclims.data.labels import IGNORE_INDEX


class ConfusionMatrix:
    """Counts of (ground truth, prediction) pixel pairs over ``num_classes`` classes.

    Rows are ground truth, columns are predictions. Ground-truth pixels equal to
    ``ignore_index`` are left out. Class 0 is background.
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, prediction: np.ndarray, ground_truth: np.ndarray) -> None:
        if prediction.shape != ground_truth.shape:
            raise ValueError(
                f"prediction shape {prediction.shape} differs from ground truth {ground_truth.shape}"
            )
        valid = ground_truth != self.ignore_index
        gt = ground_truth[valid].astype(np.int64)
        pred = prediction[valid].astype(np.int64)
        for name, values in (("ground truth", gt), ("prediction", pred)):
            out_of_range = (values < 0) | (values >= self.num_classes)
            if out_of_range.any():
                bad = np.unique(values[out_of_range])[:10].tolist()
                raise ValueError(
                    f"{name} has values {bad} outside 0..{self.num_classes - 1}"
                    + (f" and {self.ignore_index} (ignore)" if name == "ground truth" else "")
                )
        self.matrix += np.bincount(
            gt * self.num_classes + pred, minlength=self.num_classes**2
        ).reshape(self.num_classes, self.num_classes)

    @property
    def true_positives(self) -> np.ndarray:
        return np.diag(self.matrix)

    @property
    def ground_truth_counts(self) -> np.ndarray:
        return self.matrix.sum(axis=1)

    @property
    def prediction_counts(self) -> np.ndarray:
        return self.matrix.sum(axis=0)

    def iou(self) -> np.ndarray:
        """Per-class IoU; NaN for a class absent from both prediction and ground truth."""
        union = self.ground_truth_counts + self.prediction_counts - self.true_positives
        return _ratio(self.true_positives, union)

    def precision(self) -> np.ndarray:
        return _ratio(self.true_positives, self.prediction_counts)

    def recall(self) -> np.ndarray:
        return _ratio(self.true_positives, self.ground_truth_counts)

    def mean_iou(self) -> float:
        """Mean IoU over the classes present in the prediction or the ground truth."""
        iou = self.iou()
        if np.isnan(iou).all():
            return float("nan")
        return float(np.nanmean(iou))

    # The two failure modes of a CAM, both read off the background row and column. Class 0 is background.

    def background_false_activation(self) -> float:
        """Share of ground-truth background pixels labelled as any class; NaN without background pixels."""
        return _share(self.matrix[0, 1:].sum(), self.matrix[0].sum())

    def foreground_under_activation(self) -> float:
        """Share of ground-truth object pixels (every class but background) labelled background; NaN without any."""
        return _share(self.matrix[1:, 0].sum(), self.matrix[1:].sum())

    def false_activation_per_class(self) -> np.ndarray:
        """Entry c: share of ground-truth background pixels labelled c. NaN for background itself, which is no
        false activation, and everywhere when there is no background pixel. The entries sum to the overall rate."""
        rates = _ratio(self.matrix[0], np.full(self.num_classes, self.matrix[0].sum()))
        rates[0] = np.nan
        return rates

    def under_activation_per_class(self) -> np.ndarray:
        """Entry c: share of class c's ground-truth pixels labelled background; NaN for background and absent
        classes."""
        rates = _ratio(self.matrix[:, 0], self.ground_truth_counts)
        rates[0] = np.nan
        return rates


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    result = np.full(numerator.shape, np.nan)
    present = denominator > 0
    result[present] = numerator[present] / denominator[present]
    return result


def _share(part: int, whole: int) -> float:
    return float(part / whole) if whole > 0 else float("nan")


def first_drop_position(mean_ious: np.ndarray) -> int:
    """Where a walk up a sweep's thresholds stops: the end of its leading strictly rising run of mIoUs.

    QA-CLIMS's --eval_cam_best keeps the threshold while each next mIoU beats the best so far and
    stops at the first that does not (a NaN never beats it), so a later, higher peak is not seen.
    """
    rising = mean_ious[1:] > mean_ious[:-1]
    return int(np.cumprod(rising).sum())


class ThresholdSweep:
    """One confusion matrix per background threshold, from a single pass over each CAM.

    The prediction at threshold t puts a constant background plane t in front of the maps
    and takes the argmax, so a pixel is its best class exactly when that class's CAM exceeds
    t (a tie goes to background, the first plane). Each pixel therefore contributes one of
    two cells, decided by how many thresholds lie below its maximum; cumulative sums over
    that count give every threshold's matrix at once.
    """

    def __init__(self, thresholds, num_classes: int, ignore_index: int = IGNORE_INDEX):
        self.thresholds = np.asarray(sorted(thresholds), dtype=np.float64)
        self.num_classes, self.ignore_index = num_classes, ignore_index
        cells = num_classes * num_classes
        self._foreground = np.zeros((len(self.thresholds) + 1, cells), dtype=np.int64)
        self._background = np.zeros((len(self.thresholds) + 1, cells), dtype=np.int64)

    def update(self, cams: np.ndarray, keys: np.ndarray, ground_truth: np.ndarray) -> None:
        """cams [K, H, W] in [0, 1] for the classes ``keys`` (0-based), ground truth [H, W]."""
        valid = ground_truth != self.ignore_index
        gt = ground_truth[valid].astype(np.int64)
        if gt.size and (gt.min() < 0 or gt.max() >= self.num_classes):
            raise ValueError(f"ground truth has values outside 0..{self.num_classes - 1} and {self.ignore_index}")
        if len(keys):
            best = cams[:, valid].astype(np.float64)
            peak, winner = best.max(axis=0), best.argmax(axis=0)
            label = np.asarray(keys, dtype=np.int64)[winner] + 1
        else:
            peak, label = np.zeros(gt.shape), np.zeros(gt.shape, dtype=np.int64)
        below = np.searchsorted(self.thresholds, peak, side="left")  # thresholds t < peak
        size = self._foreground.size
        self._foreground += np.bincount(below * self.num_classes**2 + gt * self.num_classes + label,
                                        minlength=size).reshape(self._foreground.shape)
        self._background += np.bincount(below * self.num_classes**2 + gt * self.num_classes,
                                        minlength=size).reshape(self._background.shape)

    def confusion(self, position: int) -> ConfusionMatrix:
        """The confusion matrix at ``self.thresholds[position]``."""
        # Pixels with more than `position` thresholds below their peak are foreground there.
        cells = self._foreground[position + 1:].sum(axis=0) + self._background[:position + 1].sum(axis=0)
        matrix = ConfusionMatrix(self.num_classes, self.ignore_index)
        matrix.matrix = cells.reshape(self.num_classes, self.num_classes)
        return matrix

    def mean_ious(self) -> np.ndarray:
        return np.array([self.confusion(position).mean_iou() for position in range(len(self.thresholds))])


def best_position(thresholds: np.ndarray, mean_ious: np.ndarray, swept: np.ndarray, pick: str) -> int:
    """Position in ``thresholds`` of the best mIoU, by eval_cam.sweep.pick."""
    if pick == "max":
        return int(np.nanargmax(mean_ious))
    # The reference walks its sweep only: the fixed threshold counts when it lies on the sweep.
    on_sweep = np.flatnonzero(np.isin(thresholds, swept))
    return int(on_sweep[first_drop_position(mean_ious[on_sweep])])
