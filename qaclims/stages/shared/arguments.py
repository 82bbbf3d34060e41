"""Command-line pieces shared by the stages."""

import argparse

from qaclims.config import load_stage_config
from qaclims.stage_keys import stage_keys


def stage_name(stage_module: str) -> str:
    """``qaclims.stages.train_ritc`` -> ``train_ritc``, the stage's name in the keys table."""
    return stage_module.rpartition(".")[2]


def add_config_argument(parser: argparse.ArgumentParser, stage_module: str) -> None:
    reads = ", ".join(stage_keys(stage_name(stage_module))) or "nothing"
    parser.add_argument(
        "--config", action="append", required=True, metavar="YAML_OR_JSON",
        help=f"config file or inline JSON object; repeat to merge several, later ones win (reads {reads})",
    )


def resolve_config(args: argparse.Namespace, stage_module: str) -> None:
    """Replace the raw ``--config`` sources by the merged, validated config, seen through the stage's keys."""
    if isinstance(getattr(args, "config", None), list):
        stage = stage_name(stage_module)
        args.config = load_stage_config(args.config, stage, stage_keys(stage))


def add_clip_arguments(parser: argparse.ArgumentParser) -> None:
    """The open_clip model, as the rule resolves it from ``clip.*`` (the demo's lives under the run's folder)."""
    parser.add_argument("--clip-model", required=True, help="open_clip model name")
    parser.add_argument("--clip-pretrained", help="open_clip pretrained tag or checkpoint path")
    parser.add_argument("--clip-config-dir", help="folder of extra open_clip model config JSON files")
