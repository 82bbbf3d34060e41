"""Clean the VQA answers into a text corpus and encode every distinct string with CLIP.

A CPU stage: the text tower encodes each distinct string once, which takes minutes even at COCO scale,
so the stage does not hold a GPU.

The class-label prompts of t_fg are encoded as the reference encodes them: with the text tower of
the CLIP it trains with, which is OV-Seg's checkpoint loaded over OpenAI's CLIP. The answers keep
``clip.*``'s (OpenAI's) tower, as the reference's answer cache does, and so do CLIMS's fixed
background words (``ritc.fixed_background_words``, for ``ritc.background_texts: fixed``), which
CLIMS encodes with OpenAI's CLIP. They are always encoded, so that a training run can switch to
them without rerunning this stage.
"""

import json

import pandas as pd
import torch

from qaclims.data.index import read_index
from qaclims.models.mask_clip import load_ovseg_text_tower
from qaclims.runtime.atomic import atomic_path
from qaclims.runtime.stage_metrics import StageMeter, add_metrics_argument
from qaclims.runtime.tensor_file import write_safetensors
from qaclims.stages.shared.arguments import add_clip_arguments, add_config_argument
from qaclims.text.cleanup import CleanupSettings
from qaclims.text.clip_text import ClipTextEncoder, load_clip
from qaclims.text.corpus import build_corpus, foreground_features

DESCRIPTION = "clean VQA answers into corpus/corpus.parquet and encode them with the CLIP text tower"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    add_clip_arguments(parser)
    parser.add_argument("--answers", required=True, help="merged VQA answers parquet")
    parser.add_argument("--index", required=True, help="dataset index parquet (for the class order)")
    parser.add_argument("--corpus", required=True, help="corpus parquet to write")
    parser.add_argument("--features", required=True, help="safetensors file to write")
    parser.add_argument("--text-index", required=True, help="parquet to write: feature row -> text")
    parser.add_argument("--threads", type=int, default=1, help="threads of the text encoder")
    add_metrics_argument(parser)


def run(args) -> None:
    config, settings = args.config, args.config["corpus"]
    torch.set_num_threads(args.threads)
    # The rule is cacheable and so has no benchmark: this file gives the report the stage's time and memory.
    meter = StageMeter(torch.device("cpu"), "text")
    classes = read_index(args.index).classes
    corpus, strings = build_corpus(pd.read_parquet(args.answers), classes, CleanupSettings.from_config(settings))

    name, pretrained = args.clip_model, args.clip_pretrained
    model, tokenizer = load_clip(name, pretrained, args.clip_config_dir, torch.device("cpu"))
    encoder = ClipTextEncoder(model, tokenizer, settings["prompt"])
    features = encoder.encode(strings, settings["batch_size"])
    fixed_words = list(config["ritc"]["fixed_background_words"])
    fixed_background = encoder.encode(fixed_words, settings["batch_size"])
    # Only after the answers and the fixed words: loading the label tower replaces the text weights of this model.
    label_tower = use_label_text_tower(model, config["ritc"]["ovseg_checkpoint"])
    print(f"class labels encoded with {label_tower}; answers with clip.* ({name}, {pretrained})")
    label_features = encoder.encode(classes, settings["batch_size"])
    pair_foreground = foreground_features(
        label_features,
        torch.tensor(corpus["class_index"].to_numpy()),
        features,
        torch.as_tensor([list(rows) for rows in corpus["foreground_rows"]]).reshape(len(corpus), -1),
        settings["label_weight"],
    )
    metadata = {"clip_model": name, "clip_pretrained": str(pretrained), "prompt": settings["prompt"],
                "label_weight": json.dumps(settings["label_weight"]), "texts": str(len(strings)),
                "label_text_tower": label_tower, "fixed_background_words": json.dumps(fixed_words)}
    write_safetensors(args.features, {"text_features": features.contiguous(),
                                      "label_features": label_features.contiguous(),
                                      "pair_foreground": pair_foreground.contiguous(),
                                      "fixed_background_features": fixed_background.contiguous()}, metadata)
    with atomic_path(args.text_index) as partial:
        pd.DataFrame({"row": range(len(strings)), "text": strings}).to_parquet(partial, index=False)
    with atomic_path(args.corpus) as partial:
        corpus.to_parquet(partial, index=False)
    meter.write(args.metrics, len(strings) + len(fixed_words) + len(classes))
    empty = int((~corpus["has_background"]).sum())
    print(f"{len(corpus)} pairs, {len(strings)} distinct texts, {empty} pairs without background text "
          f"(skipped in training with background answers), {len(fixed_words)} fixed background words; "
          f"wrote {args.corpus} and {args.features}")


def use_label_text_tower(model: torch.nn.Module, ovseg_checkpoint: str | None) -> str:
    """Load the text tower that encodes the class labels into ``model``; say which one it is."""
    if not ovseg_checkpoint:
        return "clip.* (ritc.ovseg_checkpoint is not set)"
    change = load_ovseg_text_tower(model, ovseg_checkpoint)
    if change is None:
        return f"clip.* (the OV-Seg checkpoint {ovseg_checkpoint} holds no text-tower weights)"
    # OV-Seg fine-tuned its CLIP with the text tower locked, so this is expected to be 0.
    return (f"the text tower of the OV-Seg checkpoint {ovseg_checkpoint} "
            f"(its weights differ from clip.*'s by at most {change:.3g})")
