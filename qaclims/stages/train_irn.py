"""Train IRNet's class-boundary branch (and optionally its displacement branch) on the seed labels."""

import torch

from qaclims.affinity import irn_losses
from qaclims.data.index import read_index
from qaclims.errors import ConfigError
from qaclims.models.irn import IRNetwork
from qaclims.stages.common import add_config_argument
from qaclims.stages.image_files import files_by_image
from qaclims.stages.training import add_training_arguments, train_and_save
from qaclims.train.data import LabelledImageDataset, ScaleAugmentation
from qaclims.train.distributed import distribute, loader_workers, start_processes
from qaclims.train.loop import LoopSettings
from qaclims.train.optim import poly_sgd

DESCRIPTION = "train IRNet's boundary branch on the seed labels of ir_label (frozen backbone)"


def add_arguments(parser) -> None:
    add_config_argument(parser, "reads irn.*, cam.backbone, cam.backbone_weights, make_cam.split, device")
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
    frame = index.split(config["make_cam"]["split"]).sort_values("image_id").reset_index(drop=True)
    label_paths = files_by_image(args.labels, frame["image_id"], ".png", "ir_label")
    augmentation = ScaleAugmentation(settings["crop_size"], tuple(settings["scale_range"]))
    dataset = LabelledImageDataset(list(frame["image_path"]), [label_paths[i] for i in frame["image_id"]],
                                   augmentation, settings["seed"])
    processes = start_processes(config["device"])
    loop = LoopSettings(settings["epochs"], settings["batch_size"], settings["seed"], settings["checkpoint_every"],
                        settings["log_every"], workers=loader_workers(args.threads, processes))

    torch.manual_seed(settings["seed"])
    network = IRNetwork(config["cam"]["backbone"], config["cam"]["backbone_weights"], settings["displacement"])
    boundary, displacement = network.parameter_groups()
    model = distribute(network, processes, sync_batch_norm=False)
    optimizer, scheduler = poly_sgd(boundary, displacement, settings["lr"], settings["displacement_lr_multiplier"],
                                    settings["weight_decay"], settings["momentum"], loop.max_steps(len(dataset)))

    def loss_step(images, label_maps, samples):
        boundary_logits, displacement_field = model(images)
        return irn_losses(boundary_logits, label_maps, settings["radius"], displacement_field)

    train_and_save(args, model, dataset, loss_step, optimizer, scheduler, loop, processes, index.classes, __name__)
