"""The one declaration of the config keys each stage reads: the loader, the rules and the help all follow it."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import qaclims.stage_keys
from qaclims.cli import STAGES, main
from qaclims.config import (
    answerer_config,
    load_stage_config,
    network_config,
    subset,
    validate_config,
)
from qaclims.demo.dataset import write_demo_dataset
from qaclims.errors import ConfigError
from qaclims.run_layout import with_demo_files
from qaclims.stage_keys import STAGE_KEYS

REPO = Path(__file__).resolve().parents[1]


def stage_modules() -> set[str]:
    return {path.stem for path in (REPO / "qaclims" / "stages").glob("*.py") if path.stem != "__init__"}


def test_every_stage_module_and_command_has_an_entry_in_the_table():
    assert set(STAGE_KEYS) == stage_modules()
    assert {module.rpartition(".")[2] for module in STAGES.values()} == stage_modules()


def test_every_declared_key_is_a_key_of_the_schema():
    defaults = validate_config({})
    for stage, keys in STAGE_KEYS.items():
        for key in keys:
            value = defaults
            for part in key.split("."):
                assert isinstance(value, dict) and part in value, f"{stage} declares {key}, which the schema lacks"
                value = value[part]


def test_reading_an_undeclared_key_names_the_key_and_the_stage():
    config = load_stage_config([json.dumps({"irn": {"lr": 0.05}})], "train_irn", STAGE_KEYS["train_irn"])
    assert config["irn"]["lr"] == 0.05
    assert config["cam"]["backbone"] == "resnet50"
    with pytest.raises(ConfigError, match=r"stage train_irn read config key cam\.seed, which it does not declare"):
        config["cam"]["seed"]
    with pytest.raises(ConfigError, match=r"config key ritc,"):
        config["ritc"]


def test_the_view_lists_and_exports_only_the_declared_keys():
    config = load_stage_config([], "make_cam", STAGE_KEYS["make_cam"])
    assert set(config) == {"make_cam", "cam", "device"}
    assert list(config["cam"]) == ["backbone"]
    assert config.to_dict() == subset(validate_config({}), STAGE_KEYS["make_cam"])


def test_the_view_remembers_exactly_the_keys_read_through_it_or_its_sections():
    config = load_stage_config([json.dumps({"irn": {"lr": 0.05}})], "train_irn", STAGE_KEYS["train_irn"])
    assert config.read_values() == {}
    irn = config["irn"]
    assert irn["lr"] == 0.05 and irn["scale_range"] == validate_config({})["irn"]["scale_range"]
    config["device"]
    config.to_dict()  # exporting the declared keys reads none of them
    assert config.read_values() == {"irn": {"lr": 0.05, "scale_range": irn["scale_range"]}, "device": "auto"}


def test_a_stage_that_reads_a_key_it_did_not_declare_fails_on_the_command_line(tmp_path, monkeypatch, capsys):
    root = tmp_path / "VOC2012"
    write_demo_dataset(str(root), ["cat", "dog"], seed=1, num_train=2, num_train_extra=1, num_val=1,
                       min_size=48, max_size=64, max_objects=2, jpeg_quality=90)
    config = json.dumps({"dataset": {"kind": "voc12", "root": str(root), "classes": ["cat", "dog"]}})
    # check-data reads dataset.*; without that declaration its read must fail rather than see a default.
    monkeypatch.setitem(qaclims.stage_keys.STAGE_KEYS, "check_data", ("output_dir",))
    assert main(["check-data", "--config", config]) == 2
    error = capsys.readouterr().err
    assert "stage check_data read config key dataset, which it does not declare" in error


def test_each_command_help_lists_the_keys_its_stage_declares():
    result = subprocess.run([sys.executable, "-m", "qaclims", "train-irn", "--help"], capture_output=True, text=True,
                            env={"COLUMNS": "400", "PATH": ""})
    assert result.returncode == 0
    help_text = " ".join(result.stdout.split())
    assert f"reads {', '.join(STAGE_KEYS['train_irn'])})" in help_text


def test_each_rule_passes_its_stage_exactly_the_declared_keys(tmp_path):
    result = subprocess.run([sys.executable, "-m", "snakemake", "--dry-run", "--printshellcmds", "--forceall",
                             "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # The rules hand stages the demo's stand-in files by path where a key says `demo`.
    defaults = with_demo_files(validate_config(yaml.safe_load((REPO / "config.yaml").read_text())))
    commands = re.findall(r"-m qaclims ([a-z-]+) --config '(\{.*?\})'(.*)", result.stdout)
    assert {command for command, _, _ in commands} >= {"index", "vqa", "corpus", "train-ritc", "make-cam", "infer-seg"}
    trained = []
    for command, passed, rest in commands:
        stage = STAGES[command].rpartition(".")[2]
        expected = defaults
        if stage == "train_ritc":  # QA-CLIMS or an ablation variant, with its own ritc section
            trained.append(re.search(r"--out '?\S*/cam/(\w+)\.pt", rest).group(1))
            expected = network_config(defaults, trained[-1])
        if stage == "vqa":  # the main answerer, whose vqa section leaves out vqa.answerers
            expected = answerer_config(defaults, None)
        assert json.loads(passed) == subset(expected, STAGE_KEYS[stage]), command
    assert sorted(trained) == sorted(["ritc", *defaults["ritc"]["variants"]])

