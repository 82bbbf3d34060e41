"""A training's curve: every ``log_every`` steps, each loss term, the learning rate of each parameter group and the
images per second, written out as it grows, as a CSV table and as TensorBoard event files.

The points so far travel in each checkpoint. A resumed training rewrites its files from the checkpoint's points,
so that no point after the checkpoint's step survives a kill and none before it is lost: the curve reads the same
after a kill and rerun as without one.
"""

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import torch
from torch.utils.tensorboard import SummaryWriter

from qaclims.runtime.atomic import atomic_path, make_folder
from qaclims.train.curve_columns import (
    IMAGES_PER_SECOND,
    LEARNING_RATE,
    LOSS,
    STEP,
    CurvePoint,
)


def learning_rates(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """The learning rate of each parameter group, under the group's "name" where it has one, else its position."""
    return {f"{LEARNING_RATE}{group.get('name', index)}": group["lr"]
            for index, group in enumerate(optimizer.param_groups)}


def curve_point(step: int, losses: Mapping[str, torch.Tensor], rates: Mapping[str, float],
                images_per_second: float) -> CurvePoint:
    return {STEP: step, **{LOSS + name: value.item() for name, value in losses.items()}, **rates,
            IMAGES_PER_SECOND: images_per_second}


class CurveWriter(Protocol):
    def restart(self, points: Sequence[CurvePoint]) -> None:
        """Make the written curve ``points`` and nothing else: what a killed run wrote after them goes."""

    def add(self, point: CurvePoint) -> None:
        """Write one more point, so that a reader sees it now."""

    def close(self) -> None: ...


class TrainingCurve:
    """The points of one training, from those its checkpoint kept, and the writers that write them out."""

    def __init__(self, points: Sequence[CurvePoint], writers: Sequence[CurveWriter]):
        self.points, self.writers = list(points), list(writers)
        for writer in self.writers:
            writer.restart(self.points)

    def add(self, point: CurvePoint) -> None:
        self.points.append(point)
        for writer in self.writers:
            writer.add(point)

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


def csv_lines(points: Sequence[CurvePoint], columns: list[str], header: bool) -> str:
    """Points as CSV lines; floats as Python writes them, so that they read back exactly. A point with a tag
    that is not one of the ``columns`` is refused."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows(points)
    return text.getvalue()


class CurveCsv:
    """The curve as a CSV table, a row per point.

    The table is rewritten whole (to a temporary name, then renamed) when a training starts or resumes; each
    point after that is one appended line, written by a single system call, so that a killed process leaves
    whole lines. A fresh start removes the table of an earlier run; its header comes with the first point.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.descriptor: int | None = None
        self.columns: list[str] = []

    def restart(self, points: Sequence[CurvePoint]) -> None:
        self.close()
        if not points:
            self.path.unlink(missing_ok=True)
            return
        self.columns = list(points[0])
        with atomic_path(self.path) as partial:
            partial.write_text(csv_lines(points, self.columns, header=True))
        self.descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def add(self, point: CurvePoint) -> None:
        if self.descriptor is None:
            self.restart([point])
        else:
            os.write(self.descriptor, csv_lines([point], self.columns, header=False).encode())

    def close(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None


EVENT_FILES = "events.out.tfevents.*"


class TensorBoardCurve:
    """The curve as TensorBoard event files in a folder of its own: a scalar per tag, at the point's step.

    A start or resume removes the folder's event files and writes the kept points into a new one, so that
    TensorBoard shows one line per tag without the points of a killed run.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.writer: SummaryWriter | None = None

    def restart(self, points: Sequence[CurvePoint]) -> None:
        self.close()
        make_folder(self.folder)
        for stale in self.folder.glob(EVENT_FILES):
            stale.unlink()
        self.writer = SummaryWriter(str(self.folder))
        for point in points:
            self.write_scalars(point)
        self.writer.flush()

    def add(self, point: CurvePoint) -> None:
        self.write_scalars(point)
        self.writer.flush()

    def write_scalars(self, point: CurvePoint) -> None:
        for tag, value in point.items():
            if tag != STEP:
                self.writer.add_scalar(tag, value, point[STEP])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
