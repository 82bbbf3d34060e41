"""The one path of every training stage: start, train (resuming), save the weights.

A stage brings what is its own (its training set, model, optimizer and loss); this module does the rest
the same way for all of them.
"""

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from qaclims.config import DeclaredConfig, settings_from
from qaclims.errors import ConfigError
from qaclims.models.weights import save_weights
from qaclims.runtime.stage_metrics import (
    add_metrics_argument,
    metrics_record,
    peak_gpu_memory_mb,
    write_stage_metrics,
)
from qaclims.runtime.work_key import code_version, work_key
from qaclims.train.curves import CurveCsv, CurveWriter, TensorBoardCurve
from qaclims.train.distributed import (
    Processes,
    largest_over_processes,
    loader_workers,
    start_processes,
    stop_processes,
)
from qaclims.train.loop import LoopSettings, run_training, unwrap


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, help="dataset index parquet")
    parser.add_argument("--out", required=True, help="weights file to write")
    parser.add_argument("--checkpoint-dir", required=True,
                        help="folder for resumable checkpoints, one subfolder per config and code version")
    parser.add_argument("--threads", type=int, default=1, help="threads of the whole job, shared by its processes; all but one of each share load data")
    add_metrics_argument(parser)
    parser.add_argument("--curve", help="CSV file to write the training curve to (losses, learning rates, speed)")
    parser.add_argument("--tensorboard", help="folder of its own for the training curve as TensorBoard event files")


@dataclass(frozen=True)
class TrainingSession:
    """What a training stage has started: its processes and loop, and where it resumes from and saves to."""
    dataset: torch.utils.data.Dataset
    processes: Processes
    loop: LoopSettings
    max_steps: int  # for the stage's learning-rate schedule
    config: DeclaredConfig  # the keys the stage declares; those it reads are kept with the weights
    code_version: str
    checkpoint_key: str
    checkpoint_dir: str
    weights_path: str
    metrics_path: str | None
    curve_writers: list[CurveWriter]


def start_training(args: argparse.Namespace, dataset: torch.utils.data.Dataset, section: DeclaredConfig, seed: int,
                   stage_module: str, inputs: list[str]) -> TrainingSession:
    """Join the processes and read the loop settings (batch size, schedule, logging) from the recipe ``section``;
    checkpoints resume only from the same ``inputs`` files."""
    processes = start_processes(args.config["device"])
    loop = settings_from(LoopSettings, section, seed=seed, workers=loader_workers(args.threads, processes))
    if loop.batch_size > len(dataset):
        raise ConfigError(f"config key {section.dotted('batch_size')} is {loop.batch_size}, more than the "
                          f"{len(dataset)} training images; set it to at most {len(dataset)}, or add images")
    version = code_version(stage_module)
    config = args.config.to_dict()
    # Checkpoints resume only under the same config, stage code and input files. The folder is the config's and the
    # code's alone, so that a checkpoint made from other inputs is found there, ignored saying so, and replaced.
    folder = os.path.join(args.checkpoint_dir, work_key(config, version, {}, []))
    key = work_key(config, version, {}, inputs)
    return TrainingSession(dataset, processes, loop, loop.max_steps(len(dataset)), args.config, version, key, folder,
                           args.out, args.metrics, curve_writers(args.curve, args.tensorboard))


def curve_writers(csv_path: str | None, tensorboard_folder: str | None) -> list[CurveWriter]:
    """Writers of the training curve to each of the two places that is given."""
    writers: list[CurveWriter] = []
    if csv_path:
        writers.append(CurveCsv(csv_path))
    if tensorboard_folder:
        writers.append(TensorBoardCurve(tensorboard_folder))
    return writers


def train_and_save(session: TrainingSession, model: torch.nn.Module,
                   loss_step: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], dict[str, torch.Tensor]],
                   optimizer, scheduler, classes: list[str]) -> None:
    """Train (resuming under the session's checkpoint key), write the weights and the metrics, leave the process
    group. The metrics give the images per second of all processes together and the largest peak of any one GPU."""
    model.train()
    progress = run_training(model, session.dataset, loss_step, optimizer, scheduler, session.loop, session.processes,
                            session.checkpoint_dir, session.checkpoint_key, session.curve_writers)
    peak = peak_gpu_memory_mb(session.processes.device)
    if peak is not None:
        peak = largest_over_processes(peak, session.processes)
    metrics = metrics_record(progress.images.items, progress.images.seconds, "img", peak)
    if session.processes.is_main:
        save_weights(session.weights_path, unwrap(model), classes, session.config.read_values(), session.code_version)
        if session.metrics_path:
            write_stage_metrics(session.metrics_path, metrics)
    stop_processes(session.processes)
