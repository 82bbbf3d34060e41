"""Command-line pieces shared by the stages."""

import argparse

from qaclims.config import load_config


def add_config_argument(parser: argparse.ArgumentParser, reads: str) -> None:
    parser.add_argument(
        "--config", action="append", required=True, metavar="YAML_OR_JSON",
        help=f"config file or inline JSON object; repeat to merge several, later ones win ({reads})",
    )


def resolve_config(args: argparse.Namespace) -> None:
    """Replace the raw ``--config`` sources by the merged, validated config."""
    if isinstance(getattr(args, "config", None), list):
        args.config = load_config(args.config)

