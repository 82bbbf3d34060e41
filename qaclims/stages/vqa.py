"""Answer the foreground and background questions for every (image, labelled class) of a shard."""

import os

import numpy as np
import pandas as pd
from tqdm import tqdm

from qaclims.config import settings_from
from qaclims.data.images import load_rgb
from qaclims.data.index import read_index, split_column
from qaclims.runtime.atomic import atomic_path
from qaclims.runtime.device import resolve_device
from qaclims.runtime.sharding import shard_items
from qaclims.runtime.stage_metrics import StageMeter, add_metrics_argument
from qaclims.stages.shared.arguments import add_config_argument
from qaclims.stages.shared.partial import partial_shard
from qaclims.vqa.answering import BlipAnswerer, GenerationSettings, load_blip
from qaclims.vqa.questions import (
    BACKGROUND_TEMPLATES,
    FOREGROUND_TEMPLATES,
    questions_for_classes,
)

DESCRIPTION = "answer the QA-CLIMS questions with BLIP for one shard of the images"
ANSWER_COLUMNS = ["image_id", "class", "kind", "template_index", "question", "answer"]


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--index", required=True, help="dataset index parquet")
    parser.add_argument("--model", required=True,
                        help="BLIP VQA: a hub id, a save_pretrained folder, or an original BLIP checkpoint file")
    parser.add_argument("--shard", type=int, default=0, help="0-based shard number")
    parser.add_argument("--num-shards", type=int, default=1)
    parser.add_argument("--out", required=True, help="parquet file of this shard's answers")
    add_metrics_argument(parser)


def images_to_ask(index, splits) -> pd.DataFrame:
    """Images of the given splits that carry at least one label, sorted by id."""
    chosen = np.logical_or.reduce([index.frame[split_column(split)].to_numpy() for split in splits])
    frame = index.frame[chosen]
    return frame[index.labels(frame).any(axis=1)].sort_values("image_id")


def run(args) -> None:
    config, settings = args.config, args.config["vqa"]
    index = read_index(args.index)
    frame = shard_items(images_to_ask(index, settings["splits"]), args.shard, args.num_shards)
    labels = index.labels(frame).astype(bool)
    questions = np.array(questions_for_classes(
        index.classes,
        settings["foreground_questions"] or FOREGROUND_TEMPLATES,
        settings["background_questions"] or BACKGROUND_TEMPLATES,
    ), dtype=object).reshape(len(index.classes), -1)  # [C, questions per class]
    device = resolve_device(config["device"])
    model, processor = load_blip(args.model, device, settings["processor"])
    generation = settings_from(GenerationSettings, settings)
    answerer = BlipAnswerer(model, processor, generation, config["precision"])

    # A group of images is the unit of kept work: the rerun of a killed job asks the same groups as the first run.
    model_files = [args.model] if os.path.exists(args.model) else []  # not a hub id
    partial = partial_shard(args, __name__, [args.index, *model_files])
    groups = {f"group-{start:07d}": start for start in range(0, len(frame), settings["image_batch_size"])}
    done = partial.done()
    kept = sum(name in done for name in groups)
    if kept:
        print(f"kept {kept} of {len(groups)} question groups ({settings['image_batch_size']} images each) that an "
              f"interrupted run finished; asking the other {len(groups) - kept}", flush=True)
    meter = StageMeter(device, "q")
    answered_now = 0  # by this run: the groups that a killed run finished are not timed here
    progress = tqdm(total=int(labels.sum()) * questions.shape[1], unit="q",
                    desc=f"vqa shard {args.shard}", mininterval=2.0)
    for name, start in groups.items():
        group = slice(start, start + settings["image_batch_size"])
        if name in done:
            progress.update(int(labels[group].sum()) * questions.shape[1])
            continue
        image_ids = frame["image_id"].to_numpy()[group]
        images = [load_rgb(path) for path in frame["image_path"].to_numpy()[group]]
        owners, asked = np.nonzero(labels[group])  # (image in group, class) pairs
        group_questions = questions[asked].reshape(-1)
        owner_of_question = np.repeat(owners, questions.shape[1])
        answers = answerer.answer(images, [q.text for q in group_questions], owner_of_question,
                                  settings["batch_size"])
        rows = [(image_ids[owner], q.class_name, q.kind, q.template_index, q.text, answer)
                for owner, q, answer in zip(owner_of_question, group_questions, answers)]
        with atomic_path(partial.part("items") / f"{name}.parquet") as piece:
            pd.DataFrame(rows, columns=ANSWER_COLUMNS).to_parquet(piece, index=False)
        progress.update(len(group_questions))
        answered_now += len(group_questions)
    progress.close()
    answers = pd.concat([pd.read_parquet(partial.part("items") / f"{name}.parquet") for name in groups],
                        ignore_index=True) if groups else pd.DataFrame(columns=ANSWER_COLUMNS)
    with atomic_path(args.out) as written:
        answers.to_parquet(written, index=False)
    partial.discard()
    meter.write(args.metrics, answered_now)
    print(f"answered {len(answers)} questions about {len(frame)} images into {args.out}")
