"""What the evaluation stages write: the per-class tables of a confusion matrix."""

import pandas as pd

from qaclims.evaluation.metrics import ConfusionMatrix
from qaclims.runtime.atomic import atomic_path


def activation_rates(confusion: ConfusionMatrix) -> dict[str, float]:
    """The two activation errors of a confusion matrix, under the names the summaries and the report use."""
    return {"background_false_activation": confusion.background_false_activation(),
            "foreground_under_activation": confusion.foreground_under_activation()}


def per_class_table(confusion: ConfusionMatrix, classes: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"class": ["background", *classes], "iou": confusion.iou(),
                         "precision": confusion.precision(), "recall": confusion.recall()})


def write_per_class(path: str, confusion: ConfusionMatrix, classes: list[str]) -> None:
    """The per-class table of a seed or pseudo-label evaluation, with each class's share of the two activation
    errors (empty on the background row)."""
    # The columns have the names of the overall rates, whose shares per class they are.
    table = per_class_table(confusion, classes).assign(
        background_false_activation=confusion.false_activation_per_class(),
        foreground_under_activation=confusion.under_activation_per_class())
    with atomic_path(path) as partial:
        table.to_csv(partial, index=False)
