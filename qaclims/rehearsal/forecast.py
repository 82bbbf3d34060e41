"""The forecast of a preset's full recipe from a rehearsal's measurements.

A rule's work is counted in what its metrics count (images trained or mapped, questions asked), or in images
where it has no metrics. A rule that measured its main loop is forecast as its measured time outside the loop
(loading models, writing outputs) plus the full work at the loop's rate; any other rule as its wall time scaled
by the full work over the work it did. Rules whose work does not grow with the dataset (the corpus, the
overlays, the report) are forecast at their wall time.
"""

import math

import pandas as pd

from qaclims.vqa.questions import BACKGROUND_TEMPLATES, FOREGROUND_TEMPLATES

# Classes per image of the real training sets, as multi-label classification papers give them (approximate):
# VOC 2012 about 1.4, COCO 2014 about 2.9. The VQA stage asks its questions about every class of an image.
LABELS_PER_IMAGE = {"voc12": 1.4, "coco14": 2.9}
RULE_ORDER = ("index", "dataset_report", "vqa", "vqa_merge", "corpus", "train_cam", "train_ritc", "make_cam",
              "eval_cam", "cam_overlays", "ir_label", "train_irn", "pseudo_label", "eval_pseudo", "label_overlays",
              "export", "train_seg", "infer_seg", "eval_seg", "seg_submission", "report_summary")
# What a rule's work is counted in where it writes no metrics: images, but questions for the merge of the answers.
UNITS = {"vqa_merge": "q"}
FORECAST_COLUMNS = ["rule", "jobs", "wall_seconds", "work_done", "seconds_per_item", "unit", "peak_rss_mb",
                    "peak_gpu_mb", "full_work", "forecast_seconds", "devices"]


def questions_per_class(vqa: dict) -> int:
    return len(vqa["foreground_questions"] or FOREGROUND_TEMPLATES) + len(vqa["background_questions"]
                                                                       or BACKGROUND_TEMPLATES)


def rule_work(rule: str, config: dict, split_sizes: dict[str, int], labels_per_image: float) -> float | None:
    """The work of ``rule`` under ``config`` on a dataset of ``split_sizes`` images per split; None for a rule
    whose work does not grow with the dataset."""
    maps_split = split_sizes[config["make_cam"]["split"]]
    networks = len(config["make_cam"]["networks"])
    work = {
        "index": sum(split_sizes.values()),
        "dataset_report": sum(split_sizes.values()),
        "vqa": sum(split_sizes[split] for split in config["vqa"]["splits"]) * labels_per_image
        * questions_per_class(config["vqa"]),
        "train_cam": config["cam"]["baseline"]["epochs"] * split_sizes[config["cam"]["baseline"]["split"]],
        "train_ritc": config["ritc"]["epochs"] * split_sizes[config["ritc"]["split"]],
        "make_cam": networks * maps_split,
        "eval_cam": networks * split_sizes[config["eval_cam"]["split"]],
        "ir_label": maps_split,
        "train_irn": config["irn"]["epochs"] * maps_split,
        "pseudo_label": maps_split,
        "eval_pseudo": split_sizes[config["eval_cam"]["split"]],
        "export": maps_split,
        "train_seg": config["seg"]["iterations"] * config["seg"]["batch_size"],
        "infer_seg": split_sizes[config["infer_seg"]["split"]],
        "eval_seg": split_sizes[config["infer_seg"]["split"]],
    }
    work["vqa_merge"] = work["vqa"]
    return work.get(rule)


def measured_rules(benchmarks: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per rule: jobs, wall seconds (summed), peak RSS and peak GPU memory (largest of a job), and the
    items and seconds of the main loops that wrote metrics (summed; NaN where none did)."""
    timed = benchmarks.groupby("rule").agg(jobs=("s", "size"), wall_seconds=("s", "sum"),
                                           peak_rss_mb=("max_rss", "max"))
    looped = metrics.groupby("rule").agg(metric_jobs=("items", "size"), items=("items", "sum"),
                                         loop_seconds=("seconds", "sum"), peak_gpu_mb=("peak_gpu_memory_mb", "max"),
                                         unit=("unit", "first"))
    rules = timed.join(looped, how="outer")
    rules["jobs"] = rules["jobs"].fillna(rules["metric_jobs"]).astype(int)
    # A cacheable rule (vqa) has no benchmark record: its loop is all that is known of its time.
    rules["wall_seconds"] = rules["wall_seconds"].fillna(rules["loop_seconds"])
    return rules.drop(columns="metric_jobs")


def forecast(measured: pd.DataFrame, rehearsal_work: dict[str, float | None], full_work: dict[str, float | None],
             devices: dict[str, int]) -> pd.DataFrame:
    """FORECAST_COLUMNS, one row per measured rule in RULE_ORDER (others after it, by name).

    ``rehearsal_work`` is each rule's work in the rehearsal (used where the rule wrote no metrics), ``full_work``
    in the full recipe, ``devices`` the GPUs that a job of a rule holds (1 where not given).
    """
    rows = []
    order = [rule for rule in RULE_ORDER if rule in measured.index]
    for rule in order + sorted(set(measured.index) - set(order)):
        row = measured.loc[rule]
        full = full_work.get(rule)
        has_loop = not pd.isna(row["items"]) and row["items"] > 0 and row["loop_seconds"] > 0
        done = row["items"] if has_loop else rehearsal_work.get(rule)
        unit = row["unit"] if has_loop else UNITS.get(rule, "img")
        per_item = row["loop_seconds"] / done if has_loop else (row["wall_seconds"] / done if done else math.nan)
        if full is None or not done:
            predicted = row["wall_seconds"]
        elif has_loop:
            predicted = max(row["wall_seconds"] - row["loop_seconds"], 0.0) + full * per_item
        else:
            predicted = row["wall_seconds"] * full / done
        rows.append([rule, int(row["jobs"]), row["wall_seconds"], done, per_item, unit, row["peak_rss_mb"],
                     row["peak_gpu_mb"], full, predicted, devices.get(rule, 1)])
    return pd.DataFrame(rows, columns=FORECAST_COLUMNS)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds >= 360 else f"{seconds:,.0f} s"


def _amount(value, unit: str) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:,.0f} {unit}"


def _megabytes(value) -> str:
    return "—" if pd.isna(value) else f"{value / 1024:,.1f} GB"


def forecast_table(table: pd.DataFrame, device_hours: str | None = None) -> str:
    """The forecast as a Markdown table with a total row; ``device_hours`` ("GPU") adds the forecast in hours of
    that device, a job's hours times the devices it holds."""
    extra = f" {device_hours}-hours |" if device_hours else ""
    lines = ["| stage | jobs | wall | work done | s per item | peak RSS | peak GPU memory | full recipe | forecast |"
             + extra, "|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if device_hours else "")]
    device_seconds = table["forecast_seconds"] * table["devices"]
    for row, held in zip(table.itertuples(), device_seconds):
        per_item = "—" if pd.isna(row.seconds_per_item) else f"{row.seconds_per_item:,.2f}"
        lines.append(f"| {row.rule} | {row.jobs} | {_hours(row.wall_seconds)} | {_amount(row.work_done, row.unit)} "
                     f"| {per_item} | {_megabytes(row.peak_rss_mb)} | {_megabytes(row.peak_gpu_mb)} "
                     f"| {_amount(row.full_work, row.unit)} | {_hours(row.forecast_seconds)} |"
                     + (f" {held / 3600:,.1f} |" if device_hours else ""))
    lines.append(f"| all | {table['jobs'].sum()} | {_hours(table['wall_seconds'].sum())} | | | "
                 f"{_megabytes(table['peak_rss_mb'].max())} | {_megabytes(table['peak_gpu_mb'].max())} | | "
                 f"{_hours(table['forecast_seconds'].sum())} |"
                 + (f" {device_seconds.sum() / 3600:,.1f} |" if device_hours else ""))
    return "\n".join(lines)


def rule_devices(config: dict, gpus: int) -> dict[str, int]:
    """The GPUs a job of each training rule holds (1 for every other rule); ``gpus`` over the preset's trains
    RITC with DDP on that many."""
    return {"train_cam": config["cam"]["baseline"]["gpus"], "train_ritc": max(config["ritc"]["gpus"], gpus),
            "train_irn": config["irn"]["gpus"], "train_seg": config["seg"]["gpus"]}


def full_recipe_forecast(measured: pd.DataFrame, preset: dict, full_sizes: dict[str, int], rehearsal: dict,
                         rehearsal_sizes: dict[str, int], rehearsal_labels_per_image: float,
                         gpus: int) -> pd.DataFrame:
    """The forecast of ``preset`` on the real dataset (``full_sizes``, LABELS_PER_IMAGE) from the rules
    ``measured`` in a rehearsal that ran the config ``rehearsal`` on ``rehearsal_sizes`` images."""
    labels = LABELS_PER_IMAGE[preset["dataset"]["kind"]]
    return forecast(measured,
                    {rule: rule_work(rule, rehearsal, rehearsal_sizes, rehearsal_labels_per_image)
                     for rule in measured.index},
                    {rule: rule_work(rule, preset, full_sizes, labels) for rule in measured.index},
                    rule_devices(preset, gpus))
