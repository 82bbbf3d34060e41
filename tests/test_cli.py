"""The `qaclims` command line: stage listing, error reporting, check-data."""

import importlib
import json
import subprocess
import sys

from qaclims.cli import STAGES, main
from qaclims.demo.dataset import write_demo_dataset

CLASSES = ["cat", "dog"]


def demo_tree(root):
    write_demo_dataset(str(root), CLASSES, seed=1, num_train=3, num_train_extra=1, num_val=2,
                       min_size=48, max_size=64, max_objects=2, jpeg_quality=90)


def voc_config(root) -> str:
    return json.dumps({"dataset": {"kind": "voc12", "root": str(root), "classes": CLASSES}})


def test_help_lists_every_stage_with_its_description_and_imports_no_stage_nor_torch():
    listing = ("import sys; from qaclims.cli import main; main(['--help']); "
               "print(sorted(name for name in sys.modules if name == 'torch' or name.startswith('qaclims.stages.')))")
    result = subprocess.run([sys.executable, "-c", listing], capture_output=True, text=True)
    assert result.returncode == 0
    *lines, imported = result.stdout.splitlines()
    assert imported == "[]"
    for name in STAGES:
        assert any(line.split(maxsplit=1)[0] == name for line in lines[3:]), name
    # Two light stages, imported here to compare: the listing shows the DESCRIPTION their own --help shows.
    for name in ("index", "vqa-merge"):
        assert f"  {name:<16} {importlib.import_module(STAGES[name]).DESCRIPTION}" in lines


# The stages that run a CLIP or BLIP model; only they may import open_clip or transformers, which take seconds.
CLIP_AND_BLIP_STAGES = {"demo-blip", "demo-clip", "vqa", "demo-knowledge", "corpus", "train-ritc"}
# The stages that read and write files with numpy alone; they need no torch either.
TORCH_FREE_STAGES = {"demo-data", "prepare-images", "index", "check-data", "dataset-report", "vqa-merge", "eval-cam",
                     "cam-overlays", "ir-label", "eval-pseudo", "label-overlays", "eval-seg", "seg-submission",
                     "export-labels", "report-summary"}


def heavy_libraries_imported(stages) -> list[str]:
    """The heavy libraries that importing the modules of ``stages`` loads, all in one fresh interpreter."""
    modules = ", ".join(STAGES[name] for name in sorted(stages))
    probe = (f"import sys, {modules}; "
             "print(' '.join(name for name in ('torch', 'open_clip', 'transformers') if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return result.stdout.split()


def test_a_stage_that_runs_no_clip_or_blip_imports_neither_and_a_file_stage_imports_no_torch():
    assert heavy_libraries_imported(set(STAGES) - CLIP_AND_BLIP_STAGES) == ["torch"]
    assert heavy_libraries_imported(TORCH_FREE_STAGES) == []


def test_unknown_stage_fails_with_the_list(capsys):
    assert main(["train-everything"]) == 2
    assert "unknown stage 'train-everything'" in capsys.readouterr().err


def test_check_data_prints_split_counts_and_standard_count_warnings(tmp_path, capsys):
    demo_tree(tmp_path / "VOC2012")
    assert main(["check-data", "--config", voc_config(tmp_path / "VOC2012")]) == 0
    captured = capsys.readouterr()
    lines = {line.split()[0]: line.split() for line in captured.out.splitlines() if line.startswith("  ")}
    assert lines["train"][1] == "3" and lines["train_aug"][1] == "4" and lines["val"][1] == "2"
    # A real-VOC config whose split sizes are not the standard ones draws a warning per split.
    assert "split train has 3 images; the standard voc12 split has 1464" in captured.err
    assert "split val has 2 images; the standard voc12 split has 1449" in captured.err


def test_check_data_reports_a_broken_file_without_a_traceback(tmp_path):
    root = tmp_path / "VOC2012"
    demo_tree(root)
    (root / "Annotations" / "demo_00001.xml").unlink()
    result = subprocess.run([sys.executable, "-m", "qaclims", "check-data", "--config", voc_config(root)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "demo_00001.xml does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_data_merges_config_files_in_order(tmp_path, capsys):
    root = tmp_path / "VOC2012"
    demo_tree(root)
    base = tmp_path / "base.yaml"
    base.write_text("dataset:\n  kind: voc12\n  root: /nowhere\n  classes: [cat, dog]\n")
    override = tmp_path / "override.yaml"
    override.write_text(f"dataset:\n  root: {root}\n  splits: [train]\n  mask_splits: [train]\n")
    assert main(["check-data", "--config", str(base), "--config", str(override)]) == 0
    out = capsys.readouterr().out
    assert "  train " in out and "train_aug" not in out
