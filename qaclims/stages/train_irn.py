"""Train IRNet's class-boundary branch (and optionally its displacement branch) on the seed labels."""

import torch

from qaclims.data.index import read_index
from qaclims.errors import ConfigError
from qaclims.models.irn import IRNetwork
from qaclims.refine.affinity import irn_losses
from qaclims.stages.shared.arguments import add_config_argument
from qaclims.train.distributed import distribute
from qaclims.train.optim import poly_sgd
from qaclims.train.session import add_training_arguments, start_training, train_and_save
from qaclims.train.training_sets import label_map_set

DESCRIPTION = "train IRNet's boundary branch on the seed labels of ir_label (frozen backbone)"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    add_training_arguments(parser)
    parser.add_argument("--labels", nargs="+", required=True, help="ir_label shard folders")


def run(args) -> None:
    config, settings = args.config, args.config["irn"]
    grid, reach = settings["crop_size"] // 4, settings["radius"] - 1
    if grid <= 2 * reach:
        raise ConfigError(f"irn.crop_size {settings['crop_size']} gives a {grid}-pixel stride-4 grid, too small for "
                          f"pairs of irn.radius {settings['radius']}; make the crop larger than "
                          f"{8 * reach} or the radius smaller")
    index = read_index(args.index)
    # The boundary map, and so the labels it learns from, are at stride 4.
    dataset = label_map_set(index, config["make_cam"]["split"], args.labels, "ir_label", settings, settings["seed"],
                            label_stride=4)
    session = start_training(args, dataset, settings, settings["seed"], __name__,
                             [args.index, *args.labels, config["cam"]["backbone_weights"]])

    torch.manual_seed(settings["seed"])
    network = IRNetwork(config["cam"]["backbone"], config["cam"]["backbone_weights"], settings["displacement"])
    boundary, displacement = network.parameter_groups()
    model = distribute(network, session.processes, sync_batch_norm=False)
    optimizer, scheduler = poly_sgd(boundary, displacement, settings["lr"], settings["displacement_lr_multiplier"],
                                    settings["weight_decay"], settings["momentum"], session.max_steps,
                                    names=("boundary", "displacement"))

    def loss_step(images, label_maps, samples):
        boundary_logits, displacement_field = model(images)
        return irn_losses(boundary_logits, label_maps, settings["radius"], displacement_field)

    train_and_save(session, model, loss_step, optimizer, scheduler, index.classes)
