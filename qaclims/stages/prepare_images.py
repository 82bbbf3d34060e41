"""Check a folder dataset and write the copy that every stage reads: photos upright, RGB and capped."""

import sys

from qaclims.data.build import build_index
from qaclims.data.prepare import preparation_summary, prepare_folder
from qaclims.runtime.atomic import atomic_directory
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "check a folder dataset and write its images upright, in RGB and within dataset.max_long_side"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--root", required=True, help="the dataset's folder (the rule resolves dataset.root)")
    parser.add_argument("--out", required=True, help="folder to write, in the layout of the dataset's folder")
    parser.add_argument("--threads", type=int, default=1)


def run(args) -> None:
    dataset = args.config["dataset"]
    built = build_index(dataset, args.root, args.threads)
    for warning in built.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    with atomic_directory(args.out) as out_root:
        prepared = prepare_folder(built.index, str(out_root), dataset["max_long_side"], args.threads)
    print("\n".join(preparation_summary(prepared, dataset["max_long_side"])) + f" into {args.out}")
