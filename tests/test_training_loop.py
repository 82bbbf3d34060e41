"""The training loop runs exactly the configured number of steps, by epochs or by iterations, and logs its speed."""

import re

import pytest
import torch

from qaclims.train.distributed import Processes
from qaclims.train.loop import LoopSettings, run_training
from qaclims.train.optim import poly_schedule
from qaclims.train.progress import TrainingProgress, clock_time


class CountingSet(torch.utils.data.Dataset):
    """Ten samples of one feature; the loop sets ``epoch``."""

    epoch = 0

    def __len__(self) -> int:
        return 10

    def __getitem__(self, sample: int):
        return torch.full((1,), float(sample)), torch.ones(1), sample


def steps_run(tmp_path, **length) -> list[int]:
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    settings = LoopSettings(batch_size=4, seed=0, checkpoint_every=100, log_every=100, workers=0, **length)
    scheduler = poly_schedule(optimizer, settings.max_steps(10))
    seen = []

    def loss_step(images, labels, samples):
        seen.append(len(samples))
        return {"total": ((model(images) - labels) ** 2).mean()}

    run_training(model, CountingSet(), loss_step, optimizer, scheduler, settings,
                 Processes(0, 1, torch.device("cpu")), str(tmp_path / "ckpt"), "key")
    return seen


def test_an_iteration_count_that_ends_inside_an_epoch_stops_there(tmp_path):
    # 10 samples in batches of 4 make 2 steps per epoch; 5 iterations end in the third epoch.
    assert steps_run(tmp_path, iterations=5) == [4] * 5


def test_epochs_run_every_full_batch_of_each_epoch(tmp_path):
    assert steps_run(tmp_path, epochs=3) == [4] * 6


def test_a_loop_needs_exactly_one_of_epochs_and_iterations():
    with pytest.raises(ValueError, match="either epochs or iterations"):
        LoopSettings(batch_size=4, seed=0, checkpoint_every=1, log_every=1, workers=0, epochs=1, iterations=2)


class FakeClock:
    """A clock that stands still until moved on."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_gives_images_per_second_elapsed_time_and_the_time_left_at_the_present_speed():
    clock = FakeClock()
    # A run resumed at step 100 of 400, 16 images a step.
    progress = TrainingProgress(first_step=100, max_steps=400, images_per_step=16, clock=clock)
    for _ in range(20):
        clock.now += 0.5
        progress.step_done()
    # 20 steps in 10 s: 0.5 s a step, 32 images a second, 280 steps left take 140 s.
    assert progress.text() == "0.500 s/step 32.0 img/s elapsed 0:00:10 eta 0:02:20"
    assert progress.images.items == 320 and progress.images.seconds == 10


def test_clock_times_read_as_hours_minutes_and_seconds():
    assert [clock_time(seconds) for seconds in (0.4, 59.6, 3725.2)] == ["0:00:00", "0:01:00", "1:02:05"]


def test_the_training_log_gives_speed_elapsed_time_and_eta_at_every_logged_step(tmp_path, capsys):
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    settings = LoopSettings(batch_size=4, seed=0, checkpoint_every=100, log_every=2, workers=0, iterations=5)
    progress = run_training(model, CountingSet(), lambda images, labels, samples: {"total": model(images).mean()},
                            optimizer, poly_schedule(optimizer, 5), settings, Processes(0, 1, torch.device("cpu")),
                            str(tmp_path / "ckpt"), "key")
    steps = re.findall(r"step (\d)/5 .* s/step \S+ img/s elapsed \d+:\d\d:\d\d eta \d+:\d\d:\d\d$",
                       capsys.readouterr().out, flags=re.MULTILINE)
    assert steps == ["2", "4", "5"]
    assert progress.images.items == 5 * 4
