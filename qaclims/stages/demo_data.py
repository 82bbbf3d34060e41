"""Write the synthetic demo dataset in the PASCAL VOC 2012 layout."""

from qaclims.demo.dataset import write_demo_dataset
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "write the synthetic demo dataset (VOC 2012 layout)"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--out", required=True, help="dataset root to write (replaced as a whole)")


def run(args) -> None:
    demo = args.config["demo"]
    splits = write_demo_dataset(args.out, args.config["dataset"]["classes"], **demo)
    counts = ", ".join(f"{split} {len(ids)}" for split, ids in splits.items())
    print(f"wrote the demo dataset to {args.out}: {counts}")
