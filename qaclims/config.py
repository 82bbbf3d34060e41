"""Load, merge and validate configurations against the workflow's schema, filling defaults."""

import copy
import json
import os
from collections.abc import Iterable
from pathlib import Path

import jsonschema
import yaml

from qaclims.errors import ConfigError

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")


def _schema() -> dict:
    with open(SCHEMA_PATH) as handle:
        return yaml.safe_load(handle)


def _validator_filling_defaults():
    base = jsonschema.Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    # Defaults are set before the properties are validated, so a default `{}` for a
    # section is itself filled with that section's defaults.
    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": set_defaults})


def validate_config(config: dict) -> dict:
    """Return a copy of ``config`` with defaults filled; raise ConfigError naming a bad key."""
    filled = copy.deepcopy(config)
    validator = _validator_filling_defaults()(_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(filled))
    if error is not None:
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ConfigError(f"config key {key}: {error.message}")
    return filled


def merge(base: dict, override: dict) -> dict:
    """Merge ``override`` into a copy of ``base``, recursing into nested mappings."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _parse_source(source: str) -> dict:
    if source.lstrip().startswith("{"):
        try:
            return json.loads(source)
        except json.JSONDecodeError as error:
            raise ConfigError(f"inline JSON config is not valid JSON: {error}") from error
    if not os.path.exists(source):
        raise ConfigError(f"config file {source} does not exist")
    with open(source) as handle:
        try:
            loaded = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ConfigError(f"config file {source} is not valid YAML: {error}") from error
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {source} must hold a mapping of keys, not {type(loaded).__name__}")
    return loaded


def load_config(sources: Iterable[str]) -> dict:
    """Merge YAML files or inline JSON objects in order and validate the result."""
    config: dict = {}
    for source in sources:
        config = merge(config, _parse_source(source))
    return validate_config(config)


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


def subset(config: dict, keys: Iterable[str]) -> dict:
    """The part of ``config`` named by dotted keys, e.g. ``["demo", "dataset.classes"]``."""
    selected: dict = {}
    for dotted in keys:
        source, target = config, selected
        *parents, leaf = dotted.split(".")
        for part in parents:
            source = source[part]
            target = target.setdefault(part, {})
        target[leaf] = copy.deepcopy(source[leaf])
    return selected


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
