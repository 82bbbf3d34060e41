"""Train the segmentation network (DeepLab) on the pseudo labels."""

import torch

from qaclims.data.index import read_index
from qaclims.runtime.device import autocast
from qaclims.seg.network import network_from_config
from qaclims.seg.objective import LOSSES, multi_scale_loss
from qaclims.stages.shared.arguments import add_config_argument
from qaclims.train.distributed import distribute
from qaclims.train.optim import poly_schedule
from qaclims.train.session import add_training_arguments, start_training, train_and_save
from qaclims.train.training_sets import label_map_set

DESCRIPTION = "train DeepLab on the pseudo labels"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    add_training_arguments(parser)
    parser.add_argument("--labels", nargs="+", required=True, help="pseudo_label shard folders")


def run(args) -> None:
    config, settings = args.config, args.config["seg"]
    index = read_index(args.index)
    # Full-resolution labels: the multi-scale loss resizes them to the logits of each scale.
    dataset = label_map_set(index, settings["split"], args.labels, "pseudo_label", settings, settings["seed"],
                            label_stride=1)
    session = start_training(args, dataset, settings, settings["seed"], __name__,
                             [args.index, *args.labels, settings["backbone_weights"]])

    torch.manual_seed(settings["seed"])
    network = network_from_config(settings, len(index.classes), settings["backbone_weights"])
    backbone, head_weights, head_biases = network.parameter_groups()
    model = distribute(network, session.processes, sync_batch_norm=False)
    lr = settings["lr"]
    optimizer = torch.optim.SGD([
        {"params": backbone, "lr": lr, "name": "backbone"},
        {"params": head_weights, "lr": lr * settings["head_lr_multiplier"], "name": "head_weights"},
        {"params": head_biases, "lr": 2 * lr * settings["head_lr_multiplier"], "weight_decay": 0.0,
         "name": "head_biases"},
    ], lr=lr, momentum=settings["momentum"], weight_decay=settings["weight_decay"])
    scheduler = poly_schedule(optimizer, session.max_steps, settings["poly_power"])
    loss = LOSSES[settings["loss"]]

    def loss_step(images, label_maps, samples):
        with autocast(session.processes.device, config["precision"]):
            return {"total": multi_scale_loss(model, images, label_maps, settings["train_scales"], loss)}

    train_and_save(session, model, loss_step, optimizer, scheduler, index.classes)
