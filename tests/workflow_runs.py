"""Running the workflow in tests: a copy of the repository, a tiny demo config, the snakemake command line."""

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml
from dry_run_fixture import planned_jobs

REPO = Path(__file__).resolve().parents[1]

TINY = {
    "demo": {"num_train": 6, "num_train_extra": 4, "num_val": 4, "min_size": 64, "max_size": 96},
    # Stand-ins that train a step or two: the files and their loading are real, their knowledge is not. Two steps at
    # the backbone's own rate leave batch-norm statistics that make the CAM loss nan; a real schedule settles them.
    "demo_models": {"blip_image_size": 32, "clip_image_size": 32,
                    "blip": {"hidden_size": 16, "images": 4, "steps": 2, "batch_size": 4},
                    "clip": {"images": 4, "steps": 2, "batch_size": 4},
                    "backbone": {"image_size": 32, "images": 4, "steps": 2, "batch_size": 4, "lr": 0.001}},
    "vqa": {"image_size": 32},
    "report": {"montage_images": 4},
    "cam": {"baseline": {"epochs": 1, "batch_size": 4, "crop_size": 64, "resize_long": [64, 96]}},
    "ritc": {"epochs": 1, "batch_size": 4, "crop_size": 64, "resize_long": [64, 96], "log_every": 1,
             "clip_input_size": 32},
    "make_cam": {"scales": [1.0, 0.5]},
    "eval_cam": {"overlays": 4},
    "irn": {"epochs": 1, "batch_size": 4, "crop_size": 64, "radius": 5, "log_every": 1},
    "seg": {"iterations": 4, "batch_size": 2, "crop_size": 48, "log_every": 1},
    "infer_seg": {"scales": [1.0]},
}


def copy_checkout(destination: Path) -> Path:
    """The files a workflow run needs, copied so that a test can edit them."""
    destination.mkdir(parents=True)
    shutil.copy(REPO / "Snakefile", destination)
    shutil.copy(REPO / "config.yaml", destination)
    for folder in ("workflow", "qaclims", "envs"):
        shutil.copytree(REPO / folder, destination / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def snakemake_command(checkout: Path, workdir: Path, *arguments: str, cores: str = "2") -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(checkout / "Snakefile"),
            "--directory", str(workdir), "--cores", cores, *arguments]


def snakemake(checkout: Path, workdir: Path, *arguments: str, cores: str = "2", timeout: float = 600,
              env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_command(checkout, workdir, *arguments, cores=cores), capture_output=True,
                          text=True, timeout=timeout, env=None if env is None else {**os.environ, **env})


def dry_run_plan(result: subprocess.CompletedProcess) -> Counter:
    """Jobs per rule that a successful ``snakemake --dry-run`` plans."""
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return planned_jobs(output)


def write_config(path: Path, config: dict) -> str:
    path.write_text(yaml.safe_dump(config))
    return str(path)


def finished_demo(root: Path, config: dict, *targets: str, timeout: float = 600) -> tuple[Path, str]:
    """A copy of the repository under ``root`` and its workdir, where the demo of ``config`` has made ``targets``
    (all of it by default): (workdir, the config file)."""
    checkout = copy_checkout(root / "checkout")
    workdir = root / "work"
    workdir.mkdir()
    config_file = write_config(root / "config.yaml", config)
    # The targets go first: --configfile takes every argument that follows it.
    result = snakemake(checkout, workdir, *targets, "--configfile", config_file, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return workdir, config_file
