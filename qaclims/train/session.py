"""The one path of every training stage: start, train (resuming), save the weights.

A stage brings what is its own (its training set, model, optimizer and loss); this module does the rest
the same way for all of them.
"""

import argparse
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

import qaclims
from qaclims.config import DeclaredConfig, settings_from
from qaclims.models.weights import save_weights
from qaclims.runtime.provenance import code_hash
from qaclims.train.distributed import (
    Processes,
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


def start_training(args: argparse.Namespace, dataset: torch.utils.data.Dataset, section: Mapping, seed: int,
                   stage_module: str) -> TrainingSession:
    """Join the processes and read the loop settings (batch size, schedule, logging) from the recipe ``section``."""
    processes = start_processes(args.config["device"])
    loop = settings_from(LoopSettings, section, seed=seed, workers=loader_workers(args.threads, processes))
    version = code_version(stage_module)
    key = checkpoint_key(args.config.to_dict(), version)
    return TrainingSession(dataset, processes, loop, loop.max_steps(len(dataset)), args.config, version, key,
                           os.path.join(args.checkpoint_dir, key), args.out)


def code_version(stage_module: str) -> str:
    return code_hash([stage_module], Path(qaclims.__file__).resolve().parents[1])


def checkpoint_key(config: dict, version: str) -> str:
    """Checkpoints resume only under the same config and the same stage code."""
    text = json.dumps(config, sort_keys=True) + version
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def train_and_save(session: TrainingSession, model: torch.nn.Module,
                   loss_step: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], dict[str, torch.Tensor]],
                   optimizer, scheduler, classes: list[str]) -> None:
    """Train (resuming under the session's checkpoint key), write the weights, leave the process group."""
    model.train()
    run_training(model, session.dataset, loss_step, optimizer, scheduler, session.loop, session.processes,
                 session.checkpoint_dir, session.checkpoint_key)
    if session.processes.is_main:
        save_weights(session.weights_path, unwrap(model), classes, session.config.read_values(), session.code_version)
    stop_processes(session.processes)
