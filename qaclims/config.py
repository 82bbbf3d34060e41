"""Load, merge and validate configurations against the workflow's schema, filling defaults."""

import copy
import dataclasses
import json
import os
from collections.abc import Iterable, Mapping
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


class DeclaredConfig(Mapping):
    """A read-only view of a validated config through which a stage reads only the keys it declared.

    Reading any other key raises a ConfigError that names the key and the stage.
    """

    def __init__(self, values: dict, declared: Iterable[str], stage: str, prefix: str = ""):
        self._values, self._declared, self._stage, self._prefix = values, tuple(declared), stage, prefix

    def _readable(self, dotted: str) -> bool:
        return any(dotted == key or dotted.startswith(f"{key}.") or key.startswith(f"{dotted}.")
                   for key in self._declared)

    def __getitem__(self, key: str):
        dotted = f"{self._prefix}{key}"
        if not self._readable(dotted):
            raise ConfigError(
                f"stage {self._stage} read config key {dotted}, which it does not declare; add it to "
                f"STAGE_KEYS[{self._stage!r}] in qaclims/stage_keys.py, so that its rule passes it"
            )
        value = self._values[key]
        return DeclaredConfig(value, self._declared, self._stage, f"{dotted}.") if isinstance(value, dict) else value

    def __iter__(self):
        return (key for key in self._values if self._readable(f"{self._prefix}{key}"))

    def __contains__(self, key) -> bool:
        return key in self._values and self._readable(f"{self._prefix}{key}")

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def to_dict(self) -> dict:
        """The declared keys and their values, as plain data (for provenance and checkpoint keys)."""
        return {key: value.to_dict() if isinstance(value, DeclaredConfig) else copy.deepcopy(value)
                for key, value in self.items()}


def load_stage_config(sources: Iterable[str], stage: str, declared: Iterable[str]) -> DeclaredConfig:
    """``load_config`` seen through the keys ``stage`` declares."""
    return DeclaredConfig(load_config(sources), declared, stage)


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




def settings_from(settings_class, section: Mapping, **given):
    """A settings dataclass built from the config section's keys of the same names, not by position.

    ``given`` supplies the fields the section does not hold as they are (or in another form); a field with a
    default may be absent from the section.
    """
    values = dict(given)
    for field in dataclasses.fields(settings_class):
        has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
        if field.name not in values and (field.name in section or not has_default):
            values[field.name] = section[field.name]
    return settings_class(**values)
