"""Where a run keeps its files: the dataset root and the demo models, resolved by the rules.

Stages get these paths as arguments; this module turns the config into them for the rules (and for
`qaclims check-data`, which has no rule).
"""

import os

from qaclims.errors import ConfigError


def dataset_root(config: dict) -> str:
    """Where the dataset lives: the demo's output folder, or the configured root."""
    dataset = config["dataset"]
    if dataset["kind"] == "demo":
        return os.path.join(config["output_dir"], "demo", "VOC2012")
    if not dataset["root"]:
        raise ConfigError(
            f"config key dataset.root: required for dataset.kind {dataset['kind']!r}; "
            "set it to the folder that holds the dataset"
        )
    return dataset["root"]


DEMO_MODEL = "demo"


DEMO_CLIP_NAME = "qaclims-demo-clip"


def demo_model_paths(output_dir: str) -> dict[str, str]:
    """Where the workflow writes its tiny demo models."""
    base = os.path.join(output_dir, "models", "demo")
    clip_dir = os.path.join(base, "clip")
    return {"blip": os.path.join(base, "blip-vqa"), "clip_dir": clip_dir,
            "clip_checkpoint": os.path.join(clip_dir, f"{DEMO_CLIP_NAME}.pt")}


def vqa_model_source(config: dict) -> str:
    model = config["vqa"]["model"]
    return demo_model_paths(config["output_dir"])["blip"] if model == DEMO_MODEL else model


def clip_model_spec(config: dict) -> tuple[str, str | None, str | None]:
    """(open_clip model name, pretrained tag or checkpoint, extra model config folder)."""
    clip = config["clip"]
    if clip["model"] == DEMO_MODEL:
        paths = demo_model_paths(config["output_dir"])
        return DEMO_CLIP_NAME, paths["clip_checkpoint"], paths["clip_dir"]
    return clip["model"], clip["pretrained"], clip["model_config_dir"]
