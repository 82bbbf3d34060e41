"""What the CAM training stages share: arguments, data and loop set-up, checkpoint key, weights file."""

import argparse
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

import qaclims
from qaclims.models.weights import save_weights
from qaclims.provenance import code_hash
from qaclims.train.data import Augmentation, ClassificationDataset
from qaclims.train.distributed import Processes, loader_workers, start_processes, stop_processes
from qaclims.train.loop import LoopSettings, labelled_images, run_training, steps_per_epoch, unwrap


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, help="dataset index parquet")
    parser.add_argument("--out", required=True, help="weights file to write")
    parser.add_argument("--checkpoint-dir", required=True,
                        help="folder for resumable checkpoints, one subfolder per config and code version")
    parser.add_argument("--threads", type=int, default=1, help="threads of the whole job, shared by its processes; all but one of each share load data")


@dataclass
class TrainingSetup:
    dataset: ClassificationDataset
    loop: LoopSettings
    processes: Processes
    max_steps: int
    checkpoint_key: str
    image_ids: list[str]


def training_setup(args: argparse.Namespace, index, recipe: dict, seed: int, stage_module: str) -> TrainingSetup:
    frame, labels = labelled_images(index, recipe["split"])
    augmentation = Augmentation(recipe["crop_size"], tuple(recipe["resize_long"]), flip=True)
    dataset = ClassificationDataset(list(frame["image_path"]), labels, augmentation, seed)
    processes = start_processes(args.config["device"])
    loop = LoopSettings(recipe["epochs"], recipe["batch_size"], seed, recipe["checkpoint_every"],
                        recipe["log_every"], workers=loader_workers(args.threads, processes))
    max_steps = steps_per_epoch(len(dataset), recipe["batch_size"]) * recipe["epochs"]
    return TrainingSetup(dataset, loop, processes, max_steps,
                         checkpoint_key(args.config, stage_module), list(frame["image_id"]))


def code_version(stage_module: str) -> str:
    return code_hash([stage_module], Path(qaclims.__file__).resolve().parents[1])


def checkpoint_key(config: dict, stage_module: str) -> str:
    """Checkpoints resume only under the same config and the same stage code."""
    text = json.dumps(config, sort_keys=True) + code_version(stage_module)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_stage_weights(path: str, model: torch.nn.Module, classes: list[str], config: dict, stage_module: str) -> None:
    save_weights(path, model, classes, config, code_version(stage_module))


def train_and_save(args: argparse.Namespace, model: torch.nn.Module, dataset, loss_step, optimizer, scheduler,
                   loop: LoopSettings, processes: Processes, classes: list[str], stage_module: str) -> None:
    """Train (resuming under this config and code's checkpoint key), write the weights, leave the process group."""
    key = checkpoint_key(args.config, stage_module)
    model.train()
    run_training(model, dataset, loss_step, optimizer, scheduler, loop, processes,
                 os.path.join(args.checkpoint_dir, key), key)
    if processes.is_main:
        save_stage_weights(args.out, unwrap(model), classes, args.config, stage_module)
    stop_processes(processes)
