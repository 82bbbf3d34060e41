"""Run the dataset checks on their own and print the split counts; writes nothing."""

import sys

from qaclims.data.build import build_index
from qaclims.run_layout import dataset_root
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "check the configured dataset and print its split counts (writes nothing)"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--threads", type=int, default=1)


def run(args) -> None:
    root = dataset_root(args.config)
    built = build_index(args.config["dataset"], root, args.threads)
    dataset = args.config["dataset"]
    print(f"dataset {dataset['kind']} at {root}: {len(dataset['classes'])} classes")
    labels = built.index.labels()
    for split, count in built.split_counts().items():
        in_split = built.index.frame[f"split_{split}"].to_numpy()
        with_mask = built.index.frame.loc[in_split, "mask_path"].notna().sum()
        mean_labels = labels[in_split].sum(axis=1).mean() if count else 0.0
        print(f"  {split:<12} {count:>7} images, {with_mask:>7} with masks, {mean_labels:.2f} labels per image")
    for warning in built.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    print("ok: no problems found" if not built.warnings else f"done with {len(built.warnings)} warnings")
