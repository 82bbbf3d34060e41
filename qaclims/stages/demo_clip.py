"""Write the tiny random-weight open_clip model that the demo runs on."""

from qaclims.models.demo import write_demo_clip
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "write a tiny random-weight open_clip model for the demo"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--out", required=True, help="folder for the open_clip model config and checkpoint")


def run(args) -> None:
    settings = args.config["demo_models"]
    write_demo_clip(args.out, settings["clip_image_size"], settings["seed"])
    print(f"wrote a tiny open_clip model to {args.out}")
