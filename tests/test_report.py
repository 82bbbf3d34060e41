"""The run report's pieces: the mIoU table, the charts, the montages, the VQA samples and the resources table."""

import json
import math
import re
from argparse import Namespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle
from PIL import Image

from qaclims.errors import QaclimsError
from qaclims.report.ablation import (
    ablation_html,
    ablation_table,
    ablation_text,
    overrides_in_words,
)
from qaclims.report.charts import (
    per_class_iou_figure,
    svg_text,
    threshold_sweep_figure,
    training_curves_figure,
)
from qaclims.report.html import page, table
from qaclims.report.inputs import read_summary, read_table
from qaclims.report.overlays import CAPTION_HEIGHT, GAP, overlay_montage, stacked_rows
from qaclims.report.resources import (
    TOTAL,
    duration,
    read_benchmarks,
    read_stage_metrics,
    resources_html,
    rule_resources,
    rules_without_records,
)
from qaclims.report.scores import miou_html, miou_table, per_class_iou
from qaclims.report.seed_ablation import seed_tables, seed_tables_html, seed_tables_text
from qaclims.report.training import labelled_paths, read_curves
from qaclims.report.vqa_samples import (
    pair_table,
    pick_images,
    vqa_samples_html,
    with_answerers,
)
from qaclims.stages.report_summary import CAM_SUMMARY_KEYS, summaries_by_seed
from qaclims.train.curves import CurveCsv

# Arbitrary inputs, not the scores of any run: each figure differs from the others, so a figure put in
# the wrong row shows.
CAMS = {
    "baseline": {"miou": 0.41, "threshold": 0.15, "best_miou": 0.47, "best_threshold": 0.44, "split": "train",
                 "images": 30},
    "ritc": {"miou": 0.53, "threshold": 0.15, "best_miou": 0.58, "best_threshold": 0.27, "split": "train",
             "images": 30},
}
PSEUDO = {"miou": 0.62, "split": "train", "images": 30, "prediction_ignore": "..."}
SEGMENTATION = {"split": "val", "images": 20, "miou": 0.66, "miou_crf": 0.69}


def test_miou_table_has_a_row_per_stage_and_setting_in_percent():
    frame = miou_table(CAMS, PSEUDO, SEGMENTATION)
    assert frame["stage"].tolist() == ["Baseline CAM"] * 2 + ["QA-CLIMS CAM"] * 2 + ["Pseudo mask"] + ["Segmentation"] * 2
    scores = [CAMS["baseline"]["miou"], CAMS["baseline"]["best_miou"], CAMS["ritc"]["miou"], CAMS["ritc"]["best_miou"],
              PSEUDO["miou"], SEGMENTATION["miou"], SEGMENTATION["miou_crf"]]
    np.testing.assert_allclose(frame["mIoU (%)"], [100 * score for score in scores])
    assert frame["setting"].tolist()[:2] == ["fixed threshold 0.15", "best threshold 0.44, tuned on the evaluation labels"]
    assert frame["split"].tolist() == ["train"] * 5 + ["val"] * 2 and frame["images"].tolist() == [30] * 5 + [20] * 2
    assert frame["setting"].tolist()[-2:] == ["without CRF", "with CRF"]


def test_miou_table_without_crf_has_one_segmentation_row():
    frame = miou_table({"ritc": CAMS["ritc"]}, PSEUDO, {"split": "val", "images": 20, "miou": 0.5})
    assert frame["stage"].tolist() == ["QA-CLIMS CAM", "QA-CLIMS CAM", "Pseudo mask", "Segmentation"]


def test_miou_html_shows_one_decimal_right_aligned():
    text = miou_html(miou_table(CAMS, PSEUDO, SEGMENTATION))
    assert '<td class="number">41.0</td>' in text and '<td class="number">69.0</td>' in text  # 0.41 and 0.69
    assert "<td>QA-CLIMS CAM</td>" in text and '<td class="number">30</td>' in text


RATES = {"background_false_activation": 0.2, "foreground_under_activation": 0.3, "splits": {}}


def test_overrides_read_as_words_whatever_the_key():
    assert overrides_in_words({"loss_weights": {"foreground": 0, "background": 0}}) == \
        "loss weights: background 0, foreground 0"
    assert overrides_in_words({"background_texts": "fixed", "alpha": 0.3, "lr": 3.5e-5, "resize_long": [96, 64],
                               "ovseg_checkpoint": None}) == \
        "alpha: 0.3; background texts: fixed; lr: 3.5e-05; ovseg checkpoint: none; resize long: 96, 64"
    assert overrides_in_words({}) == "none"


def test_ablation_table_has_baseline_qa_clims_and_each_variant_in_percent():
    cams = {network: {**summary, **RATES} for network, summary in CAMS.items()}
    area_only = {**CAMS["ritc"], "miou": 0.50123, "best_miou": 0.55, "best_threshold": 0.2,
                 "background_false_activation": 0.45, "foreground_under_activation": 0.05, "splits": {}}
    frame = ablation_table({**cams, "area_only": area_only},
                           {"area_only": {"loss_weights": {"foreground": 0, "background": 0}}})
    assert frame.columns.tolist() == ["variant", "overrides", "mIoU at 0.15 (%)", "best mIoU (%)", "best threshold",
                                      "background false activation (%)", "foreground under-activation (%)"]
    assert frame["variant"].tolist() == ["Baseline", "QA-CLIMS", "area_only"]
    assert frame["overrides"].tolist()[2] == "loss weights: background 0, foreground 0"
    np.testing.assert_allclose(frame["mIoU at 0.15 (%)"], [100 * CAMS["baseline"]["miou"], 100 * CAMS["ritc"]["miou"],
                                                           50.123])
    np.testing.assert_allclose(frame.iloc[2, 3:].astype(float), [55, 0.2, 45, 5])
    text = ablation_html(frame)
    assert "<td>area_only</td><td>loss weights: background 0, foreground 0</td>" in text
    assert '<td class="number">50.1</td><td class="number">55.0</td><td class="number">0.20</td>' in text


def test_ablation_table_adds_the_scores_of_each_extra_split():
    splits = {"habitat": {"miou": 0.4, "background_false_activation": 0.5, "foreground_under_activation": 0.1,
                          "images": 3}}
    frame = ablation_table({"ritc": {**CAMS["ritc"], **RATES, "splits": splits}}, {})
    assert frame.columns.tolist()[-3:] == ["habitat: mIoU (%)", "habitat: background false activation (%)",
                                           "habitat: foreground under-activation (%)"]
    np.testing.assert_allclose(frame.iloc[0, -3:].astype(float), [40, 50, 10])


def test_ablation_text_for_the_log_keeps_the_whole_split_columns_in_percent():
    splits = {"habitat": {"miou": 0.4, "background_false_activation": 0.5, "foreground_under_activation": 0.1,
                          "images": 3}}
    frame = ablation_table({"ritc": {**CAMS["ritc"], **RATES, "splits": splits}}, {})
    header, row = ablation_text(frame).splitlines()
    assert "habitat" not in header and header.split()[:2] == ["variant", "overrides"]
    assert row.split()[:2] == ["QA-CLIMS", "none:"] and f"{100 * CAMS['ritc']['miou']:.1f}" in row.split()
    assert f"{CAMS['ritc']['best_threshold']:.2f}" in row.split()

def seed_summaries(miou: dict[int, float], false_activation: float = 0.2) -> dict[int, dict]:
    return {seed: {"miou": value, "threshold": 0.15, "background_false_activation": false_activation,
                   "foreground_under_activation": value / 2} for seed, value in miou.items()}


def test_seed_tables_give_each_networks_mean_std_and_seeds_and_its_paired_difference_to_qa_clims():
    tables = seed_tables({"baseline": seed_summaries({0: 0.2, 4: 0.3, 1: 0.4}),
                          "ritc": seed_summaries({0: 0.5, 4: 0.7, 1: 0.6}, false_activation=0.1),
                          "area_only": seed_summaries({0: 0.45, 4: 0.6, 1: 0.6})})
    assert list(tables) == ["CAM mIoU at 0.15 (%)", "background false activation (%)",
                            "foreground under-activation (%)"]
    miou = tables["CAM mIoU at 0.15 (%)"].set_index("variant")
    assert miou.columns.tolist() == ["mean", "std", "seed 0", "seed 4", "seed 1", "Δ QA-CLIMS: mean",
                                     "Δ QA-CLIMS: std", "Δ QA-CLIMS: seed 0", "Δ QA-CLIMS: seed 4",
                                     "Δ QA-CLIMS: seed 1"]
    assert miou.index.tolist() == ["Baseline", "QA-CLIMS", "area_only"]
    np.testing.assert_allclose(miou.loc["Baseline", ["mean", "std", "seed 0", "seed 4", "seed 1"]].astype(float),
                               [30, 10, 20, 30, 40])
    # Paired seed by seed: the baseline trails by 30, 40 and 20, area_only by 5, 10 and 0.
    np.testing.assert_allclose(miou.loc["Baseline"].iloc[5:].astype(float), [-30, 10, -30, -40, -20])
    np.testing.assert_allclose(miou.loc["area_only"].iloc[5:].astype(float), [-5, 5, -5, -10, 0], atol=1e-9)
    assert miou.loc["QA-CLIMS"].iloc[5:].isna().all()
    rates = tables["background false activation (%)"].set_index("variant")
    np.testing.assert_allclose(rates.loc["Baseline", ["mean", "Δ QA-CLIMS: mean", "Δ QA-CLIMS: std"]].astype(float),
                               [20, 10, 0], atol=1e-9)
    # As printed: a difference carries its sign, its standard deviation none.
    rows = [line.split() for line in seed_tables_text(tables).splitlines()]
    baseline_row = next(row for row in rows if row[:1] == ["Baseline"])
    assert baseline_row[6:8] == ["-30.0", "10.0"]


def test_seed_tables_of_one_seed_have_no_spread_and_print_it_as_a_dash():
    tables = seed_tables({"baseline": seed_summaries({3: 0.2}), "ritc": seed_summaries({3: 0.5})})
    miou = tables["CAM mIoU at 0.15 (%)"]
    assert miou["std"].isna().all() and miou["Δ QA-CLIMS: std"].isna().all()
    text = seed_tables_text(tables)
    baseline_row = next(line for line in text.splitlines() if line.startswith("Baseline"))
    assert baseline_row.split() == ["Baseline", "20.0", "-", "20.0", "-30.0", "-", "-30.0"]
    html = seed_tables_html(tables)
    assert "<h3>CAM mIoU at 0.15 (%)</h3>" in html and "the training seeds 3 of replicates" in html


def test_the_further_seeds_summaries_go_to_their_network_and_seed_in_the_order_the_rule_lists_them(tmp_path):
    paths = []
    for seed in (5, 2):
        for network in ("baseline", "ritc", "area_only"):
            path = tmp_path / f"{seed}-{network}.json"
            path.write_text(json.dumps({key: f"{seed} {network}" for key in CAM_SUMMARY_KEYS}))
            paths.append(str(path))
    first = {network: {"miou": network} for network in ("baseline", "ritc", "area_only")}
    by_seed = summaries_by_seed(Namespace(replicate_summaries=paths), first, [0, 5, 2])
    assert by_seed["ritc"][0] == {"miou": "ritc"}
    assert [by_seed[network][seed]["miou"] for network in first for seed in (5, 2)] == [
        "5 baseline", "2 baseline", "5 ritc", "2 ritc", "5 area_only", "2 area_only"]


def test_table_escapes_text_and_dashes_missing_values():
    text = table(pd.DataFrame({"name": ["<b>&"], "value": [float("nan")], "count": [3]}))
    assert "<td>&lt;b&gt;&amp;</td>" in text and '<td class="number">–</td>' in text and '<td class="number">3</td>' in text
    whole = page("A & B", text)
    assert whole.startswith("<!DOCTYPE html>") and "<title>A &amp; B</title>" in whole and "<style>" in whole


def per_class_tables():
    classes = ["background", "cat", "dog"]
    cam = {network: pd.DataFrame({"class": classes, "iou": iou, "precision": 0.5, "recall": 0.5})
           for network, iou in (("baseline", [0.7, 0.4, 0.3]), ("ritc", [0.8, 0.5, np.nan]))}
    pseudo = pd.DataFrame({"class": classes, "iou": [0.85, 0.6, 0.55]})
    # A table in another class order: the chart still follows the first one's.
    segmentation = pd.DataFrame({"class": ["dog", "background", "cat"], "iou": [0.6, 0.9, 0.7],
                                 "iou_crf": [0.65, 0.92, 0.75]})
    return cam, pseudo, segmentation


def test_per_class_iou_has_a_column_per_stage_and_background_first():
    iou = per_class_iou(*per_class_tables())
    assert iou.columns.tolist() == ["Baseline CAM", "QA-CLIMS CAM", "Pseudo mask", "Segmentation", "Segmentation + CRF"]
    assert iou.index.tolist() == ["background", "cat", "dog"]
    np.testing.assert_allclose(iou.loc["dog"], [30, np.nan, 55, 60, 65])
    np.testing.assert_allclose(iou["Segmentation + CRF"], [92, 75, 65])


def test_per_class_iou_figure_draws_a_bar_per_class_and_stage():
    iou = per_class_iou(*per_class_tables())
    figure = per_class_iou_figure(iou)
    axes = figure.axes[0]
    bars = [patch for patch in axes.patches if isinstance(patch, Rectangle)]
    assert len(bars) == iou.size  # 3 classes x 5 stages
    # Bars come stage by stage; within a stage, class by class from left to right.
    heights = np.array([bar.get_height() for bar in bars]).reshape(len(iou.columns), len(iou.index))
    np.testing.assert_allclose(heights, iou.to_numpy().T)
    centres = np.array([bar.get_x() + bar.get_width() / 2 for bar in bars]).reshape(heights.shape)
    assert (np.diff(centres, axis=1) > 0).all() and (np.diff(centres, axis=0) > 0).all()
    assert np.all(np.abs(centres - np.arange(3)) < 0.5)  # each bar inside its class's group
    assert [label.get_text() for label in axes.get_xticklabels()] == ["background", "cat", "dog"]
    assert [text.get_text() for text in axes.get_legend().get_texts()] == iou.columns.tolist()


def test_threshold_sweep_figure_plots_every_point_and_marks_the_picked_best():
    thresholds = np.round(np.arange(0.05, 0.61, 0.01), 2)
    sweeps = {"Baseline CAM": pd.DataFrame({"threshold": thresholds, "miou": 0.6 - (thresholds - 0.4) ** 2}),
              "QA-CLIMS CAM": pd.DataFrame({"threshold": thresholds, "miou": 0.65 - (thresholds - 0.25) ** 2})}
    # The baseline's pick is not its highest point, as eval_cam.sweep.pick: first_drop can make it.
    picked = {"Baseline CAM": 0.30, "QA-CLIMS CAM": 0.25}
    axes = threshold_sweep_figure(sweeps, picked, fixed_threshold=0.15).axes[0]
    curves = [line for line in axes.get_lines() if len(line.get_xdata()) > 2]
    assert len(curves) == 2
    for curve, sweep in zip(curves, sweeps.values()):
        np.testing.assert_allclose(curve.get_xdata(), sweep["threshold"])
        np.testing.assert_allclose(curve.get_ydata(), sweep["miou"] * 100)
    best_points = [(line.get_xdata()[0], line.get_ydata()[0]) for line in axes.get_lines() if line.get_marker() == "o"]
    assert best_points == [pytest.approx((0.30, 59.0)), pytest.approx((0.25, 65.0))]
    fixed = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
    assert len(fixed) == 1 and fixed[0].get_xdata()[0] == 0.15


def write_curve(path, points: list[dict]) -> str:
    table = CurveCsv(path)
    for point in points:
        table.add(point)
    table.close()
    return str(path)


def ritc_like_points(scale: float) -> list[dict]:
    return [{"step": step, "loss/foreground": scale / step, "loss/background": scale * step, "loss/total": 2.0 * step,
             "lr/backbone": 0.1 / step, "lr/head": 1.0 / step, "images_per_second": 30.0} for step in (2, 4, 6)]


def test_training_curves_chart_has_a_panel_per_loss_term_and_of_learning_rates_with_a_line_per_training(tmp_path):
    paths = {"ritc": write_curve(tmp_path / "ritc.csv", ritc_like_points(1.0)),
             "area_only": write_curve(tmp_path / "area_only.csv", ritc_like_points(3.0)),
             "never_written": str(tmp_path / "never_written.csv")}
    curves, missing = read_curves(paths)
    assert [curve.label for curve in curves] == ["ritc", "area_only"] and missing == ["never_written"]
    figure = training_curves_figure(curves)
    panels = [axes for axes in figure.axes if axes.get_visible() and axes.axison]
    assert [axes.get_title() for axes in panels] == ["foreground loss", "background loss", "total loss",
                                                     "learning rate"]
    for axes, term in zip(panels, ("foreground", "background", "total")):
        lines = axes.get_lines()
        assert [line.get_color() for line in lines] == ["C0", "C1"]  # a training's colour in every panel
        for line, scale in zip(lines, (1.0, 3.0)):
            np.testing.assert_allclose(line.get_xdata(), [2, 4, 6])
            np.testing.assert_allclose(line.get_ydata(), [point[f"loss/{term}"] for point in ritc_like_points(scale)])
    rates = panels[3].get_lines()
    assert [(line.get_color(), line.get_linestyle()) for line in rates] == [("C0", "-"), ("C0", "--"), ("C1", "-"),
                                                                            ("C1", "--")]
    np.testing.assert_allclose(rates[1].get_ydata(), [0.5, 0.25, 1 / 6])
    assert [text.get_text() for text in panels[3].get_legend().get_texts()] == ["backbone", "head"]
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["ritc", "area_only"]


def test_curve_tables_are_given_with_the_label_of_their_lines():
    assert labelled_paths(["ritc=logs/a=b.csv"]) == {"ritc": "logs/a=b.csv"}
    with pytest.raises(QaclimsError, match="as LABEL=PATH, not logs/ritc.curve.csv"):
        labelled_paths(["logs/ritc.curve.csv"])


def test_svg_text_is_an_svg_and_the_same_for_the_same_figure():
    iou = per_class_iou(*per_class_tables())
    first, second = svg_text(per_class_iou_figure(iou)), svg_text(per_class_iou_figure(iou))
    assert "<svg" in first and first.rstrip().endswith("</svg>")
    assert first == second


def benchmark_record(seconds, rss, cpu="1.00"):
    return f"s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n" \
           f"{seconds}\t0:00:01\t{rss}\t1.0\t1.0\t1.0\t0.0\t0.0\t0.0\t{cpu}\n"


def test_benchmarks_of_sharded_rules_are_summed_and_their_peak_memory_is_the_largest(tmp_path):
    (tmp_path / "index.tsv").write_text(benchmark_record(2.5, 100))
    (tmp_path / "make_cam").mkdir()
    (tmp_path / "make_cam/baseline-shard-0.tsv").write_text(benchmark_record(10, 900, "20"))
    (tmp_path / "make_cam/ritc-shard-1.tsv").write_text(benchmark_record(30, 1500, "40"))
    (tmp_path / "eval_seg.tsv").write_text(benchmark_record(1, "NA", "NA"))  # Snakemake measured nothing
    benchmarks, metrics = read_benchmarks(str(tmp_path)), read_stage_metrics(str(tmp_path / "no-metrics"))
    assert len(benchmarks) == 4
    resources = rule_resources(benchmarks, metrics, ["index", "vqa", "make_cam"]).set_index("rule")
    assert resources.index.tolist() == ["index", "make_cam", "eval_seg", TOTAL]
    assert resources.loc["make_cam", "jobs"] == 2 and resources.loc["make_cam", "wall_seconds"] == 40
    assert resources.loc["make_cam", "peak_rss_mb"] == 1500 and resources.loc["make_cam", "cpu_seconds"] == 60
    assert math.isnan(resources.loc["eval_seg", "peak_rss_mb"]) and resources.loc["eval_seg", "cpu_seconds"] == 0
    assert resources.loc[TOTAL, ["jobs", "wall_seconds", "peak_rss_mb", "cpu_seconds"]].tolist() == [4, 43.5, 1500, 61]
    assert rules_without_records(benchmarks, metrics, ["index", "vqa", "make_cam", "corpus"]) == ["vqa", "corpus"]


def write_metrics(path, items, seconds, unit, peak_gpu_mb, **peak_rss):
    """A metrics file; without ``peak_rss_mb``, one of a version that did not record it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"items": items, "unit": unit, "seconds": seconds, "per_second": items / seconds,
                                "peak_gpu_memory_mb": peak_gpu_mb, **peak_rss}))


def test_metered_rules_show_their_gpu_memory_and_rate_and_unbenchmarked_ones_their_loop_time_and_rss(tmp_path):
    benchmarks_folder, logs = tmp_path / "benchmarks", tmp_path / "logs"
    (benchmarks_folder / "make_cam").mkdir(parents=True)
    for shard in (0, 1):
        (benchmarks_folder / f"make_cam/ritc-shard-{shard}.tsv").write_text(benchmark_record(20, 900))
    (benchmarks_folder / "train_cam.tsv").write_text(benchmark_record(50, 700))
    write_metrics(logs / "make_cam/ritc-shard-0.metrics.json", 30, 10.0, "img", 2000.0)
    write_metrics(logs / "make_cam/ritc-shard-1.metrics.json", 10, 10.0, "img", 3000.0)
    write_metrics(logs / "train_cam.metrics.json", 64, 8.0, "img", None)  # trained on the CPU
    # The cacheable vqa has no benchmark record: its metrics files alone give its row.
    write_metrics(logs / "vqa/shard-0.metrics.json", 160, 4.0, "q", 1000.0)
    write_metrics(logs / "vqa/shard-1.metrics.json", 40, 1.0, "q", 500.0)
    (logs / "vqa/shard-2.metrics.json").write_text("")  # a job taken from the output cache measured nothing
    # The cacheable corpus, a CPU job, has none either: its loop time and peak RSS stand in for the benchmark's.
    write_metrics(logs / "corpus.metrics.json", 50, 2.0, "text", None, peak_rss_mb=4400.0)
    benchmarks, metrics = read_benchmarks(str(benchmarks_folder)), read_stage_metrics(str(logs))
    resources = rule_resources(benchmarks, metrics, ["train_cam", "vqa", "corpus", "make_cam", "eval_cam"])
    resources = resources.set_index("rule")
    assert resources.index.tolist() == ["train_cam", "vqa", "corpus", "make_cam", TOTAL]
    assert resources.loc["make_cam", "peak_gpu_mb"] == 3000 and resources.loc["make_cam", "items_per_second"] == 2
    assert resources.loc["make_cam", "wall_seconds"] == 40 and resources.loc["make_cam", "peak_rss_mb"] == 900
    assert resources.loc["vqa", "jobs"] == 2 and resources.loc["vqa", "items_per_second"] == 40
    assert resources.loc["vqa", "wall_seconds"] == 5 and math.isnan(resources.loc["vqa", "peak_rss_mb"])
    assert resources.loc["corpus", ["jobs", "wall_seconds", "peak_rss_mb", "items_per_second"]].tolist() == [
        1, 2, 4400, 25]
    assert math.isnan(resources.loc["train_cam", "peak_gpu_mb"])
    assert resources.loc[TOTAL, ["jobs", "wall_seconds", "peak_rss_mb", "peak_gpu_mb"]].tolist() == [6, 97, 4400, 3000]
    assert rules_without_records(benchmarks, metrics, ["train_cam", "vqa", "eval_cam"]) == ["eval_cam"]
    text = resources_html(resources.reset_index(), [])
    rows = dict(re.findall(r"<tr><td>(\w+)</td>(.*?)</tr>", text))
    assert rows["make_cam"].endswith('<td class="number">3,000</td><td>2.0 img/s</td>')
    assert rows["train_cam"].endswith('<td class="number">–</td><td>8.0 img/s</td>')
    assert rows["vqa"].startswith('<td class="number">2</td><td>5.0 s</td><td class="number">–</td>')
    assert rows["vqa"].endswith("<td>40.0 q/s</td>")
    assert rows["corpus"].startswith('<td class="number">1</td><td>2.0 s</td><td class="number">4,400</td>')


def test_a_bad_metrics_file_is_named(tmp_path):
    (tmp_path / "vqa").mkdir()
    (tmp_path / "vqa/shard-0.metrics.json").write_text(json.dumps({"items": 3}))
    with pytest.raises(QaclimsError, match=r"shard-0\.metrics\.json has no unit, seconds"):
        read_stage_metrics(str(tmp_path))
    (tmp_path / "vqa/shard-0.metrics.json").write_text("{cut short")
    with pytest.raises(QaclimsError, match=r"shard-0\.metrics\.json cannot be read"):
        read_stage_metrics(str(tmp_path))


def test_missing_benchmark_records_are_named_and_an_empty_folder_gives_an_empty_table(tmp_path):
    benchmarks, metrics = read_benchmarks(str(tmp_path / "absent")), read_stage_metrics(str(tmp_path / "absent"))
    resources = rule_resources(benchmarks, metrics, ["vqa", "corpus"])
    assert resources["rule"].tolist() == [TOTAL] and resources.loc[0, "jobs"] == 0
    text = resources_html(resources, rules_without_records(benchmarks, metrics, ["vqa", "corpus"]))
    assert "No benchmark record or metrics file (not run): vqa, corpus." in text


def test_a_bad_benchmark_file_is_named(tmp_path):
    (tmp_path / "train_cam.tsv").write_text("seconds\tmemory\n1\t2\n")
    with pytest.raises(QaclimsError, match=r"train_cam\.tsv has no s, max_rss"):
        read_benchmarks(str(tmp_path))
    (tmp_path / "train_cam.tsv").write_text(benchmark_record("fast", 10))
    with pytest.raises(QaclimsError, match=r"train_cam\.tsv holds non-numbers"):
        read_benchmarks(str(tmp_path))


def test_durations_read_as_seconds_or_hours_minutes_seconds():
    assert [duration(value) for value in (0.04, 59.94, 61, 3725.4)] == ["0.0 s", "59.9 s", "0:01:01", "1:02:05"]


def test_bad_evaluation_files_are_named(tmp_path):
    summary = tmp_path / "cam.json"
    summary.write_text(json.dumps({"miou": 0.5}))
    with pytest.raises(QaclimsError, match=r"cam\.json has no best_miou, split"):
        read_summary(str(summary), ["miou", "best_miou", "split"])
    summary.write_text("{not json")
    with pytest.raises(QaclimsError, match=r"cam\.json cannot be read"):
        read_summary(str(summary), ["miou"])
    per_class = tmp_path / "per_class.csv"
    per_class.write_text("class,precision\nbackground,0.5\n")
    with pytest.raises(QaclimsError, match=r"per_class\.csv has no iou"):
        read_table(str(per_class), ["class", "iou"])


def answers_of(image_ids: list[str]) -> pd.DataFrame:
    rows = []
    for image_id in image_ids:
        for kind, count in (("bg", 2), ("fg", 3)):  # stored background first, as the merge sorts them
            rows += [(image_id, "cat", kind, index, f"{kind} question {index}?", f"{kind} answer {index}")
                     for index in range(count)]
    return pd.DataFrame(rows, columns=["image_id", "class", "kind", "template_index", "question", "answer"])


def test_vqa_samples_are_spread_over_the_answered_images():
    answers = answers_of([f"img_{number:02d}" for number in range(10)])
    assert pick_images(answers, 3) == ["img_00", "img_04", "img_09"]
    assert pick_images(answers, 1) == ["img_00"]
    assert pick_images(answers_of(["b", "a"]), 5) == ["a", "b"]


def test_a_pair_table_puts_foreground_first_each_answer_next_to_its_corpus_text():
    answers = answers_of(["img"])
    frame = pair_table(answers, ["fg text 0", "fg text 1", "fg text 2"])
    assert frame["kind"].tolist() == ["foreground"] * 3 + ["background"] * 2
    assert frame["answer"].tolist() == ["fg answer 0", "fg answer 1", "fg answer 2", "bg answer 0", "bg answer 1"]
    assert frame["corpus text"].tolist() == ["fg text 0", "fg text 1", "fg text 2", "", ""]
    with pytest.raises(ValueError, match="3 foreground answers but 2"):
        pair_table(answers, ["a", "b"])


def test_a_pair_table_shows_each_answerers_answer_to_the_same_question():
    answers = answers_of(["img", "other"])
    llava = answers_of(["other", "img"]).assign(answer=lambda frame: "llava " + frame["answer"])
    frame = pair_table(with_answerers(answers, {"llava": llava.iloc[::-1]})[lambda rows: rows["image_id"] == "img"],
                       ["fg text 0", "fg text 1", "fg text 2"])
    assert list(frame.columns) == ["kind", "question", "answer", "answer (llava)", "corpus text"]
    assert frame["answer (llava)"].tolist() == ["llava " + answer for answer in frame["answer"]]


def test_vqa_samples_html_shows_answers_corpus_texts_and_thumbnails():
    answers = answers_of(["img_a", "img_b"])
    corpus = pd.DataFrame({"image_id": ["img_a", "img_b"], "class": ["cat", "cat"],
                           "foreground_texts": [["x cat"] * 3, ["y cat"] * 3],
                           "background_texts": [np.array(["grass", "sky"]), np.array([], dtype=object)]})
    text = vqa_samples_html(answers, corpus, {"img_a": "data:image/jpeg;base64,AAAA"})
    assert text.count("<section>") == 1 and 'src="data:image/jpeg;base64,AAAA"' in text
    assert "<td>fg question 2?</td><td>fg answer 2</td><td>x cat</td>" in text
    assert "Background texts kept: grass; sky" in text and "img_b" not in text
    assert "none: training skips this pair" in vqa_samples_html(answers, corpus, {"img_b": "data:,"})
    with pytest.raises(ValueError, match="no row for image img_a, class cat"):
        vqa_samples_html(answers, corpus[corpus["image_id"] == "img_b"], {"img_a": "data:,"})


def test_stacked_rows_shrink_tall_pictures_and_keep_small_ones():
    tall = np.full((200, 100, 3), 255, dtype=np.uint8)
    small = np.zeros((50, 300, 3), dtype=np.uint8)
    sheet = stacked_rows([("tall", tall), ("small", small)], max_height=100)
    assert sheet.size == (300 + 2 * GAP, (CAPTION_HEIGHT + 100 + GAP) + (CAPTION_HEIGHT + 50 + GAP) + GAP)
    # The small picture is pasted at its own size, under its caption.
    top = GAP + CAPTION_HEIGHT + 100 + GAP + CAPTION_HEIGHT
    assert np.asarray(sheet)[top:top + 50, GAP:GAP + 300].max() == 0
    with pytest.raises(ValueError):
        stacked_rows([], max_height=100)


def test_overlay_montage_shows_images_drawn_in_every_folder_or_says_there_are_none(tmp_path):
    for network, ids in (("baseline", ["a", "b", "c"]), ("ritc", ["b", "c", "d"])):
        (tmp_path / network).mkdir()
        for image_id in ids:
            Image.new("RGB", (40, 20), "red").save(tmp_path / network / f"{image_id}.png")
    sources = {"baseline": str(tmp_path / "baseline"), "ritc": str(tmp_path / "ritc")}
    montage = overlay_montage(sources, 5, {"b": "cat"}, "nothing")
    assert montage.height == 4 * (CAPTION_HEIGHT + 20 + GAP) + GAP  # images b and c, a row per folder
    (tmp_path / "empty").mkdir()
    empty = overlay_montage({"pseudo": str(tmp_path / "empty")}, 5, {}, "no overlays")
    assert empty.height == CAPTION_HEIGHT + 2 * GAP and np.asarray(empty).min() < 128  # dark text on white
