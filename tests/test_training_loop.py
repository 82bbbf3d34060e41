"""The training loop runs exactly the configured number of steps, by epochs or by iterations, logs its speed and
its curve, and resumes only from checkpoints of the same inputs."""

import argparse
import json
import os
import re

import pandas as pd
import pytest
import torch
from tensorboard.backend.event_processing import event_accumulator

from qaclims.config import load_stage_config
from qaclims.errors import QaclimsError
from qaclims.models.weights import load_weights
from qaclims.stage_keys import stage_keys
from qaclims.train.curves import CurveCsv, TensorBoardCurve
from qaclims.train.distributed import Processes
from qaclims.train.loop import LoopSettings, run_training
from qaclims.train.optim import poly_schedule
from qaclims.train.progress import TrainingProgress, clock_time
from qaclims.train.session import start_training, train_and_save


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


class InputFileSet(CountingSet):
    """CountingSet's samples scaled by the number stored in an input file of the training."""

    def __init__(self, path):
        self.scale = float(torch.load(path, weights_only=True))

    def __getitem__(self, sample: int):
        features, target, sample = super().__getitem__(sample)
        return features * self.scale, target, sample


class Killed(Exception):
    """Stands for the kill of a training process."""


def write_input(path, scale: float) -> None:
    """A new version of the input, written under a temporary name and renamed, as the stages write theirs."""
    torch.save(torch.tensor(scale), f"{path}.partial")
    os.replace(f"{path}.partial", path)


def train_cam_session(base, input_path, checkpoints, killed_at_step: int | None = None) -> dict:
    """train_cam's session on a one-weight model that learns from ``input_path``; the weights it saves."""
    recipe = {"epochs": 3, "batch_size": 4, "checkpoint_every": 2, "log_every": 100}
    config = load_stage_config([json.dumps({"device": "cpu", "cam": {"baseline": recipe}})], "train_cam",
                               stage_keys("train_cam"))
    args = argparse.Namespace(config=config, out=str(base / "weights.pt"), checkpoint_dir=str(checkpoints),
                              threads=1, metrics=None, curve=None, tensorboard=None)
    session = start_training(args, InputFileSet(input_path), config["cam"]["baseline"], 0, "qaclims.stages.train_cam",
                             [str(input_path)])
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    steps = []

    def loss_step(images, labels, samples):
        steps.append(len(samples))
        if len(steps) == killed_at_step:
            raise Killed
        return {"total": ((model(images) - labels) ** 2).mean()}

    train_and_save(session, model, loss_step, optimizer, poly_schedule(optimizer, session.max_steps), ["thing"])
    return load_weights(args.out)["state_dict"]


def test_a_checkpoint_made_from_other_input_files_is_ignored_saying_so_and_the_rerun_equals_a_fresh_one(
        tmp_path, capsys):
    input_path, checkpoints = tmp_path / "features.pt", tmp_path / "checkpoints"
    write_input(input_path, 1.0)
    with pytest.raises(Killed):  # at step 3, after the checkpoint of step 2
        train_cam_session(tmp_path, input_path, checkpoints, killed_at_step=3)
    assert len(list(checkpoints.glob("*/last.pt"))) == 1
    write_input(input_path, 5.0)
    rerun = train_cam_session(tmp_path, input_path, checkpoints)
    log = capsys.readouterr().out
    assert "it was made from other input files" in log and "resuming from" not in log
    fresh = train_cam_session(tmp_path, input_path, tmp_path / "fresh-checkpoints")
    assert all(torch.equal(rerun[name], fresh[name]) for name in fresh)
    # Unchanged inputs still resume.
    with pytest.raises(Killed):
        train_cam_session(tmp_path, input_path, checkpoints, killed_at_step=3)
    assert all(torch.equal(train_cam_session(tmp_path, input_path, checkpoints)[name], fresh[name]) for name in fresh)
    assert "resuming from" in capsys.readouterr().out


@pytest.mark.parametrize("diverging_step", [1, 3])
def test_a_diverging_loss_names_the_last_checkpoint_only_when_one_was_written(tmp_path, diverging_step):
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    settings = LoopSettings(batch_size=4, seed=0, checkpoint_every=2, log_every=100, workers=0, iterations=5)
    steps = []

    def loss_step(images, labels, samples):
        steps.append(len(samples))
        loss = model(images).mean()
        return {"total": loss * float("nan") if len(steps) == diverging_step else loss}

    with pytest.raises(QaclimsError, match=f"the loss became nan at step {diverging_step}") as error:
        run_training(model, CountingSet(), loss_step, optimizer, poly_schedule(optimizer, 5), settings,
                     Processes(0, 1, torch.device("cpu")), str(tmp_path / "ckpt"), "key")
    written = diverging_step > 2  # the checkpoint of step 2
    assert (f"The last good checkpoint is {tmp_path / 'ckpt' / 'last.pt'};" in str(error.value)) == written
    assert ("checkpoint" in str(error.value)) == written


def curve_training(tmp_path, name: str, crash_at_call: int | None = None) -> list[dict[str, float]]:
    """Six steps of one sample a step, checkpointed every second step, logged every step, its curve written under
    ``tmp_path``/``name``; the training raises in its ``crash_at_call``-th loss step, if given, as a killed one stops.
    Return the losses of each step it took."""
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD([{"params": model.parameters(), "name": "weights"}], lr=0.1)
    settings = LoopSettings(batch_size=1, seed=0, checkpoint_every=2, log_every=1, workers=0, iterations=6)
    writers = [CurveCsv(tmp_path / f"{name}.csv"), TensorBoardCurve(tmp_path / name)]
    taken = []

    def loss_step(images, labels, samples):
        if len(taken) + 1 == crash_at_call:
            raise Killed
        fit = ((model(images) - labels) ** 2).mean()
        taken.append({"fit": fit.item(), "total": 2 * fit.item()})
        return {"fit": fit, "total": 2 * fit}

    try:
        run_training(model, CountingSet(), loss_step, optimizer, poly_schedule(optimizer, 6), settings,
                     Processes(0, 1, torch.device("cpu")), str(tmp_path / "ckpt" / name), "key", writers)
    except Killed:
        for writer in writers:  # as the process's end would
            writer.close()
    return taken


def scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the event files in ``folder``, as TensorBoard reads them: (step, value) per tag."""
    events = event_accumulator.EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(event.step, event.value) for event in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_the_curve_table_and_event_files_hold_each_logged_step_with_its_losses_learning_rates_and_speed(tmp_path):
    taken = curve_training(tmp_path, "run")
    table = pd.read_csv(tmp_path / "run.csv")
    assert list(table.columns) == ["step", "loss/fit", "loss/total", "lr/weights", "images_per_second"]
    assert table["step"].tolist() == [1, 2, 3, 4, 5, 6]
    # The losses exactly as the loss step gave them; the learning rate with which each step was taken.
    assert table["loss/fit"].tolist() == [losses["fit"] for losses in taken]
    assert table["loss/total"].tolist() == [losses["total"] for losses in taken]
    assert table["lr/weights"].tolist() == pytest.approx([0.1 * (1 - step / 6) ** 0.9 for step in range(6)])
    assert (table["images_per_second"] > 0).all()
    events = scalars(tmp_path / "run")
    assert set(events) == set(table.columns) - {"step"}
    for tag, points in events.items():
        assert [step for step, _ in points] == [1, 2, 3, 4, 5, 6], tag
        assert [value for _, value in points] == pytest.approx(table[tag].tolist(), rel=1e-6), tag


def test_a_resumed_training_writes_the_curve_of_one_that_never_stopped(tmp_path):
    curve_training(tmp_path, "whole")
    # Stopped in step 6: step 5 is logged, but the checkpoint is step 4's, so the rerun takes steps 5 and 6 again.
    assert len(curve_training(tmp_path, "resumed", crash_at_call=6)) == 5
    assert pd.read_csv(tmp_path / "resumed.csv")["step"].tolist() == [1, 2, 3, 4, 5]
    assert len(curve_training(tmp_path, "resumed")) == 2
    whole, resumed = (pd.read_csv(tmp_path / f"{name}.csv").drop(columns="images_per_second")
                      for name in ("whole", "resumed"))
    pd.testing.assert_frame_equal(resumed, whole)
    whole_events, resumed_events = scalars(tmp_path / "whole"), scalars(tmp_path / "resumed")
    assert resumed_events["loss/total"] == whole_events["loss/total"]  # every step once, the rerun's 5th
    assert resumed_events["lr/weights"] == whole_events["lr/weights"]
