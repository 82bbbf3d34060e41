"""Train the baseline multi-label CAM classifier (IRNet's recipe)."""

import torch
import torch.nn.functional as F

from qaclims.data.index import read_index
from qaclims.models.cam import BaselineCAMNetwork
from qaclims.stages.shared.arguments import add_config_argument
from qaclims.train.distributed import distribute
from qaclims.train.optim import poly_sgd
from qaclims.train.session import add_training_arguments, start_training, train_and_save
from qaclims.train.training_sets import classification_set

DESCRIPTION = "train the baseline multi-label classifier whose weights start QA-CLIMS training"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    add_training_arguments(parser)


def run(args) -> None:
    settings = args.config["cam"]
    recipe = settings["baseline"]
    index = read_index(args.index)
    dataset, _ = classification_set(index, recipe, settings["seed"])
    session = start_training(args, dataset, recipe, settings["seed"], __name__,
                             [args.index, settings["backbone_weights"]])
    torch.manual_seed(settings["seed"])
    network = BaselineCAMNetwork(settings["backbone"], len(index.classes), settings["backbone_weights"])
    backbone, head = network.parameter_groups()
    model = distribute(network, session.processes, sync_batch_norm=False)
    optimizer, scheduler = poly_sgd(backbone, head, recipe["lr"], recipe["head_lr_multiplier"],
                                    recipe["weight_decay"], recipe["momentum"], session.max_steps)

    def loss_step(images, labels, samples):
        loss = F.multilabel_soft_margin_loss(model(images), labels)
        return {"total": loss}

    train_and_save(session, model, loss_step, optimizer, scheduler, index.classes)
