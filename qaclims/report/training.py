"""The training curves that the report draws, read from the CSV tables the trainings write (qaclims.train.curves)."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from qaclims.errors import QaclimsError
from qaclims.report.inputs import read_table
from qaclims.train.curve_columns import IMAGES_PER_SECOND, LEARNING_RATE, LOSS, STEP


@dataclass(frozen=True)
class Curve:
    """One training's points, under the label its lines get: "step", then a column per tag (loss/..., lr/...)."""
    label: str
    points: pd.DataFrame

    def loss_terms(self) -> list[str]:
        return [column.removeprefix(LOSS) for column in self.points.columns if column.startswith(LOSS)]

    def parameter_groups(self) -> list[str]:
        return [column.removeprefix(LEARNING_RATE) for column in self.points.columns
                if column.startswith(LEARNING_RATE)]


def read_curves(paths: Mapping[str, str]) -> tuple[list[Curve], list[str]]:
    """The curve of each label whose table exists, and the labels without one: a training that ran before the
    trainings wrote curves, or whose log folder was cleared, is not run again for its curve."""
    curves, missing = [], []
    for label, path in paths.items():
        if Path(path).is_file():
            curves.append(Curve(label, read_table(path, [STEP, f"{LOSS}total", IMAGES_PER_SECOND])))
        else:
            missing.append(label)
    return curves, missing


def labelled_paths(pairs: list[str]) -> dict[str, str]:
    """``["ritc=logs/train_ritc/ritc.curve.csv", ...]`` as {label: path}."""
    unlabelled = [pair for pair in pairs if "=" not in pair]
    if unlabelled:
        raise QaclimsError(f"curve tables are given as LABEL=PATH, not {', '.join(unlabelled)}")
    return dict(pair.split("=", 1) for pair in pairs)
