"""Score how well the VQA model and the mask-prompt CLIP know the demo world, on the demo's own images."""

import json

import numpy as np
import pandas as pd
import torch

from qaclims.data.images import load_rgb
from qaclims.data.index import read_index
from qaclims.data.labels import read_label_png
from qaclims.demo.dataset import read_world
from qaclims.demo.knowledge import answer_scores, clip_scores
from qaclims.demo.pretrain_clip import MASK_PROMPT_DEPTH
from qaclims.demo.world import BACKGROUNDS
from qaclims.models.mask_clip import MaskPromptCLIP
from qaclims.runtime.atomic import write_text
from qaclims.stages.shared.arguments import add_clip_arguments, add_config_argument
from qaclims.text.clip_text import ClipTextEncoder, load_clip

DESCRIPTION = "score the VQA answers and CLIP's zero-shot regions against the demo world's truth"
TEXT_BATCH = 64


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    add_clip_arguments(parser)
    parser.add_argument("--index", required=True)
    parser.add_argument("--dataset", required=True, help="the demo dataset root (its world.csv holds the truth)")
    parser.add_argument("--answers", required=True, help="merged VQA answers parquet")
    parser.add_argument("--out", required=True, help="json of the measures to write")


def run(args) -> None:
    config = args.config
    index, world = read_index(args.index), read_world(args.dataset)
    answers = pd.read_parquet(args.answers)
    rows = answer_scores(answers, world)

    model, tokenizer = load_clip(args.clip_model, args.clip_pretrained, args.clip_config_dir, torch.device("cpu"))
    # Scored as OV-Seg's checkpoints prompt: at their depth, at the model's own input size.
    clip = MaskPromptCLIP(model, MASK_PROMPT_DEPTH)
    if config["ritc"]["ovseg_checkpoint"]:
        clip.load_ovseg_checkpoint(config["ritc"]["ovseg_checkpoint"])
    encoder = ClipTextEncoder(model, tokenizer, config["corpus"]["prompt"])
    # The images the VQA model was asked about.
    frame = index.frame[index.frame["image_id"].isin(answers["image_id"].unique())]
    truth = world.set_index("image_id")
    present = [[index.classes.index(name) for name in truth.loc[[image_id], "class"]] for image_id in frame["image_id"]]
    backgrounds = [BACKGROUNDS.index(truth.loc[[image_id], "background"].iloc[0]) for image_id in frame["image_id"]]
    prompts = [encoder.encode(list(texts), TEXT_BATCH) for texts in (index.classes, BACKGROUNDS)]
    rows += clip_scores(clip, *prompts,
                        [np.asarray(load_rgb(path)) for path in frame["image_path"]],
                        [read_label_png(path) for path in frame["mask_path"]], present, backgrounds,
                        model.visual.image_size[0])
    write_text(args.out, json.dumps(rows, indent=2) + "\n")
    for row in rows:
        print(f"{row['measure']}: {row['accuracy']:.3f} of {row['items']}")
