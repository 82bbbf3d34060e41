"""Write the tiny random-weight BLIP and CLIP models that the demo runs on."""

from qaclims.models.demo import write_demo_blip, write_demo_clip
from qaclims.stages.common import add_config_argument

DESCRIPTION = "write tiny random-weight BLIP VQA and open_clip models for the demo"


def add_arguments(parser) -> None:
    add_config_argument(parser, "reads demo_models.*")
    parser.add_argument("--blip-out", help="folder for the BLIP model and processor (save_pretrained)")
    parser.add_argument("--clip-out", help="folder for the open_clip model config and checkpoint")


def run(args) -> None:
    settings = args.config["demo_models"]
    if args.blip_out:
        write_demo_blip(args.blip_out, settings["blip_image_size"], settings["seed"])
        print(f"wrote a tiny BLIP VQA model to {args.blip_out}")
    if args.clip_out:
        write_demo_clip(args.clip_out, settings["clip_image_size"], settings["seed"])
        print(f"wrote a tiny open_clip model to {args.clip_out}")
