"""The run report's summary files: mIoU per stage, per-class IoU, threshold sweep, overlays, VQA samples, resources.

Each output is a single file (the report cannot hold folders), and every HTML page is
self-contained.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from qaclims.atomic import atomic_path, write_text
from qaclims.data.images import load_rgb
from qaclims.data.index import read_index
from qaclims.errors import QaclimsError
from qaclims.report.charts import per_class_iou_figure, svg_text, threshold_sweep_figure
from qaclims.report.html import page, thumbnail_uri
from qaclims.report.overlays import stacked_rows, text_picture
from qaclims.report.resources import resources_html, rule_resources, rules_without_records
from qaclims.report.scores import miou_html, miou_table, network_name, per_class_iou
from qaclims.report.vqa_samples import pick_images, vqa_samples_html
from qaclims.stages.common import add_config_argument
from qaclims.viz import evenly_spaced

DESCRIPTION = "summarise a finished run for the report: mIoU table, charts, overlay montages, VQA samples, resources"
OVERLAY_HEIGHT = 160  # the most pixels an overlay strip keeps in the montages
THUMBNAIL_SIZE = 128
BENCHMARK_COLUMNS = ["s", "max_rss", "cpu_time"]


def add_arguments(parser) -> None:
    add_config_argument(parser, "reads report.overlay_images, report.vqa_images")
    parser.add_argument("--index", required=True)
    parser.add_argument("--networks", nargs="+", required=True, help="CAM networks, in the order of the --cam-* lists")
    parser.add_argument("--cam-summaries", nargs="+", required=True, help="eval_cam json, one per network")
    parser.add_argument("--cam-per-class", nargs="+", required=True, help="eval_cam per-class csv, one per network")
    parser.add_argument("--cam-sweeps", nargs="+", required=True, help="eval_cam sweep csv, one per network")
    parser.add_argument("--cam-overlays", nargs="+", required=True, help="eval_cam overlay folders, one per network")
    parser.add_argument("--pseudo-summary", required=True)
    parser.add_argument("--pseudo-per-class", required=True)
    parser.add_argument("--pseudo-overlays", required=True, help="eval_pseudo overlay folder")
    parser.add_argument("--seg-summary", required=True)
    parser.add_argument("--seg-per-class", required=True)
    parser.add_argument("--answers", required=True, help="merged VQA answers parquet")
    parser.add_argument("--corpus", required=True, help="corpus parquet")
    parser.add_argument("--benchmarks", required=True, help="folder of Snakemake benchmark files (may lack some)")
    parser.add_argument("--rule-order", nargs="*", default=[], help="rules with a benchmark, in workflow order")
    parser.add_argument("--miou", required=True, help="HTML to write")
    parser.add_argument("--per-class-iou", required=True, help="SVG to write")
    parser.add_argument("--threshold-sweep", required=True, help="SVG to write")
    parser.add_argument("--cam-montage", required=True, help="PNG to write")
    parser.add_argument("--label-montage", required=True, help="PNG to write")
    parser.add_argument("--vqa-samples", required=True, help="HTML to write")
    parser.add_argument("--stage-resources", required=True, help="HTML to write")


def _checked(found, expected, path: str, what: str):
    missing = [key for key in expected if key not in found]
    if missing:
        raise QaclimsError(f"{what} {path} has no {', '.join(missing)}; rerun the rule that writes it")
    return found


def read_summary(path: str, keys: list[str]) -> dict:
    try:
        summary = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise QaclimsError(f"evaluation summary {path} cannot be read ({error}); rerun the rule that writes it") from error
    return _checked(summary, keys, path, "evaluation summary")


def read_table(path: str, columns: list[str]) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise QaclimsError(f"table {path} cannot be read ({error}); rerun the rule that writes it") from error
    return _checked(frame, columns, path, "table")


def read_benchmarks(folder: str) -> pd.DataFrame:
    """One row per job: columns ``rule`` and BENCHMARK_COLUMNS (NaN where Snakemake measured nothing).

    A rule with one file per job (per shard, per network) keeps them in a sub-folder named after it.
    """
    root, records = Path(folder), []
    for path in sorted(root.glob("**/*.tsv")):
        relative = path.relative_to(root)
        try:
            record = pd.read_csv(path, sep="\t", na_values=["NA", "-"])
        except (ValueError, UnicodeDecodeError) as error:
            raise QaclimsError(f"benchmark file {path} cannot be read ({error}); delete it or rerun its rule") from error
        _checked(record, BENCHMARK_COLUMNS[:2], str(path), "benchmark file")
        record = record.reindex(columns=BENCHMARK_COLUMNS)
        if not all(pd.api.types.is_numeric_dtype(record[column]) for column in BENCHMARK_COLUMNS):
            raise QaclimsError(f"benchmark file {path} holds non-numbers; delete it or rerun its rule")
        records.append(record.assign(rule=relative.parts[0] if len(relative.parts) > 1 else path.stem))
    if not records:
        return pd.DataFrame({column: pd.Series(dtype=float) for column in BENCHMARK_COLUMNS}).assign(rule="")
    return pd.concat(records, ignore_index=True)


def overlay_montage(sources: dict[str, str], count: int, captions: dict[str, str], missing_text: str) -> Image.Image:
    """Up to ``count`` images drawn in every overlay folder of ``sources`` (row label -> folder), a row per folder."""
    shared = set.intersection(*({path.stem for path in Path(folder).glob("*.png")} for folder in sources.values()))
    chosen = evenly_spaced(pd.DataFrame({"image_id": sorted(shared)}), count)["image_id"]
    rows = [(f"{image_id} ({captions.get(image_id, '')}): {label}",
             np.asarray(load_rgb(Path(folder) / f"{image_id}.png")))
            for image_id in chosen for label, folder in sources.items()]
    return stacked_rows(rows, OVERLAY_HEIGHT) if rows else text_picture(missing_text)


def save_png(picture: Image.Image, path: str) -> None:
    with atomic_path(path) as partial:
        picture.save(partial, format="PNG")


def write_scores(args) -> None:
    """The mIoU table, the per-class bars and the threshold sweep."""
    cam_summaries = {network: read_summary(path, ["miou", "threshold", "best_miou", "best_threshold", "split", "images"])
                     for network, path in zip(args.networks, args.cam_summaries)}
    pseudo = read_summary(args.pseudo_summary, ["miou", "split", "images"])
    segmentation = read_summary(args.seg_summary, ["miou", "split", "images"])
    write_text(args.miou, page("mIoU per stage", miou_html(miou_table(cam_summaries, pseudo, segmentation))))

    cam_per_class = {network: read_table(path, ["class", "iou"]) for network, path in zip(args.networks, args.cam_per_class)}
    iou = per_class_iou(cam_per_class, read_table(args.pseudo_per_class, ["class", "iou"]),
                        read_table(args.seg_per_class, ["class", "iou"]))
    write_text(args.per_class_iou, svg_text(per_class_iou_figure(iou)))
    sweeps = {network_name(network): read_table(path, ["threshold", "miou"])
              for network, path in zip(args.networks, args.cam_sweeps)}
    best = {network_name(network): summary["best_threshold"] for network, summary in cam_summaries.items()}
    fixed = next(iter(cam_summaries.values()))["threshold"]
    write_text(args.threshold_sweep, svg_text(threshold_sweep_figure(sweeps, best, fixed)))


def write_overlays(args, index, count: int) -> None:
    """Montages of the CAM overlays (a row per network) and of the label overlays, captioned with each image's classes."""
    class_names = {image_id: ", ".join(np.asarray(index.classes)[row.astype(bool)])
                   for image_id, row in zip(index.frame["image_id"], index.labels())}
    cam_sources = {f"{network_name(network)}: image, CAM per labelled class, prediction, ground truth": folder
                   for network, folder in zip(args.networks, args.cam_overlays)}
    save_png(overlay_montage(cam_sources, count, class_names, "no CAM overlays: eval_cam.overlays is 0"),
             args.cam_montage)
    label_sources = {"image, seed label (IRNet's CRF), pseudo label (random walk), ground truth": args.pseudo_overlays}
    save_png(overlay_montage(label_sources, count, class_names, "no label overlays: eval_cam.overlays is 0"),
             args.label_montage)


def write_vqa_samples(args, index, count: int) -> None:
    answers = read_table(args.answers, ["image_id", "class", "kind", "template_index", "question", "answer"])
    corpus = read_table(args.corpus, ["image_id", "class", "foreground_texts", "background_texts"])
    image_paths = index.frame.set_index("image_id")["image_path"]
    thumbnails = {image_id: thumbnail_uri(load_rgb(image_paths[image_id]), THUMBNAIL_SIZE)
                  for image_id in pick_images(answers, count)}
    write_text(args.vqa_samples, page("VQA answers and the cleaned corpus", vqa_samples_html(answers, corpus, thumbnails)))


def write_resources(args) -> None:
    benchmarks = read_benchmarks(args.benchmarks)
    missing = rules_without_records(benchmarks, args.rule_order)
    write_text(args.stage_resources,
               page("Time and memory per rule", resources_html(rule_resources(benchmarks, args.rule_order), missing)))
    print(f"{len(benchmarks)} benchmark records; no record of: {', '.join(missing) or 'none'}")


def run(args) -> None:
    settings = args.config["report"]
    if not (len(args.networks) == len(args.cam_summaries) == len(args.cam_per_class) == len(args.cam_sweeps)
            == len(args.cam_overlays)):
        raise QaclimsError("--networks and every --cam-* option need one entry per network")
    index = read_index(args.index)
    write_scores(args)
    write_overlays(args, index, settings["overlay_images"])
    write_vqa_samples(args, index, settings["vqa_images"])
    write_resources(args)
    print(f"wrote the report summary of {', '.join(args.networks)} CAMs, pseudo labels and segmentation")
