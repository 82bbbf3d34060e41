"""The training loop runs exactly the configured number of steps, by epochs or by iterations."""

import pytest
import torch

from qaclims.train.distributed import Processes
from qaclims.train.loop import LoopSettings, run_training
from qaclims.train.optim import poly_schedule


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
