"""Speed, elapsed time and ETA of a training run, for its log lines and its metrics file."""

import datetime
import time
from collections.abc import Callable

from qaclims.runtime.stage_metrics import Throughput


def clock_time(seconds: float) -> str:
    """Whole seconds as h:mm:ss, as training logs give elapsed time and ETA."""
    return str(datetime.timedelta(seconds=round(seconds)))


class TrainingProgress:
    """Steps taken in this process, from ``first_step`` (a resumed run's) towards ``max_steps``.

    Rates count only this process's steps, so a resumed run's ETA is not skewed by steps it did not take.
    """

    def __init__(self, first_step: int, max_steps: int, images_per_step: int,
                 clock: Callable[[], float] = time.perf_counter):
        self.step, self.max_steps, self.images_per_step = first_step, max_steps, images_per_step
        self.steps_taken = 0
        self.images = Throughput(clock)
        self.marked_images, self.marked_seconds = 0, 0.0

    def step_done(self) -> None:
        self.step += 1
        self.steps_taken += 1
        self.images.add(self.images_per_step)

    def images_per_second_since_mark(self) -> float:
        """The speed since the last call (or the start), so that a curve shows how the speed changes."""
        seconds = self.images.seconds
        rate = (self.images.items - self.marked_images) / (seconds - self.marked_seconds)
        self.marked_images, self.marked_seconds = self.images.items, seconds
        return rate

    def text(self) -> str:
        """``0.250 s/step 32.0 img/s elapsed 0:01:40 eta 0:05:00`` (elapsed in this process)."""
        seconds = self.images.seconds
        per_step = seconds / self.steps_taken
        return (f"{per_step:.3f} s/step {self.images_per_step / per_step:.1f} img/s "
                f"elapsed {clock_time(seconds)} eta {clock_time(per_step * (self.max_steps - self.step))}")
