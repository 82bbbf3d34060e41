"""Train the segmentation network (DeepLab) on the pseudo labels."""

import torch

from qaclims.data.index import read_index
from qaclims.device import autocast
from qaclims.models.deeplab import segmentation_network
from qaclims.segmentation import LOSSES, multi_scale_loss
from qaclims.stages.common import add_config_argument
from qaclims.stages.image_files import files_by_image
from qaclims.stages.training import add_training_arguments, train_and_save
from qaclims.train.data import LabelledImageDataset, ScaleAugmentation
from qaclims.train.distributed import distribute, loader_workers, start_processes
from qaclims.train.loop import LoopSettings
from qaclims.train.optim import poly_schedule

DESCRIPTION = "train DeepLab on the pseudo labels"


def add_arguments(parser) -> None:
    add_config_argument(parser, "reads seg.*, device, precision")
    add_training_arguments(parser)
    parser.add_argument("--labels", nargs="+", required=True, help="pseudo_label shard folders")


def network_from_config(settings: dict, num_classes: int, weights: str) -> torch.nn.Module:
    return segmentation_network(settings["model"], settings["backbone"], num_classes + 1, weights,
                                tuple(settings["aspp_rates"]))


def run(args) -> None:
    config, settings = args.config, args.config["seg"]
    index = read_index(args.index)
    frame = index.split(settings["split"]).sort_values("image_id").reset_index(drop=True)
    label_paths = files_by_image(args.labels, frame["image_id"], ".png", "pseudo_label")
    augmentation = ScaleAugmentation(settings["crop_size"], tuple(settings["scale_range"]), label_stride=1)
    dataset = LabelledImageDataset(list(frame["image_path"]), [label_paths[i] for i in frame["image_id"]],
                                   augmentation, settings["seed"])
    processes = start_processes(config["device"])
    loop = LoopSettings(0, settings["batch_size"], settings["seed"], settings["checkpoint_every"],
                        settings["log_every"], workers=loader_workers(args.threads, processes), iterations=settings["iterations"])

    torch.manual_seed(settings["seed"])
    network = network_from_config(settings, len(index.classes), settings["backbone_weights"])
    backbone, head_weights, head_biases = network.parameter_groups()
    model = distribute(network, processes, sync_batch_norm=False)
    lr = settings["lr"]
    optimizer = torch.optim.SGD([
        {"params": backbone, "lr": lr},
        {"params": head_weights, "lr": lr * settings["head_lr_multiplier"]},
        {"params": head_biases, "lr": 2 * lr * settings["head_lr_multiplier"], "weight_decay": 0.0},
    ], lr=lr, momentum=settings["momentum"], weight_decay=settings["weight_decay"])
    scheduler = poly_schedule(optimizer, loop.max_steps(len(dataset)), settings["poly_power"])
    loss = LOSSES[settings["loss"]]

    def loss_step(images, label_maps, samples):
        with autocast(processes.device, config["precision"]):
            return {"total": multi_scale_loss(model, images, label_maps, settings["train_scales"], loss)}

    train_and_save(args, model, dataset, loss_step, optimizer, scheduler, loop, processes, index.classes, __name__)
