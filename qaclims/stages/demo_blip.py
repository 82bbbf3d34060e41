"""Train the demo's stand-in for BLIP VQA on its own synthetic world."""

from qaclims.config import settings_from
from qaclims.demo.pretrain_blip import BlipPretraining, pretrain_blip
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "train the demo's stand-in BLIP VQA model (save_pretrained folder)"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--out", required=True, help="folder for the BLIP model and processor (save_pretrained)")


def run(args) -> None:
    models = args.config["demo_models"]
    settings = settings_from(BlipPretraining, models["blip"], image_size=models["blip_image_size"], seed=models["seed"])
    pretrain_blip(args.out, args.config["dataset"]["classes"], settings)
    print(f"wrote the stand-in BLIP VQA model to {args.out}")
