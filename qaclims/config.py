"""Load, merge and validate configurations against the workflow's schema, filling defaults."""

import copy
import dataclasses
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import jsonschema
import yaml

from qaclims.data.folder import SEPARATOR
from qaclims.errors import ConfigError
from qaclims.stage_keys import STAGE_KEYS

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
    check_variants(filled)
    check_answerers(filled)
    check_class_names(filled["dataset"]["classes"])
    return filled


def check_class_names(classes: list[str]) -> None:
    """A class name cannot hold the separator of a labels.csv cell: no row could name it."""
    for position, name in enumerate(classes):
        if SEPARATOR in name:
            raise ConfigError(f"config key dataset.classes.{position}: {name!r} holds {SEPARATOR!r}, which separates "
                              "class names in labels.csv; name one class without it, or list the parts as classes")


# The networks of make_cam.networks: a variant of the same name would write their files.
NETWORKS = ("baseline", "ritc")
# The rule reads ritc.gpus to launch every RITC training and reserve its GPUs, so a variant keeps it.
RULE_LEVEL_RITC_KEYS = ("gpus",)


def ritc_variants(config: dict) -> dict[str, dict]:
    """The ablation variants of a validated config by name: ritc.variants, where null means none."""
    return config["ritc"]["variants"] or {}


def network_config(config: dict, network: str) -> dict:
    """``config`` as the training of CAM network ``network`` (``ritc``, a variant's name or an answerer's network)
    reads it.

    Its ritc section is the main one without the variants, which are no setting of the main network (adding
    one must not retrain it), merged with the variant's overrides; an answerer's network has none.
    """
    main = {key: value for key, value in config["ritc"].items() if key != "variants"}
    overrides = ritc_variants(config)[network] if network in ritc_variants(config) else {}
    return {**config, "ritc": merge(main, overrides)}


def replicate_config(config: dict, network: str, seed: int) -> dict:
    """``config`` as the training of CAM network ``network`` (``baseline``, ``ritc``, a variant's name or an
    answerer's network) with the training seed ``seed`` (one of ``replicates``) reads it."""
    trained = config if network == "baseline" else network_config(config, network)
    return {**trained, "cam": {**trained["cam"], "seed": seed}}


def check_replicates(config: dict) -> None:
    """A workflow run takes its training seeds from ``replicates`` alone: another cam.seed would be ignored."""
    if config["cam"]["seed"] != 0:
        raise ConfigError(f"config key cam.seed: a workflow run trains with each seed of replicates "
                          f"{config['replicates']} and sets cam.seed itself; list {config['cam']['seed']} in "
                          "replicates instead")


def _shared_ritc_keys() -> set[str]:
    """The ritc keys that a stage other than train_ritc reads: its one job serves every variant alike."""
    return {key.split(".")[1] for stage, keys in STAGE_KEYS.items() if stage != "train_ritc"
            for key in keys if key.startswith("ritc.")}


def _error_key(error: jsonschema.ValidationError, prefix: str) -> str:
    """The dotted key an error is about, down to the unexpected key of an additionalProperties error."""
    parts = [prefix, *(str(part) for part in error.absolute_path)]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        parts += [key for key in error.instance if key not in error.schema.get("properties", {})][:1]
    return ".".join(parts)


def check_extra_splits(config: dict) -> None:
    """eval_cam.extra_splits must be indexed. Only the workflow sees both sections, so it checks this before any job."""
    unknown = [split for split in config["eval_cam"]["extra_splits"] if split not in config["dataset"]["splits"]]
    if unknown:
        raise ConfigError(f"config key eval_cam.extra_splits: {unknown} are not in dataset.splits "
                          f"{config['dataset']['splits']}; add them there")


def _check_merged_section(config: dict, section: str, where: str) -> None:
    """Raise a ConfigError naming the key under ``where`` when ``config``'s merged ``section`` breaks its schema."""
    schema = _schema()["properties"][section]
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config[section]))
    if error is not None:
        raise ConfigError(f"config key {_error_key(error, where)}: {error.message}")


def check_variants(config: dict) -> None:
    """Raise a ConfigError that names ritc.variants.<name>.<key> when a variant's merged ritc section is invalid."""
    fixed = _shared_ritc_keys() | set(RULE_LEVEL_RITC_KEYS)
    for name, overrides in ritc_variants(config).items():
        where = f"ritc.variants.{name}"
        if name in NETWORKS:
            raise ConfigError(f"config key {where}: the network {name} of make_cam.networks has this name; "
                              "rename the variant")
        if "variants" in overrides:
            raise ConfigError(f"config key {where}.variants: a variant cannot hold variants; "
                              "list each one under ritc.variants")
        shared = sorted(fixed & set(overrides))
        if shared:
            raise ConfigError(f"config key {where}.{shared[0]}: every network trains with the main ritc.{shared[0]}, "
                              "which the shared corpus or the rule's GPU reservation reads; set it in ritc itself")
        _check_merged_section(network_config(config, name), "ritc", where)


# The CAM network trained on answerer NAME's corpus is ANSWERER_NETWORK_PREFIX + NAME.
ANSWERER_NETWORK_PREFIX = "answerer_"


def vqa_answerers(config: dict) -> dict[str, dict]:
    """The answerers of an answerer comparison by name: vqa.answerers, where null means none."""
    return config["vqa"]["answerers"] or {}


def answerer_config(config: dict, answerer: str | None) -> dict:
    """``config`` as the VQA stage of ``answerer`` (a name of vqa.answerers, or None for the main one) reads it.

    Its vqa section is the main one without the answerers, which are no setting of the main answerer (adding one
    must not rerun it), merged with the answerer's overrides.
    """
    main = {key: value for key, value in config["vqa"].items() if key != "answerers"}
    overrides = {} if answerer is None else vqa_answerers(config)[answerer]
    return {**config, "vqa": merge(main, overrides)}


def answerer_network(answerer: str) -> str:
    return ANSWERER_NETWORK_PREFIX + answerer


def check_answerers(config: dict) -> None:
    """Raise a ConfigError that names vqa.answerers.<name>.<key> when an answerer's merged vqa section is invalid,
    or its network's name is an ablation variant's."""
    for name, overrides in vqa_answerers(config).items():
        where = f"vqa.answerers.{name}"
        if "answerers" in overrides:
            raise ConfigError(f"config key {where}.answerers: an answerer cannot hold answerers; "
                              "list each one under vqa.answerers")
        if answerer_network(name) in ritc_variants(config):
            raise ConfigError(f"config key {where}: its network {answerer_network(name)} has the name of an ablation "
                              "variant of ritc.variants; rename the answerer or the variant")
        _check_merged_section(answerer_config(config, name), "vqa", where)


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

    Reading any other key raises a ConfigError that names the key and the stage. The view remembers each
    key the stage reads, for the provenance kept with what the stage writes.
    """

    def __init__(self, values: dict, declared: Iterable[str], stage: str, prefix: str = "",
                 whole: dict | None = None, read: dict | None = None):
        self._values, self._declared, self._stage, self._prefix = values, tuple(declared), stage, prefix
        # The whole config and the dotted keys read from it (a dict for its order), shared by the views of sections.
        self._whole, self._read = (values, {}) if whole is None else (whole, read)

    def _readable(self, dotted: str) -> bool:
        return any(dotted == key or dotted.startswith(f"{key}.") or key.startswith(f"{dotted}.")
                   for key in self._declared)

    def _section(self, key: str) -> "DeclaredConfig":
        return DeclaredConfig(self._values[key], self._declared, self._stage, f"{self._prefix}{key}.",
                              self._whole, self._read)

    def __getitem__(self, key: str):
        dotted = f"{self._prefix}{key}"
        if not self._readable(dotted):
            raise ConfigError(
                f"stage {self._stage} read config key {dotted}, which it does not declare; add it to "
                f"STAGE_KEYS[{self._stage!r}] in qaclims/stage_keys.py, so that its rule passes it"
            )
        value = self._values[key]
        if isinstance(value, dict):
            return self._section(key)
        self._read[dotted] = None
        return value

    def __iter__(self):
        return (key for key in self._values if self._readable(f"{self._prefix}{key}"))

    def __contains__(self, key) -> bool:
        return key in self._values and self._readable(f"{self._prefix}{key}")

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def to_dict(self) -> dict:
        """The declared keys and their values, as plain data (for checkpoint keys); reads nothing."""
        return {key: self._section(key).to_dict() if isinstance(self._values[key], dict)
                else copy.deepcopy(self._values[key]) for key in self}

    def dotted(self, key: str) -> str:
        """The full name of ``key`` of this section, e.g. ``cam.baseline.batch_size``, for messages."""
        return f"{self._prefix}{key}"

    def read_values(self) -> dict:
        """The keys the stage has read so far, from any view of this config, nested, with their values."""
        return subset(self._whole, self._read)


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
