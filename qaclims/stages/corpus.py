"""Clean the VQA answers into a text corpus and encode every distinct string with CLIP.

A CPU stage: the text tower encodes each distinct string once, which takes minutes even at COCO scale,
so the stage does not hold a GPU.
"""

import json

import pandas as pd
import torch
from safetensors.torch import save_file

from qaclims.atomic import atomic_path
from qaclims.config import clip_model_spec
from qaclims.data.index import read_index
from qaclims.stages.common import add_config_argument
from qaclims.text.clip_text import ClipTextEncoder, load_clip
from qaclims.text.corpus import build_corpus, foreground_features

DESCRIPTION = "clean VQA answers into corpus/corpus.parquet and encode them with the CLIP text tower"


def add_arguments(parser) -> None:
    add_config_argument(parser, "reads corpus.*, clip.*, output_dir")
    parser.add_argument("--answers", required=True, help="merged VQA answers parquet")
    parser.add_argument("--index", required=True, help="dataset index parquet (for the class order)")
    parser.add_argument("--corpus", required=True, help="corpus parquet to write")
    parser.add_argument("--features", required=True, help="safetensors file to write")
    parser.add_argument("--text-index", required=True, help="parquet to write: feature row -> text")
    parser.add_argument("--threads", type=int, default=1, help="threads of the text encoder")


def run(args) -> None:
    config, settings = args.config, args.config["corpus"]
    torch.set_num_threads(args.threads)
    classes = read_index(args.index).classes
    corpus, strings = build_corpus(pd.read_parquet(args.answers), classes, settings["synonyms"])

    name, pretrained, config_dir = clip_model_spec(config)
    model, tokenizer = load_clip(name, pretrained, config_dir, torch.device("cpu"))
    encoder = ClipTextEncoder(model, tokenizer, settings["prompt"])
    features = encoder.encode(strings, settings["batch_size"])
    pair_foreground = foreground_features(
        features,
        torch.tensor(corpus["label_row"].to_numpy()),
        torch.as_tensor([list(rows) for rows in corpus["foreground_rows"]]).reshape(len(corpus), -1),
        settings["label_weight"],
    )
    metadata = {"clip_model": name, "clip_pretrained": str(pretrained), "prompt": settings["prompt"],
                "label_weight": json.dumps(settings["label_weight"]), "texts": str(len(strings))}
    with atomic_path(args.features) as partial:
        save_file({"text_features": features.contiguous(), "pair_foreground": pair_foreground.contiguous()},
                  str(partial), metadata=metadata)
    with atomic_path(args.text_index) as partial:
        pd.DataFrame({"row": range(len(strings)), "text": strings}).to_parquet(partial, index=False)
    with atomic_path(args.corpus) as partial:
        corpus.to_parquet(partial, index=False)
    empty = int((~corpus["has_background"]).sum())
    print(f"{len(corpus)} pairs, {len(strings)} distinct texts, {empty} pairs without background text "
          f"(skipped in training); wrote {args.corpus} and {args.features}")
