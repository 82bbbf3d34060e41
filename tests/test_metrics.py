"""ConfusionMatrix against confusion matrices, IoU, precision and recall worked out by hand."""

import numpy as np
import pytest

from qaclims.evaluation.metrics import ConfusionMatrix

# Three classes; the last column of ground truth is ignored (255).
GROUND_TRUTH = np.array([[0, 0, 1, 255],
                         [1, 2, 2, 255]], dtype=np.uint8)
PREDICTION = np.array([[0, 1, 1, 2],
                       [1, 2, 0, 0]], dtype=np.uint8)
# Valid (gt, pred) pairs: (0,0) (0,1) (1,1) (1,1) (2,2) (2,0); rows gt, columns pred.
EXPECTED_MATRIX = np.array([[1, 1, 0],
                            [0, 2, 0],
                            [1, 0, 1]])
# TP = [1, 2, 1], gt counts = [2, 2, 2], prediction counts = [2, 3, 1]
EXPECTED_IOU = [1 / 3, 2 / 3, 1 / 2]          # TP / (gt + pred - TP)
EXPECTED_PRECISION = [1 / 2, 2 / 3, 1 / 1]    # TP / pred
EXPECTED_RECALL = [1 / 2, 2 / 2, 1 / 2]       # TP / gt


def hand_matrix():
    confusion = ConfusionMatrix(3)
    confusion.update(PREDICTION, GROUND_TRUTH)
    return confusion


def test_confusion_matrix_ignores_255_and_counts_pairs():
    confusion = hand_matrix()
    np.testing.assert_array_equal(confusion.matrix, EXPECTED_MATRIX)
    assert confusion.matrix.sum() == 6  # 8 pixels, 2 ignored
    np.testing.assert_array_equal(confusion.true_positives, [1, 2, 1])
    np.testing.assert_array_equal(confusion.ground_truth_counts, [2, 2, 2])
    np.testing.assert_array_equal(confusion.prediction_counts, [2, 3, 1])


def test_iou_precision_recall_per_class():
    confusion = hand_matrix()
    np.testing.assert_allclose(confusion.iou(), EXPECTED_IOU)
    np.testing.assert_allclose(confusion.precision(), EXPECTED_PRECISION)
    np.testing.assert_allclose(confusion.recall(), EXPECTED_RECALL)
    assert confusion.mean_iou() == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert confusion.mean_iou() == pytest.approx(0.5)


def test_second_update_accumulates():
    confusion = hand_matrix()
    confusion.update(PREDICTION, GROUND_TRUTH)
    np.testing.assert_array_equal(confusion.matrix, 2 * EXPECTED_MATRIX)
    # Ratios do not change when every count doubles.
    np.testing.assert_allclose(confusion.iou(), EXPECTED_IOU)


def test_two_images_equal_one_update_on_their_concatenation():
    rng = np.random.default_rng(7)
    gt_a = rng.integers(0, 4, size=(5, 6)).astype(np.uint8)
    gt_b = rng.integers(0, 4, size=(5, 9)).astype(np.uint8)
    gt_a[0, :3] = 255
    gt_b[4, 2:] = 255
    pred_a = rng.integers(0, 4, size=gt_a.shape).astype(np.uint8)
    pred_b = rng.integers(0, 4, size=gt_b.shape).astype(np.uint8)

    separate = ConfusionMatrix(4)
    separate.update(pred_a, gt_a)
    separate.update(pred_b, gt_b)
    together = ConfusionMatrix(4)
    together.update(np.concatenate([pred_a, pred_b], axis=1), np.concatenate([gt_a, gt_b], axis=1))

    np.testing.assert_array_equal(separate.matrix, together.matrix)
    assert separate.matrix.sum() == (gt_a != 255).sum() + (gt_b != 255).sum()
    assert separate.matrix.sum() == 30 - 3 + 45 - 7


def test_absent_classes_are_nan_and_left_out_of_the_mean():
    # Four classes: 0 in both, 3 only predicted, 1 and 2 in neither.
    confusion = ConfusionMatrix(4)
    confusion.update(np.array([[0, 3]], dtype=np.uint8), np.array([[0, 0]], dtype=np.uint8))
    # matrix row 0 = [1, 0, 0, 1]; TP = [1,0,0,0], gt = [2,0,0,0], pred = [1,0,0,1]
    iou = confusion.iou()
    assert iou[0] == pytest.approx(1 / 2)
    assert np.isnan(iou[1]) and np.isnan(iou[2])
    assert iou[3] == 0.0  # predicted but never right: present, IoU 0, not NaN
    assert confusion.mean_iou() == pytest.approx((1 / 2 + 0) / 2)

    precision, recall = confusion.precision(), confusion.recall()
    assert precision[0] == pytest.approx(1.0) and precision[3] == 0.0
    assert np.isnan(precision[1]) and np.isnan(precision[2])
    assert recall[0] == pytest.approx(0.5)
    assert np.isnan(recall[1]) and np.isnan(recall[2]) and np.isnan(recall[3])


def test_mean_iou_of_an_empty_matrix_is_nan():
    confusion = ConfusionMatrix(3)
    assert np.isnan(confusion.mean_iou())
    # Everything ignored: still nothing counted.
    confusion.update(np.zeros((2, 2), dtype=np.uint8), np.full((2, 2), 255, dtype=np.uint8))
    assert confusion.matrix.sum() == 0
    assert np.isnan(confusion.mean_iou())


def test_prediction_at_ignored_pixels_is_not_checked():
    confusion = ConfusionMatrix(3)
    confusion.update(np.array([[9, 1]], dtype=np.uint8), np.array([[255, 1]], dtype=np.uint8))
    np.testing.assert_array_equal(confusion.matrix, [[0, 0, 0], [0, 1, 0], [0, 0, 0]])


def test_custom_ignore_index():
    confusion = ConfusionMatrix(2, ignore_index=1)
    confusion.update(np.array([[0, 0, 1]]), np.array([[0, 1, 1]]))
    np.testing.assert_array_equal(confusion.matrix, [[1, 0], [0, 0]])


def test_ground_truth_out_of_range_names_the_values():
    confusion = ConfusionMatrix(3)
    gt = np.array([[0, 3, 7, 255]], dtype=np.uint8)
    with pytest.raises(ValueError, match=r"ground truth has values \[3, 7\] outside 0\.\.2 and 255"):
        confusion.update(np.zeros_like(gt), gt)
    assert confusion.matrix.sum() == 0  # a rejected update adds nothing


def test_prediction_out_of_range_names_the_values():
    confusion = ConfusionMatrix(3)
    gt = np.array([[0, 1, 2]], dtype=np.int64)
    with pytest.raises(ValueError, match=r"prediction has values \[5\] outside 0\.\.2"):
        confusion.update(np.array([[0, 5, 2]], dtype=np.int64), gt)
    with pytest.raises(ValueError, match=r"prediction has values \[-1\]"):
        confusion.update(np.array([[0, -1, 2]], dtype=np.int64), gt)
    assert confusion.matrix.sum() == 0


def test_shape_mismatch_is_rejected():
    confusion = ConfusionMatrix(3)
    with pytest.raises(ValueError, match=r"prediction shape \(2, 3\) differs from ground truth \(3, 2\)"):
        confusion.update(np.zeros((2, 3), dtype=np.uint8), np.zeros((3, 2), dtype=np.uint8))


def test_activation_rates_of_a_hand_made_matrix():
    # Rows ground truth (background, cat, dog), columns prediction.
    confusion = ConfusionMatrix(3)
    confusion.matrix = np.array([[60, 10, 30],    # 100 background pixels: 40 labelled a class
                                 [5, 15, 0],      # 20 cat pixels: 5 labelled background
                                 [15, 5, 60]])    # 80 dog pixels: 15 labelled background
    assert confusion.background_false_activation() == pytest.approx(40 / 100)
    assert confusion.foreground_under_activation() == pytest.approx((5 + 15) / (20 + 80))
    np.testing.assert_allclose(confusion.false_activation_per_class(), [np.nan, 10 / 100, 30 / 100])
    np.testing.assert_allclose(confusion.under_activation_per_class(), [np.nan, 5 / 20, 15 / 80])
    # The per-class false activations add up to the overall rate; the under-activations weigh by class size.
    assert np.nansum(confusion.false_activation_per_class()) == pytest.approx(confusion.background_false_activation())


def test_activation_rates_without_background_or_objects_are_nan():
    objects_only = ConfusionMatrix(3)
    objects_only.update(np.array([[0, 1]], dtype=np.uint8), np.array([[1, 2]], dtype=np.uint8))
    assert np.isnan(objects_only.background_false_activation())
    assert np.isnan(objects_only.false_activation_per_class()).all()
    assert objects_only.foreground_under_activation() == pytest.approx(1 / 2)
    # Class 1 is all under-activated, class 2 predicted as 1 is not labelled background: 0, not NaN.
    np.testing.assert_allclose(objects_only.under_activation_per_class(), [np.nan, 1.0, 0.0])
    background_only = ConfusionMatrix(3)
    background_only.update(np.array([[0, 2]], dtype=np.uint8), np.array([[0, 0]], dtype=np.uint8))
    assert np.isnan(background_only.foreground_under_activation())
    assert background_only.background_false_activation() == pytest.approx(1 / 2)
    assert np.isnan(background_only.under_activation_per_class()).all()
