"""Train the demo's stand-in for the mask-prompt CLIP on its own synthetic world."""

from qaclims.config import settings_from
from qaclims.demo.pretrain_clip import ClipPretraining, pretrain_clip
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "train the demo's stand-in mask-prompt CLIP (open_clip checkpoint and OV-Seg-layout checkpoint)"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--out", required=True, help="folder for the open_clip model config and checkpoint")
    parser.add_argument("--ovseg", required=True, help="OV-Seg-layout checkpoint to write (ritc.ovseg_checkpoint)")


def run(args) -> None:
    models = args.config["demo_models"]
    # It learns the prompt that the corpus encodes the answers with.
    settings = settings_from(ClipPretraining, models["clip"], image_size=models["clip_image_size"],
                             prompt=args.config["corpus"]["prompt"], seed=models["seed"])
    pretrain_clip(args.out, args.ovseg, args.config["dataset"]["classes"], settings)
    print(f"wrote the stand-in CLIP to {args.out} and its OV-Seg-layout checkpoint to {args.ovseg}")
