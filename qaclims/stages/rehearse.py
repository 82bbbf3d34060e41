"""`qaclims rehearse`: a preset end to end with random full-size weights and a generated dataset, then a forecast of
what its full recipe costs on this machine. Not a stage of the workflow: it runs the workflow."""

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

DESCRIPTION = "run a preset end to end on random full-size weights and forecast its full recipe's cost"
CHECKOUT = Path(__file__).resolve().parents[2]
PRESETS = ("voc12", "coco14")
# The amounts of work by device: images of the training split and of val, the cap on the training batch sizes
# (None keeps the preset's), DeepLab's iterations. A CPU takes minutes per full-size training step.
AMOUNTS = {"cpu": (4, 2, 2, 2), "cuda": (16, 4, None, 10)}
DEFAULT_CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "qaclims",
                             "rehearsal")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=PRESETS, default="voc12")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs for the run; over 1 trains RITC with DDP")
    parser.add_argument("--keep", action="store_true", help="keep the run folder (it is removed after a success)")
    parser.add_argument("--work", help="the run folder (default: rehearsal-PRESET-DEVICE in the current folder); "
                                       "a failed run left there goes on where it stopped")
    parser.add_argument("--cache", default=DEFAULT_CACHE, help="folder of the weight files, built once")
    parser.add_argument("--images", type=int, help="images of the training split (default: 4 on cpu, 16 on cuda)")
    parser.add_argument("--val-images", type=int, help="images of val (default: 2 on cpu, 4 on cuda)")
    parser.add_argument("--batch-cap", type=int, help="largest training batch (default: 2 on cpu, the preset's on cuda)")
    parser.add_argument("--seg-iterations", type=int, help="DeepLab's iterations (default: 2 on cpu, 10 on cuda)")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=0)


def split_sizes(dataset: dict, images: int, val_images: int) -> dict[str, int]:
    """VOC's train is the first half of train_aug, as it is a part of it in the real lists."""
    if dataset["kind"] == "voc12":
        return {"train": max(1, images // 2), "train_aug": images, "val": val_images}
    return {"train": images, "val": val_images}


def amounts_of(args, dataset: dict):
    """The rehearsal's amounts of work: the device's defaults where the arguments give none."""
    from qaclims.rehearsal.site import Amounts

    images, val_images, batch_cap, seg_iterations = AMOUNTS[args.device]
    sizes = split_sizes(dataset, args.images or images, args.val_images or val_images)
    return Amounts(sizes, args.batch_cap or batch_cap, args.seg_iterations or seg_iterations)


def say(text: str) -> None:
    print(f"rehearse: {text}", flush=True)


def check_devices(device: str, gpus: int) -> None:
    import torch

    from qaclims.errors import QaclimsError

    if device == "cpu" and gpus != 1:
        raise QaclimsError("--gpus is for --device cuda; a CPU rehearsal runs its jobs on the CPU")
    if device == "cuda" and torch.cuda.device_count() < gpus:
        raise QaclimsError(f"--device cuda --gpus {gpus}: {torch.cuda.device_count()} CUDA GPU(s) are visible")


def ready_model_files(cache: str, preset: dict, seed: int):
    """The weight files, built where missing, each loaded by the stages' loader."""
    from qaclims.rehearsal.model_files import (
        build_model_files,
        check_model_files,
        model_files,
    )

    started = time.perf_counter()
    say(f"the weight files in {cache}")
    files = model_files(cache, preset)
    for path in build_model_files(files, preset, seed):
        say(f"  built {path}")
    for path, found in check_model_files(files, preset).items():
        say(f"  loaded {path}: {found}")
    say(f"weights ready in {time.perf_counter() - started:.0f} s")
    return files


def run_command(command: list[str]) -> None:
    from qaclims.errors import QaclimsError

    say("$ " + " ".join(command))
    if subprocess.run(command, cwd=CHECKOUT).returncode != 0:
        raise QaclimsError(f"the rehearsal stopped at: {' '.join(command)}; its output is above. The run folder "
                           "stays, and the same rehearse command goes on where it stopped")


def forecast_text(args, preset: dict, preset_path: Path, site_path: Path, amounts) -> str:
    from qaclims.config import load_config
    from qaclims.data.classes import EXPECTED_SPLIT_COUNTS
    from qaclims.data.index import read_index
    from qaclims.rehearsal.forecast import (
        forecast_table,
        full_recipe_forecast,
        measured_rules,
    )
    from qaclims.report.resources import read_benchmarks, read_stage_metrics

    rehearsal = load_config([str(preset_path), str(site_path)])
    output_dir = Path(rehearsal["output_dir"])
    index = read_index(str(output_dir / "data" / "index.parquet"))
    asked = index.frame[[f"split_{split}" for split in rehearsal["vqa"]["splits"]]].any(axis=1).to_numpy()
    labels_per_image = float(index.labels()[asked].sum(axis=1).mean())
    full_sizes = EXPECTED_SPLIT_COUNTS[args.preset]
    measured = measured_rules(read_benchmarks(str(output_dir / "benchmarks")),
                              read_stage_metrics(str(output_dir / "logs")))
    table = full_recipe_forecast(measured, preset, full_sizes, rehearsal, amounts.images, labels_per_image,
                                 args.gpus)
    sizes = ", ".join(f"{split} {count:,}" for split, count in full_sizes.items())
    gpus = f" with {args.gpus} GPU(s)" if args.device == "cuda" else ""
    return (f"rehearsal of {args.preset} on {args.device}{gpus}; the forecast is the full recipe on {sizes} "
            "images\n\n" + forecast_table(table, "GPU" if args.device == "cuda" else None))


def run(args) -> None:
    import yaml

    from qaclims.config import load_config
    from qaclims.rehearsal.dataset import write_dataset
    from qaclims.rehearsal.site import site_config
    from qaclims.runtime.atomic import write_text

    check_devices(args.device, args.gpus)
    preset_path = CHECKOUT / "workflow" / "configs" / f"{args.preset}.yaml"
    preset = load_config([str(preset_path)])
    amounts = amounts_of(args, preset["dataset"])
    work = Path(args.work or f"rehearsal-{args.preset}-{args.device}").resolve()
    root, site_path = work / "data", work / "site.yaml"
    files = ready_model_files(args.cache, preset, args.seed)
    if not root.exists():
        say(f"a generated {args.preset} dataset of {amounts.images} images in {root}")
        write_dataset(str(root), preset["dataset"], amounts.images, args.seed)
    site = site_config(preset, amounts, str(root), str(work / "results"), files.site_keys(preset), args.device,
                       args.gpus)
    write_text(site_path, yaml.safe_dump(site, sort_keys=False))
    say(f"site file {site_path}:\n{yaml.safe_dump(site, sort_keys=False)}")
    run_command([sys.executable, "-m", "qaclims", "check-data", "--config", str(preset_path), "--config",
                 str(site_path)])
    started = time.perf_counter()
    run_command([sys.executable, "-m", "snakemake", "--snakefile", str(CHECKOUT / "Snakefile"), "--directory",
                 str(work), "--cores", str(args.cores), "--resources", f"gpu={args.gpus}", "--rerun-incomplete",
                 "--show-failed-logs", "--configfile", str(preset_path), str(site_path)])
    say(f"the workflow ran in {time.perf_counter() - started:.0f} s")
    text = forecast_text(args, preset, preset_path, site_path, amounts)
    print(f"\n{text}\n", flush=True)
    write_text(work.parent / f"{work.name}-forecast.md", text + "\n")
    if not args.keep:
        shutil.rmtree(work)
