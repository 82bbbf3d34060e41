"""Read the configured dataset, check it, and write the dataset index."""

import sys

from qaclims.data.build import build_index
from qaclims.data.index import write_index
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "check the dataset and write data/index.parquet"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--root", required=True, help="the dataset's folder (the rule resolves dataset.root)")
    parser.add_argument("--out", required=True, help="index parquet file to write")
    parser.add_argument("--threads", type=int, default=1)


def run(args) -> None:
    built = build_index(args.config["dataset"], args.root, args.threads)
    for warning in built.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    write_index(built.index, args.out)
    counts = ", ".join(f"{split} {count}" for split, count in built.split_counts().items())
    print(f"indexed {len(built.index.frame)} images ({counts}) into {args.out}")
