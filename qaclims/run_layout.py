"""Where a run keeps its files: the dataset root and the demo models, resolved by the rules.

Stages get these paths as arguments, or in their config where a config key names a file; this module
turns the config into them for the rules (and for `qaclims check-data`, which has no rule).
"""

import os
import tempfile

from qaclims.errors import ConfigError
from qaclims.runtime.atomic import nearest_existing


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


def check_output_dir(output_dir: str) -> None:
    """The output folder, or the nearest of its parents that exists, must be a folder this process can write in."""
    existing = nearest_existing(output_dir)
    if not os.path.isdir(existing):
        raise ConfigError(f"config key output_dir: {existing} is a file, where {output_dir} needs a folder; move the "
                          "file or choose another output_dir")
    # A real write, as permission bits say nothing for root or a read-only mount; the file has no name to leave.
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        raise ConfigError(f"config key output_dir: cannot write in {existing} ({error.strerror}), where {output_dir} "
                          "must be written; choose another output_dir, or give this user write access there") from None


# A CAM network's training with a seed of `replicates` is a network of its own: the first seed's keeps the
# network's name (cam/ritc.pt), another seed's is that name in a seed folder (cam/seed-1/ritc.pt).
REPLICATE_FOLDER = "seed-{seed}"
REPLICATE_PATTERN = r"(?:seed-\d+/)?"  # a replicate name is this, then a network name


def replicate_name(network: str, seed: int, replicates: list[int]) -> str:
    """The name of ``network`` trained with ``seed``, as the workflow's paths hold it."""
    return network if seed == replicates[0] else f"{REPLICATE_FOLDER.format(seed=seed)}/{network}"


def replicate_of(name: str, replicates: list[int]) -> tuple[str, int]:
    """(network, seed) of a ``replicate_name``."""
    folder, _, network = name.rpartition("/")
    return network, int(folder.removeprefix(REPLICATE_FOLDER.format(seed=""))) if folder else replicates[0]


DEMO_MODEL = "demo"


DEMO_CLIP_NAME = "qaclims-demo-clip"


def demo_model_paths(output_dir: str) -> dict[str, str]:
    """Where the workflow writes the demo's stand-in models."""
    base = os.path.join(output_dir, "models", "demo")
    clip_dir = os.path.join(base, "clip")
    return {"blip": os.path.join(base, "blip-vqa"), "clip_dir": clip_dir,
            "clip_checkpoint": os.path.join(clip_dir, f"{DEMO_CLIP_NAME}.pt"),
            "ovseg": os.path.join(base, "ovseg-mask-prompt.pth"),
            "backbone": os.path.join(base, "backbone.pth"), "backbone_metrics": os.path.join(base, "backbone.json")}


# Config keys whose value `demo` names a stand-in file that the workflow writes, and which one.
DEMO_FILE_KEYS = {("cam", "backbone_weights"): "backbone", ("seg", "backbone_weights"): "backbone",
                  ("ritc", "ovseg_checkpoint"): "ovseg"}


def demo_file_keys(config: dict) -> list[str]:
    """The dotted DEMO_FILE_KEYS that ``config`` sets to `demo`."""
    keys = [f"{section}.{key}" for section, key in DEMO_FILE_KEYS if config[section][key] == DEMO_MODEL]
    if "ritc.ovseg_checkpoint" in keys and config["clip"]["model"] != DEMO_MODEL:
        raise ConfigError("config key ritc.ovseg_checkpoint: `demo` is the stand-in CLIP's mask prompt, which fits "
                          "no other CLIP; set clip.model to demo too, or name a real OV-Seg checkpoint")
    return keys


def with_demo_files(config: dict) -> dict:
    """``config`` with each `demo` of DEMO_FILE_KEYS replaced by the path of the stand-in file, as stages read them."""
    paths = demo_model_paths(config["output_dir"])
    resolved = {section: dict(values) if isinstance(values, dict) else values for section, values in config.items()}
    for dotted in demo_file_keys(config):
        section, key = dotted.split(".")
        resolved[section][key] = paths[DEMO_FILE_KEYS[(section, key)]]
    return resolved


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
