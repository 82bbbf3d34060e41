"""The training loop: deterministic batches, checkpoints, resume, and a training curve in the log and its files."""

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from qaclims.errors import QaclimsError
from qaclims.train.checkpoint import (
    LAST,
    load_checkpoint,
    remove_checkpoints,
    save_checkpoint,
)
from qaclims.train.curves import CurveWriter, TrainingCurve, curve_point, learning_rates
from qaclims.train.data import epoch_batches
from qaclims.train.distributed import Processes
from qaclims.train.progress import TrainingProgress


@dataclass(frozen=True)
class LoopSettings:
    batch_size: int  # global: split over the processes
    seed: int
    checkpoint_every: int
    log_every: int
    workers: int
    # Exactly one says how long to train: the CAM and IRNet recipes count epochs, DeepLab's counts steps.
    epochs: int | None = None
    iterations: int | None = None

    def __post_init__(self):
        if (self.epochs is None) == (self.iterations is None):
            raise ValueError("a training loop runs for either epochs or iterations, not both or neither")

    def max_steps(self, num_samples: int) -> int:
        per_epoch = steps_per_epoch(num_samples, self.batch_size)
        return self.iterations if self.iterations is not None else per_epoch * self.epochs


def steps_per_epoch(num_samples: int, batch_size: int) -> int:
    steps = num_samples // batch_size
    if steps == 0:
        raise QaclimsError(f"the batch size {batch_size} is larger than the {num_samples} training images")
    return steps


def run_training(model: torch.nn.Module, dataset: torch.utils.data.Dataset,
                 loss_step: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], dict[str, torch.Tensor]],
                 optimizer, scheduler, settings: LoopSettings, processes: Processes,
                 checkpoint_dir: str, checkpoint_key: str,
                 curve_writers: Sequence[CurveWriter] = ()) -> TrainingProgress:
    """Train for ``settings.max_steps`` steps, resuming from the last checkpoint under ``checkpoint_key``;
    return the progress of this process's steps (its speed).

    ``dataset`` yields (images, labels, sample) and augments by its ``epoch`` attribute, which is set
    here; ``loss_step(images, labels, samples)`` returns named losses, "total" among them. The main process
    gives the ``curve_writers`` a point of the training curve at every logged step.
    """
    per_epoch = steps_per_epoch(len(dataset), settings.batch_size)
    max_steps = settings.max_steps(len(dataset))
    step, curve_points = load_checkpoint(checkpoint_dir, checkpoint_key, unwrap(model), optimizer, scheduler)
    curve = TrainingCurve(curve_points, curve_writers if processes.is_main else [])
    progress = TrainingProgress(step, max_steps, settings.batch_size)
    while step < max_steps:
        epoch, first = divmod(step, per_epoch)
        dataset.epoch = epoch
        # Each process takes its share of every global batch; an iteration count may end inside an epoch.
        remaining = epoch_batches(len(dataset), settings.batch_size, settings.seed, epoch)[first:][:max_steps - step]
        batches = [batch[processes.rank::processes.world_size] for batch in remaining]
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, num_workers=settings.workers)
        for images, labels, samples in loader:
            losses = loss_step(images.to(processes.device), labels.to(processes.device), samples)
            total = losses["total"]
            if not math.isfinite(total.item()):
                raise QaclimsError(f"the loss became {total.item()} at step {step + 1}; training stopped. "
                                   f"{kept_checkpoint(checkpoint_dir)}lower the learning rate or check the inputs")
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            rates = learning_rates(optimizer)  # those of this step, before the schedule moves them on
            scheduler.step()
            step += 1
            progress.step_done()
            if processes.is_main and (step % settings.log_every == 0 or step == max_steps):
                curve.add(curve_point(step, losses, rates, progress.images_per_second_since_mark()))
                named = " ".join(f"{name}={value.item():.4f}" for name, value in losses.items())
                print(f"epoch {epoch + 1}/{math.ceil(max_steps / per_epoch)} step {step}/{max_steps} {named} "
                      f"lr={next(iter(rates.values())):.3g} {progress.text()}", flush=True)
            if processes.is_main and step % settings.checkpoint_every == 0 and step < max_steps:
                save_checkpoint(checkpoint_dir, checkpoint_key, step, unwrap(model), optimizer, scheduler,
                                curve.points)
    curve.close()
    if processes.is_main:
        remove_checkpoints(checkpoint_dir)
    return progress


def kept_checkpoint(checkpoint_dir: str) -> str:
    """Where the last good checkpoint is, as the start of a sentence, or nothing when none was written."""
    path = os.path.join(checkpoint_dir, LAST)
    return f"The last good checkpoint is {path}; " if os.path.isfile(path) else ""


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
