"""Train the demo's stand-in for the ImageNet backbone on the VOC classes outside the demo's."""

import json

from qaclims.config import settings_from
from qaclims.demo.pretrain_backbone import BackbonePretraining, pretrain_backbone
from qaclims.runtime.atomic import write_text
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "train the demo's stand-in ImageNet backbone (torchvision state dict)"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--out", required=True, help="state dict to write (cam.backbone_weights, seg.backbone_weights)")
    parser.add_argument("--metrics", required=True, help="json of its held-out accuracy to write")


def run(args) -> None:
    config = args.config
    scores = pretrain_backbone(args.out, config["dataset"]["classes"], settings_from(
        BackbonePretraining, config["demo_models"]["backbone"], architecture=config["cam"]["backbone"],
        seed=config["demo_models"]["seed"]))
    write_text(args.metrics, json.dumps([scores], indent=2) + "\n")
    print(f"{scores['measure']}: {scores['accuracy']:.3f}; wrote the stand-in backbone to {args.out}")
