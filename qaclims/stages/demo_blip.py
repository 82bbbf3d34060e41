"""Write the tiny random-weight BLIP VQA model that the demo runs on."""

from qaclims.models.demo import write_demo_blip
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "write a tiny random-weight BLIP VQA model for the demo"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--out", required=True, help="folder for the BLIP model and processor (save_pretrained)")


def run(args) -> None:
    settings = args.config["demo_models"]
    write_demo_blip(args.out, settings["blip_image_size"], settings["seed"])
    print(f"wrote a tiny BLIP VQA model to {args.out}")
