"""Train the baseline multi-label CAM classifier (IRNet's recipe)."""

import os

import torch
import torch.nn.functional as F

from qaclims.data.index import read_index
from qaclims.models.cam import BaselineCAMNetwork
from qaclims.stages.common import add_config_argument
from qaclims.stages.training import add_training_arguments, save_stage_weights, training_setup
from qaclims.train.distributed import distribute, stop_processes
from qaclims.train.loop import run_training, unwrap
from qaclims.train.optim import poly_sgd

DESCRIPTION = "train the baseline multi-label classifier whose weights start QA-CLIMS training"


def add_arguments(parser) -> None:
    add_config_argument(parser, "reads cam.*, device")
    add_training_arguments(parser)


def run(args) -> None:
    settings = args.config["cam"]
    recipe = settings["baseline"]
    index = read_index(args.index)
    setup = training_setup(args, index, recipe, settings["seed"], __name__)
    torch.manual_seed(settings["seed"])
    network = BaselineCAMNetwork(settings["backbone"], len(index.classes), settings["backbone_weights"])
    backbone, head = network.parameter_groups()
    model = distribute(network, setup.processes, sync_batch_norm=False)
    optimizer, scheduler = poly_sgd(backbone, head, recipe["lr"], recipe["head_lr_multiplier"],
                                    recipe["weight_decay"], recipe["momentum"], setup.max_steps)

    def loss_step(images, labels, samples):
        loss = F.multilabel_soft_margin_loss(model(images), labels)
        return {"total": loss}

    model.train()
    run_training(model, setup.dataset, loss_step, optimizer, scheduler, setup.loop, setup.processes,
                 os.path.join(args.checkpoint_dir, setup.checkpoint_key), setup.checkpoint_key)
    if setup.processes.is_main:
        save_stage_weights(args.out, unwrap(model), index.classes, args.config, __name__)
    stop_processes(setup.processes)
