"""What the evaluation stages write: the per-class table of a confusion matrix."""

import pandas as pd

from qaclims.evaluation.metrics import ConfusionMatrix
from qaclims.runtime.atomic import atomic_path


def per_class_table(confusion: ConfusionMatrix, classes: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"class": ["background", *classes], "iou": confusion.iou(),
                         "precision": confusion.precision(), "recall": confusion.recall()})


def write_per_class(path: str, confusion: ConfusionMatrix, classes: list[str]) -> None:
    with atomic_path(path) as partial:
        per_class_table(confusion, classes).to_csv(partial, index=False)
