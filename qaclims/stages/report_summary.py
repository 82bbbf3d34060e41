"""The run report's summary files: mIoU per stage, ablation table, per-class IoU, threshold sweep, overlays, VQA
samples, resources, training curves.

Each output is a single file (the report cannot hold folders), and every HTML page is
self-contained.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from qaclims.config import answerer_network, ritc_variants, vqa_answerers
from qaclims.data.images import load_rgb
from qaclims.data.index import read_index
from qaclims.errors import QaclimsError
from qaclims.report.ablation import ablation_html, ablation_table, ablation_text
from qaclims.report.charts import (
    message_figure,
    per_class_iou_figure,
    svg_text,
    threshold_sweep_figure,
    training_curves_figure,
)
from qaclims.report.html import note, page, table, thumbnail_uri
from qaclims.report.inputs import read_summary, read_table
from qaclims.report.overlays import overlay_montage
from qaclims.report.resources import (
    read_benchmarks,
    read_stage_metrics,
    resources_html,
    rule_resources,
    rules_without_records,
)
from qaclims.report.scores import (
    NO_SCORES,
    miou_html,
    miou_table,
    network_name,
    per_class_iou,
)
from qaclims.report.seed_ablation import seed_tables, seed_tables_html, seed_tables_text
from qaclims.report.training import labelled_paths, read_curves
from qaclims.report.vqa_samples import pick_images, vqa_samples_html, with_answerers
from qaclims.runtime.atomic import atomic_path, write_text
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = ("summarise a finished run for the report: mIoU table, charts, overlay montages, VQA samples, resources, "
               "training curves")
THUMBNAIL_SIZE = 128
CAM_SUMMARY_KEYS = ["miou", "threshold", "best_miou", "best_threshold", "split", "images",
                    "background_false_activation", "foreground_under_activation", "splits"]


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--index", required=True)
    parser.add_argument("--networks", nargs="+", required=True, help="CAM networks, in the order of the --cam-* lists")
    # The scores are absent where their split has no masks: then the overlays come from cam_overlays and
    # label_overlays instead of the evaluation stages.
    parser.add_argument("--cam-summaries", nargs="*", default=[], help="eval_cam json, one per network, if scored")
    parser.add_argument("--cam-per-class", nargs="*", default=[], help="eval_cam per-class csv, one per network")
    parser.add_argument("--cam-sweeps", nargs="*", default=[], help="eval_cam sweep csv, one per network")
    parser.add_argument("--cam-overlays", nargs="+", required=True, help="CAM overlay folders, one per network")
    parser.add_argument("--variants", nargs="*", default=[], help="the scored ablation variants of ritc.variants")
    parser.add_argument("--variant-summaries", nargs="*", default=[], help="eval_cam json, one per variant")
    parser.add_argument("--answerers", nargs="*", default=[], help="the answerers of vqa.answerers")
    parser.add_argument("--answerer-summaries", nargs="*", default=[],
                        help="eval_cam json of each answerer's network, where scored")
    parser.add_argument("--answerer-answers", nargs="*", default=[], help="merged answers parquet, one per answerer")
    parser.add_argument("--replicate-summaries", nargs="*", default=[],
                        help="eval_cam json of each further seed of replicates, seed by seed, one per network of "
                             "--networks, then --variants, then --answerers, if scored")
    parser.add_argument("--pseudo-summary", help="eval_pseudo json, if scored")
    parser.add_argument("--pseudo-per-class", help="eval_pseudo per-class csv, if scored")
    parser.add_argument("--pseudo-overlays", required=True, help="label overlay folder")
    parser.add_argument("--seg-summary", help="eval_seg json, if scored")
    parser.add_argument("--seg-per-class", help="eval_seg per-class csv, if scored")
    parser.add_argument("--answers", required=True, help="merged VQA answers parquet")
    parser.add_argument("--corpus", required=True, help="corpus parquet")
    parser.add_argument("--model-scores", nargs="*", default=[],
                        help="json lists of measures of what the models know (demo_knowledge's, demo_backbone's)")
    parser.add_argument("--benchmarks", required=True, help="folder of Snakemake benchmark files (may lack some)")
    parser.add_argument("--stage-metrics", required=True,
                        help="folder of the GPU jobs' *.metrics.json files (may lack some)")
    parser.add_argument("--rule-order", nargs="*", default=[],
                        help="rules with a benchmark or a metrics file, in workflow order")
    parser.add_argument("--miou", required=True, help="HTML to write")
    parser.add_argument("--ablation", required=True, help="HTML to write")
    parser.add_argument("--per-class-iou", required=True, help="SVG to write")
    parser.add_argument("--threshold-sweep", required=True, help="SVG to write")
    parser.add_argument("--cam-montage", required=True, help="PNG to write")
    parser.add_argument("--label-montage", required=True, help="PNG to write")
    parser.add_argument("--vqa-samples", required=True, help="HTML to write")
    parser.add_argument("--stage-resources", required=True, help="HTML to write")
    parser.add_argument("--training-chart", nargs="+", action="append", default=[], metavar="SVG LABEL=CSV",
                        help="a chart of training curves: the SVG to write, then the curve tables it draws, each with "
                             "the label of its lines; repeat for each chart")


def save_png(picture: Image.Image, path: str) -> None:
    with atomic_path(path) as partial:
        picture.save(partial, format="PNG")


def read_if_given(path: str | None, reader, keys: list[str]):
    return None if path is None else reader(path, keys)


def write_scores(args, cam_summaries: dict) -> None:
    """The mIoU table, the per-class bars and the threshold sweep, of what was scored."""
    pseudo = read_if_given(args.pseudo_summary, read_summary, ["miou", "split", "images"])
    segmentation = read_if_given(args.seg_summary, read_summary, ["miou", "split", "images"])
    write_text(args.miou, page("mIoU per stage", miou_html(miou_table(cam_summaries, pseudo, segmentation))))

    cam_per_class = {network: read_table(path, ["class", "iou"]) for network, path in zip(args.networks, args.cam_per_class)}
    iou = per_class_iou(cam_per_class, read_if_given(args.pseudo_per_class, read_table, ["class", "iou"]),
                        read_if_given(args.seg_per_class, read_table, ["class", "iou"]))
    write_text(args.per_class_iou, svg_text(per_class_iou_figure(iou) if not iou.empty else message_figure(NO_SCORES)))
    if not cam_summaries:
        write_text(args.threshold_sweep, svg_text(message_figure(NO_SCORES)))
        return
    sweeps = {network_name(network): read_table(path, ["threshold", "miou"])
              for network, path in zip(args.networks, args.cam_sweeps)}
    best = {network_name(network): summary["best_threshold"] for network, summary in cam_summaries.items()}
    fixed = next(iter(cam_summaries.values()))["threshold"]
    write_text(args.threshold_sweep, svg_text(threshold_sweep_figure(sweeps, best, fixed)))


def summaries_by_seed(args, first_seed: dict, seeds: list[int]) -> dict[str, dict[int, dict]]:
    """network -> seed -> eval_cam summary, from the first seed's summaries and --replicate-summaries."""
    networks = list(first_seed)
    further = iter(args.replicate_summaries)
    by_seed = {network: {seeds[0]: summary} for network, summary in first_seed.items()}
    for seed in seeds[1:]:
        for network in networks:
            by_seed[network][seed] = read_summary(next(further), CAM_SUMMARY_KEYS)
    return by_seed


def write_ablation(args, cam_summaries: dict, variants, answerers, seeds: list[int]) -> None:
    """The ablation table of the first seed: the networks of make_cam.networks, every variant with its overrides,
    then QA-CLIMS on each answerer's corpus with that answerer's vqa overrides; then the tables over all seeds."""
    networks = [*args.variants, *map(answerer_network, args.answerers)]
    summaries = {**cam_summaries, **{network: read_summary(path, CAM_SUMMARY_KEYS)
                                     for network, path in zip(networks, args.variant_summaries + args.answerer_summaries)}}
    if not summaries:
        write_text(args.ablation, page("Ablation: what each component adds to the CAMs", note(NO_SCORES)))
        return
    overrides = {**{variant: variants[variant] for variant in args.variants},
                 **{answerer_network(name): {"vqa": answerers[name]} for name in args.answerers}}
    frame = ablation_table(summaries, overrides)
    over_seeds = seed_tables(summaries_by_seed(args, summaries, seeds))
    write_text(args.ablation, page("Ablation: what each component adds to the CAMs",
                                   f"<h2>Seed {seeds[0]}</h2>{ablation_html(frame)}{seed_tables_html(over_seeds)}"))
    print(f"seed {seeds[0]}:\n{ablation_text(frame)}\n\n{seed_tables_text(over_seeds)}")


def write_overlays(args, index, count: int) -> None:
    """Montages of the CAM overlays (a row per network) and of the label overlays, captioned with each image's classes."""
    class_names = {image_id: ", ".join(np.asarray(index.classes)[row.astype(bool)])
                   for image_id, row in zip(index.frame["image_id"], index.labels())}
    ground_truth = ", ground truth" if args.cam_summaries else " (no ground truth)"
    cam_sources = {f"{network_name(network)}: image, CAM per labelled class, prediction{ground_truth}": folder
                   for network, folder in zip(args.networks, args.cam_overlays)}
    save_png(overlay_montage(cam_sources, count, class_names, "no CAM overlays: eval_cam.overlays is 0"),
             args.cam_montage)
    label_sources = {f"image, seed label (IRNet's CRF), pseudo label (random walk){ground_truth}": args.pseudo_overlays}
    save_png(overlay_montage(label_sources, count, class_names, "no label overlays: eval_cam.overlays is 0"),
             args.label_montage)


def write_vqa_samples(args, index, count: int) -> None:
    answer_columns = ["image_id", "class", "kind", "template_index", "question", "answer"]
    answers = with_answerers(read_table(args.answers, answer_columns),
                             {name: read_table(path, answer_columns)
                              for name, path in zip(args.answerers, args.answerer_answers)})
    corpus = read_table(args.corpus, ["image_id", "class", "foreground_texts", "background_texts"])
    image_paths = index.frame.set_index("image_id")["image_path"]
    thumbnails = {image_id: thumbnail_uri(load_rgb(image_paths[image_id]), THUMBNAIL_SIZE)
                  for image_id in pick_images(answers, count)}
    scores = [row for path in args.model_scores for row in json.loads(Path(path).read_text())]
    known = (f"<h2>What the models know</h2>{table(pd.DataFrame(scores), {'accuracy': '{:.3f}'})}" if scores else "")
    write_text(args.vqa_samples, page("VQA answers and the cleaned corpus",
                                      known + vqa_samples_html(answers, corpus, thumbnails)))


def write_resources(args) -> None:
    benchmarks, metrics = read_benchmarks(args.benchmarks), read_stage_metrics(args.stage_metrics)
    missing = rules_without_records(benchmarks, metrics, args.rule_order)
    resources = rule_resources(benchmarks, metrics, args.rule_order)
    write_text(args.stage_resources, page("Time and memory per rule", resources_html(resources, missing)))
    print(f"{len(benchmarks)} benchmark records, {len(metrics)} metrics files; no record of: "
          f"{', '.join(missing) or 'none'}")


def write_training_charts(args) -> None:
    """A chart per --training-chart, of the curves whose tables exist."""
    for svg, *pairs in args.training_chart:
        curves, missing = read_curves(labelled_paths(pairs))
        absent = f"no curve table of {', '.join(missing)}: trained by a version that wrote none, or its log was removed"
        if missing:
            print(f"{svg}: {absent}")
        write_text(svg, svg_text(training_curves_figure(curves) if curves else message_figure(absent)))


def run(args) -> None:
    settings = args.config["report"]
    scored = bool(args.cam_summaries)
    if len(args.networks) != len(args.cam_overlays) or any(
            len(given) != len(args.networks) * scored for given in (args.cam_summaries, args.cam_per_class, args.cam_sweeps)):
        raise QaclimsError("--networks and --cam-overlays need one entry per network, and so do the other --cam-* "
                           "options where the CAMs are scored")
    variants = ritc_variants(args.config)
    if len(args.variants) != len(args.variant_summaries) or set(args.variants) != (set(variants) if scored else set()):
        raise QaclimsError(f"--variants must name each of ritc.variants {list(variants)} once where the CAMs are "
                           "scored, and --variant-summaries give one summary per variant")
    answerers = vqa_answerers(args.config)
    if (set(args.answerers) != set(answerers) or len(args.answerer_answers) != len(args.answerers)
            or len(args.answerer_summaries) != len(args.answerers) * scored):
        raise QaclimsError(f"--answerers must name each of vqa.answerers {list(answerers)} once, --answerer-answers "
                           "give one answers file per answerer and --answerer-summaries one summary per answerer "
                           "where the CAMs are scored")
    seeds = list(args.config["replicates"])
    scored_networks = len(args.networks) + len(args.variants) + len(args.answerers)
    if len(args.replicate_summaries) != (len(seeds) - 1) * scored_networks * scored:
        raise QaclimsError(f"--replicate-summaries must give, where the CAMs are scored, one summary per network, "
                           f"variant and answerer for each seed of replicates {seeds} but the first")
    index = read_index(args.index)
    cam_summaries = {network: read_summary(path, CAM_SUMMARY_KEYS)
                     for network, path in zip(args.networks, args.cam_summaries)}
    write_scores(args, cam_summaries)
    write_ablation(args, cam_summaries, variants, answerers, seeds)
    write_overlays(args, index, settings["overlay_images"])
    write_vqa_samples(args, index, settings["vqa_images"])
    write_resources(args)
    write_training_charts(args)
    if scored:
        print(f"wrote the report summary of {', '.join([*args.networks, *args.variants, *map(answerer_network, args.answerers)])} CAMs, pseudo labels and "
              "segmentation")
    else:
        print(NO_SCORES)
        print("wrote the report summary of the overlays, VQA samples and resources")
