"""The workflow through the snakemake command line, on a tiny demo in a temporary folder.

The repository is copied so that a test can edit package code and see what reruns.
"""

import base64
import json
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image
from system_packages import debian_executable
from tensorboard.backend.event_processing import event_accumulator
from workflow_runs import (
    REPO,
    TINY,
    dry_run_plan,
    finished_demo,
    snakemake,
    write_config,
)

from qaclims.data.classes import voc_xml_name
from qaclims.data.labels import read_label_png
from qaclims.models.tiny_answerers import write_tiny_answerer
from qaclims.report.ablation import overrides_in_words
from qaclims.vqa.prompts import short_answer

pytestmark = pytest.mark.workflow

# The ablation variants of config.yaml, which the tiny demo keeps: each one trains and evaluates a network of its own.
VARIANTS = list(yaml.safe_load((REPO / "config.yaml").read_text())["ritc"]["variants"])
NETWORKS = ["baseline", "ritc", *VARIANTS]


def planned_rules(result: subprocess.CompletedProcess) -> set[str]:
    return set(dry_run_plan(result))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A copy of the repository and a workdir in which the tiny demo has run to the end."""
    root = tmp_path_factory.mktemp("workflow")
    workdir, tiny = finished_demo(root, TINY)
    return root / "checkout", workdir, tiny


def test_outputs_exist_and_match_the_dataset(finished_run):
    _, workdir, _ = finished_run
    results = workdir / "results"
    index = pd.read_parquet(results / "data" / "index.parquet")
    assert len(index) == 6 + 4 + 4
    assert index["split_train"].sum() == 6 and index["split_train_aug"].sum() == 10 and index["split_val"].sum() == 4

    # Count images per class from the XML files, independently of the package's reader.
    classes = yaml.safe_load((REPO / "config.yaml").read_text())["dataset"]["classes"]
    listed = (results / "demo/VOC2012/ImageSets/Segmentation/train.txt").read_text().split()
    expected = {name: 0 for name in classes}
    for image_id in listed:
        tree = ElementTree.parse(results / f"demo/VOC2012/Annotations/{image_id}.xml")
        present = {obj.findtext("name") for obj in tree.getroot().findall("object")}
        for name in classes:
            expected[name] += voc_xml_name(name) in present
    counts = pd.read_csv(results / "data/report/class_counts.csv")
    train_counts = dict(counts[counts["split"] == "train"][["class", "images"]].itertuples(index=False))
    assert train_counts == expected

    with Image.open(results / "data/report/montage.png") as montage:
        assert montage.mode == "RGB" and montage.width > 300 and montage.height > 150
    for rule in ("demo_data", "index", "dataset_report"):
        assert (results / "logs" / f"{rule}.log").is_file()
        assert (results / "benchmarks" / f"{rule}.tsv").read_text().startswith("s\t")


def test_index_rows_agree_with_the_files(finished_run):
    _, workdir, _ = finished_run
    index = pd.read_parquet(workdir / "results/data/index.parquet")
    for row in index.itertuples():
        with Image.open(workdir / row.image_path) as image:
            assert image.size == (row.width, row.height)
        mask = read_label_png(workdir / row.mask_path)
        assert mask.shape == (row.height, row.width)


def test_second_run_has_nothing_to_do(finished_run):
    checkout, workdir, tiny = finished_run
    result = snakemake(checkout, workdir, "--configfile", tiny, "--dry-run")
    assert "Nothing to be done" in result.stdout + result.stderr
    assert planned_rules(result) == set()


# Every change reruns the report summary, which reads every result, and `all`.
LAST = {"report_summary", "all"}
SEG = {"train_seg", "infer_seg", "eval_seg"}
# export copies out the pseudo labels, so whatever remakes them remakes it.
PSEUDO = {"pseudo_label", "eval_pseudo", "export"} | SEG
REFINE = {"ir_label", "train_irn"} | PSEUDO
CAMS = {"make_cam", "eval_cam"} | REFINE
AFTER_VQA = {"vqa_merge", "demo_knowledge", "corpus", "train_ritc"} | CAMS | LAST
DATASET_AND_AFTER = {"index", "dataset_report", "vqa", "train_cam"} | AFTER_VQA


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"report": {"montage_images": 2}}, {"dataset_report"} | LAST),
        ({"report": {"vqa_images": 1}}, LAST),
        ({"demo": {"seed": 7}}, {"demo_data"} | DATASET_AND_AFTER),
        ({"dataset": {"decode_images": False}}, DATASET_AND_AFTER),
        ({"vqa": {"num_beams": 2}}, {"vqa"} | AFTER_VQA),
        ({"corpus": {"label_weight": 0.3}}, {"corpus", "train_ritc"} | CAMS | LAST),
        ({"demo_models": {"clip_image_size": 48}}, {"demo_clip", "demo_knowledge", "corpus", "train_ritc"} | CAMS | LAST),
        ({"demo_models": {"backbone": {"steps": 3}}}, {"demo_backbone", "train_cam", "train_ritc"} | CAMS | LAST),
        ({"ritc": {"temperature": 0.5}}, {"train_ritc"} | CAMS | LAST),
        ({"eval_cam": {"threshold": 0.2}}, {"eval_cam"} | LAST),
        ({"cam": {"baseline": {"lr": 0.05}}}, {"train_cam", "train_ritc"} | CAMS | LAST),
        ({"ir_label": {"gt_prob": 0.6}}, REFINE | LAST),
        ({"irn": {"lr": 0.05}}, {"train_irn"} | PSEUDO | LAST),
        ({"pseudo_label": {"beta": 8}}, PSEUDO | LAST),
        ({"infer_seg": {"fusion": "mean"}}, {"infer_seg", "eval_seg"} | LAST),
    ],
)
def test_changing_a_param_reruns_that_rule_and_its_dependents(finished_run, tmp_path, override, expected):
    checkout, workdir, tiny = finished_run
    changed = write_config(tmp_path / "override.yaml", override)
    result = snakemake(checkout, workdir, "--configfile", tiny, changed, "--dry-run")
    assert planned_rules(result) == expected


def planned_outputs(result: subprocess.CompletedProcess, rule: str) -> list[str]:
    """The outputs of each job of ``rule`` that a dry run plans, one string per job."""
    jobs = re.split(r"^(?:local)?rule ", result.stdout, flags=re.MULTILINE)
    return sorted(re.search(r"^\s*output: (.+)$", job, flags=re.MULTILINE).group(1)
                  for job in jobs if job.startswith(f"{rule}:"))


# A variant's jobs: its network's training, CAM shards (two in the demo) and evaluation, then the report.
VARIANT_JOBS = Counter({"train_ritc": 1, "make_cam": 2, "eval_cam": 1, "report_summary": 1, "all": 1})


def test_adding_a_variant_plans_exactly_its_jobs(finished_run, tmp_path):
    checkout, workdir, tiny = finished_run
    added = write_config(tmp_path / "added.yaml", {"ritc": {"variants": {"no_area": {"loss_weights": {"area": 0}}}}})
    result = snakemake(checkout, workdir, "--configfile", tiny, added, "--dry-run")
    assert dry_run_plan(result) == VARIANT_JOBS
    assert planned_outputs(result, "train_ritc") == ["results/cam/no_area.pt"]
    assert planned_outputs(result, "make_cam") == [f"results/cam/no_area/maps/shard-{k}" for k in (0, 1)]
    assert planned_outputs(result, "eval_cam")[0].startswith("results/eval/no_area/cam.json")


def test_changing_a_variant_reruns_only_its_jobs(finished_run, tmp_path):
    checkout, workdir, tiny = finished_run
    changed = write_config(tmp_path / "changed.yaml", {"ritc": {"variants": {VARIANTS[0]: {"alpha": 0.2}}}})
    result = snakemake(checkout, workdir, "--configfile", tiny, changed, "--dry-run")
    assert dry_run_plan(result) == VARIANT_JOBS
    assert planned_outputs(result, "train_ritc") == [f"results/cam/{VARIANTS[0]}.pt"]


def test_removing_the_variants_reruns_no_network_only_the_report(finished_run, tmp_path):
    checkout, workdir, tiny = finished_run
    # null: a config file cannot remove keys from a mapping, only replace it.
    removed = write_config(tmp_path / "removed.yaml", {"ritc": {"variants": None}})
    result = snakemake(checkout, workdir, "--configfile", tiny, removed, "--dry-run")
    # The report drops their rows; nothing else runs.
    assert dry_run_plan(result) == Counter({"report_summary": 1, "all": 1})


# An answerer's jobs: its VQA shard (it sets one, where the demo's main answerer has two), their merge and its corpus,
# then its network's, as a variant's.
ANSWERER_JOBS = Counter({"answerer_vqa": 1, "answerer_vqa_merge": 1, "answerer_corpus": 1}) + VARIANT_JOBS


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    """The second answerer of a comparison: a tiny random LLaVA saved as the hub saves the real one."""
    return write_tiny_answerer("llava", str(tmp_path_factory.mktemp("answerers") / "llava"))


def answerer_config_file(folder: Path, model: str) -> str:
    return write_config(folder / "answerers.yaml", {"vqa": {"answerers": {"llava": {"model": model, "shards": 1}}}})


def test_adding_an_answerer_plans_exactly_its_jobs(finished_run, tiny_llava, tmp_path):
    checkout, workdir, tiny = finished_run
    result = snakemake(checkout, workdir, "--configfile", tiny, answerer_config_file(tmp_path, tiny_llava), "--dry-run")
    assert dry_run_plan(result) == ANSWERER_JOBS
    assert planned_outputs(result, "answerer_vqa") == ["results/answerers/llava/vqa/shard-0.parquet"]
    assert planned_outputs(result, "answerer_corpus")[0].startswith("results/answerers/llava/corpus/corpus.parquet")
    assert planned_outputs(result, "train_ritc") == ["results/cam/answerer_llava.pt"]
    assert planned_outputs(result, "make_cam") == [f"results/cam/answerer_llava/maps/shard-{k}" for k in (0, 1)]


@pytest.fixture(scope="module")
def comparison_run(finished_run, tiny_llava, tmp_path_factory):
    """A copy of the finished demo's workdir, where a comparison of the demo BLIP and a tiny LLaVA has run: only the
    LLaVA's jobs ran (test_adding_an_answerer_plans_exactly_its_jobs)."""
    checkout, workdir, tiny = finished_run
    copy = tmp_path_factory.mktemp("comparison") / "work"
    shutil.copytree(workdir, copy, symlinks=True)
    result = snakemake(checkout, copy, "--configfile", tiny, answerer_config_file(copy.parent, tiny_llava))
    assert result.returncode == 0, result.stdout + result.stderr
    return copy / "results"


def test_an_answerer_comparison_trains_and_scores_a_network_on_each_corpus(comparison_run, tiny_llava):
    for folder in (comparison_run, comparison_run / "answerers/llava"):
        assert (folder / "corpus/corpus.parquet").is_file() and (folder / "corpus/text_features.safetensors").is_file()
    assert (comparison_run / "cam/ritc.pt").is_file() and (comparison_run / "cam/answerer_llava.pt").is_file()
    answers = pd.read_parquet(comparison_run / "answerers/llava/vqa/answers.parquet")
    main_answers = pd.read_parquet(comparison_run / "vqa/answers.parquet")
    key = ["image_id", "class", "kind", "template_index"]
    assert answers[key].equals(main_answers[key])  # the same questions about the same images
    assert answers["answer"].tolist() == [short_answer(reply) for reply in answers["raw_answer"]]
    ablation = (comparison_run / "report/ablation.html").read_text()
    rows = re.findall(r'<tr><td>([^<]+)</td><td>([^<]+)</td><td class="number">(\d+\.\d)</td>', ablation)
    llava_miou = json.loads((comparison_run / "eval/answerer_llava/cam.json").read_text())["miou"]
    assert [name for name, _, _ in rows] == ["Baseline", "QA-CLIMS", *VARIANTS, "answerer_llava"]
    assert rows[-1][1:] == (overrides_in_words({"vqa": {"model": tiny_llava, "shards": 1}}), f"{100 * llava_miou:.1f}")
    samples = (comparison_run / "report/vqa_samples.html").read_text()
    assert samples.count("<th>answer (llava)</th>") == samples.count("<th>answer</th>") > 0


# A further seed's jobs: every network's training (the baseline's, QA-CLIMS's and each variant's), CAM shards (two)
# and evaluation, then the report; the shared stages and the refinement of the first seed's QA-CLIMS are not redone.
SEED_JOBS = Counter({"train_cam": 1, "train_ritc": 1 + len(VARIANTS), "make_cam": 2 * len(NETWORKS),
                     "eval_cam": len(NETWORKS), "report_summary": 1, "all": 1})


def test_adding_a_seed_plans_exactly_every_networks_jobs_of_that_seed(finished_run, tmp_path):
    checkout, workdir, tiny = finished_run
    added = write_config(tmp_path / "seeds.yaml", {"replicates": [0, 1]})
    result = snakemake(checkout, workdir, "--configfile", tiny, added, "--dry-run")
    assert dry_run_plan(result) == SEED_JOBS
    assert planned_outputs(result, "train_cam") == ["results/cam/seed-1/baseline.pt"]
    assert planned_outputs(result, "train_ritc") == sorted(f"results/cam/seed-1/{name}.pt" for name in ["ritc", *VARIANTS])


def shell_commands(result: subprocess.CompletedProcess) -> dict[str, str]:
    """The shell command of each job that a dry run with --printshellcmds plans, by the job's first output."""
    jobs = re.split(r"^(?:local)?rule ", result.stdout, flags=re.MULTILINE)[1:]
    return {re.search(r"^\s*output: ([^,\s]+)", job, flags=re.MULTILINE).group(1):
            re.search(r"^Shell command: (.+)$", job, flags=re.MULTILINE).group(1)
            for job in jobs if "    output: " in job}  # `all` has no output and no command


def job_config(command: str) -> dict:
    return json.loads(re.search(r"--config '([^']+)'", command).group(1))


def test_each_seed_trains_every_network_from_its_own_baseline_and_no_seeds_jobs_depend_on_another_seed(tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    commands = {}
    for seeds in ([0, 2], [0, 1, 2]):
        config = write_config(tmp_path / f"seeds-{len(seeds)}.yaml", {"replicates": seeds})
        result = snakemake(REPO, workdir, "--configfile", config, "--dry-run", "--printshellcmds")
        assert result.returncode == 0, result.stdout + result.stderr
        commands[len(seeds)] = shell_commands(result)
    two, three = commands[2], commands[3]
    # Seed 1's QA-CLIMS and variants start from seed 1's baseline, and train with cam.seed 1.
    for name in ["baseline", "ritc", *VARIANTS]:
        command = three[f"results/cam/seed-1/{name}.pt"]
        assert job_config(command)["cam"]["seed"] == 1, name
        assert name == "baseline" or "--baseline results/cam/seed-1/baseline.pt " in command, name
        assert f"results/eval/seed-1/{name}/cam.json" in three
    assert job_config(three["results/cam/ritc.pt"])["cam"]["seed"] == 0
    # The pseudo labels refine the first seed's QA-CLIMS CAMs alone.
    assert re.findall(r"results/cam/\S+/maps/shard-\d", three["results/ir_label/shard-0"]) == [
        "results/cam/ritc/maps/shard-0", "results/cam/ritc/maps/shard-1"]
    # Removing seed 1 leaves every other job as it was, the same files with the same command: only the report,
    # which reads every seed's scores, changes.
    assert set(two) < set(three) and all(output.startswith("results/") for output in set(three) - set(two))
    assert {output.split("/")[2] for output in set(three) - set(two)} == {"seed-1"}
    assert [output for output in two if two[output] != three[output]] == ["results/report/miou.html"]


def test_a_bad_variant_fails_before_any_job_naming_the_variant_and_the_key(tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    bad = write_config(tmp_path / "bad.yaml", {"ritc": {"variants": {"no_frc": {"loss_weights": {"foregrund": 0}}}}})
    result = snakemake(REPO, workdir, "--configfile", bad)
    assert result.returncode != 0
    assert "ritc.variants.no_frc.loss_weights.foregrund" in result.stdout + result.stderr
    assert not (workdir / "results").exists()


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("qaclims/evaluation/pictures.py", {"dataset_report", "eval_cam", "eval_pseudo"} | LAST),
        ("qaclims/demo/dataset.py", {"demo_data"} | DATASET_AND_AFTER),
        ("qaclims/data/voc.py", DATASET_AND_AFTER),
        ("qaclims/text/cleanup.py", {"corpus", "train_ritc"} | CAMS | LAST),
        ("qaclims/vqa/answering.py", {"demo_blip", "vqa"} | AFTER_VQA),
        ("qaclims/cam/ritc_losses.py", {"train_ritc"} | CAMS | LAST),
        ("qaclims/cam/inference.py", CAMS | LAST),
        ("qaclims/models/cam.py", {"train_cam", "train_ritc"} | CAMS | LAST),
        ("qaclims/refine/crf.py", REFINE | LAST),
        ("qaclims/refine/affinity.py", {"train_irn"} | PSEUDO | LAST),
        ("qaclims/refine/random_walk.py", PSEUDO | LAST),
        ("qaclims/seg/objective.py", SEG | LAST),
        ("qaclims/seg/inference.py", {"infer_seg", "eval_seg"} | LAST),
        ("qaclims/report/charts.py", LAST),
    ],
)
def test_editing_package_code_reruns_the_rules_that_run_it(finished_run, module, expected):
    checkout, workdir, tiny = finished_run
    source = checkout / module
    original = source.read_text()
    try:
        source.write_text(original + "\n# an edit\n")
        result = snakemake(checkout, workdir, "--configfile", tiny, "--dry-run")
    finally:
        source.write_text(original)
    assert planned_rules(result) == expected


def test_vqa_and_corpus_outputs_cover_every_labelled_pair(finished_run):
    _, workdir, _ = finished_run
    results = workdir / "results"
    index = pd.read_parquet(results / "data/index.parquet")
    train_aug = index[index["split_train_aug"]]
    pairs = int(train_aug[[c for c in index.columns if c.startswith("label:")]].to_numpy().sum())
    answers = pd.read_parquet(results / "vqa/answers.parquet")
    assert len(answers) == pairs * 16
    assert sorted(answers["kind"].value_counts().items()) == [("bg", pairs * 10), ("fg", pairs * 6)]
    shards = [pd.read_parquet(results / f"vqa/shard-{k}.parquet") for k in (0, 1)]
    assert set(shards[0]["image_id"]).isdisjoint(shards[1]["image_id"])
    corpus = pd.read_parquet(results / "corpus/corpus.parquet")
    assert len(corpus) == pairs
    assert (results / "corpus/text_features.safetensors").stat().st_size > 0


def test_cam_training_writes_weights_and_a_loss_curve(finished_run):
    _, workdir, _ = finished_run
    results = workdir / "results"
    for name in ("baseline", "ritc"):
        weights = torch.load(results / f"cam/{name}.pt", weights_only=True)
        assert weights["classes"] == yaml.safe_load((REPO / "config.yaml").read_text())["dataset"]["classes"]
        assert weights["state_dict"]["classifier.weight"].shape[:2] == (5, 512)
    for variant in VARIANTS:
        assert torch.load(results / f"cam/{variant}.pt", weights_only=True)["classes"] == weights["classes"]
    log = (results / "logs/train_ritc/ritc.log").read_text()
    curve = re.findall(r"step (\d+)/(\d+) foreground=\S+ background=\S+ area=\S+ total=(\S+) .* s/step", log)
    assert len(curve) == int(curve[-1][1]) >= 2  # one line per step with log_every 1
    assert not list((results / "checkpoints").rglob("last.pt"))


# Each training's curve: its job (its log's name) and its TensorBoard folder.
TRAINING_JOBS = {"train_cam/baseline": "train_cam/baseline", **{f"train_ritc/{network}": f"train_ritc/{network}"
                                                       for network in NETWORKS[1:]},
                 "train_irn": "train_irn/irn", "train_seg": "train_seg/deeplab"}
TRAINING_CHARTS = ["train_cam.svg", "train_ritc.svg", "train_irn.svg", "train_seg.svg"]


def test_every_training_writes_its_curve_as_its_log_prints_it_and_as_tensorboard_events(finished_run):
    _, workdir, _ = finished_run
    results = workdir / "results"
    for job, folder in TRAINING_JOBS.items():
        curve = pd.read_csv(results / f"logs/{job}.curve.csv")
        logged = re.findall(r"step (\d+)/\d+ .*total=(\S+) lr=(\S+) ", (results / f"logs/{job}.log").read_text())
        first_group = next(column for column in curve.columns if column.startswith("lr/"))
        assert [(str(step), f"{total:.4f}", f"{lr:.3g}")
                for step, total, lr in zip(curve["step"], curve["loss/total"], curve[first_group])] == logged, job
        events = event_accumulator.EventAccumulator(str(results / "tensorboard" / folder))
        events.Reload()
        assert set(events.Tags()["scalars"]) == set(curve.columns) - {"step"}, job
        assert [event.step for event in events.Scalars("loss/total")] == curve["step"].tolist(), job
    report_log = (results / "logs/report_summary.log").read_text()
    assert all((results / "report/training" / chart).stat().st_size > 0 for chart in TRAINING_CHARTS)
    assert "no curve table" not in report_log


# The demo's shards: two of ir_label and of pseudo_label.
REFINE_JOBS = {"ir_label": 2, "train_irn": 1, "pseudo_label": 2, "eval_pseudo": 1, "export": 1, "train_seg": 1,
               "infer_seg": 2, "eval_seg": 1}


def test_a_missing_vqa_shard_is_planned_alone_with_what_follows_it(finished_run):
    # As a run killed during shard 1 leaves it: shard 0, and nothing of shard 1 or of what follows it. Nothing is
    # killed here; tests/test_resume.py kills a run.
    checkout, workdir, tiny = finished_run
    results = workdir / "results"
    lost = [results / "vqa/shard-1.parquet", results / "vqa/answers.parquet", *sorted((results / "corpus").iterdir())]
    kept = [path.read_bytes() for path in lost]
    for path in lost:
        path.unlink()
    try:
        result = snakemake(checkout, workdir, "--configfile", tiny, "--dry-run")
    finally:
        for path, content in zip(lost, kept):
            path.write_bytes(content)
    trained = 1 + len(VARIANTS)  # QA-CLIMS and each variant train on the corpus
    assert dry_run_plan(result) == Counter({"vqa": 1, "vqa_merge": 1, "demo_knowledge": 1, "corpus": 1,
                                            "train_ritc": trained, "make_cam": 2 * trained, "eval_cam": trained,
                                            "report_summary": 1, "all": 1, **REFINE_JOBS})
    assert "shard-1.parquet" in result.stdout and "shard-0.parquet" not in result.stdout.split("rule vqa_merge")[0]


def test_cam_evaluation_of_every_network(finished_run):
    _, workdir, _ = finished_run
    results = workdir / "results"
    index = pd.read_parquet(results / "data/index.parquet")
    for network in NETWORKS:
        summary = json.loads((results / f"eval/{network}/cam.json").read_text())
        assert 0 <= summary["background_false_activation"] <= 1 and 0 <= summary["foreground_under_activation"] <= 1
        assert summary["images"] == int(index["split_train"].sum()) and summary["split"] == "train"
        sweep = pd.read_csv(results / f"eval/{network}/cam_sweep.csv")
        assert sweep["threshold"].iloc[0] == pytest.approx(0.05) and sweep["threshold"].iloc[-1] == pytest.approx(0.60)
        assert summary["best_miou"] == pytest.approx(sweep["miou"].max())
        assert summary["miou"] == pytest.approx(sweep.loc[np.isclose(sweep["threshold"], 0.15), "miou"].item())
        per_class = pd.read_csv(results / f"eval/{network}/cam_per_class.csv")
        assert per_class["class"].tolist()[0] == "background" and len(per_class) == 6
        assert per_class["background_false_activation"].sum() == pytest.approx(summary["background_false_activation"])
        assert per_class.loc[0, ["background_false_activation", "foreground_under_activation"]].isna().all()
        assert len(list((results / f"eval/{network}/cam_overlays").glob("*.png"))) == 4
        maps = sorted((results / f"cam/{network}/maps").glob("shard-*/*.npz"))
        assert len(maps) == int(index["split_train_aug"].sum())


def test_refinement_writes_seed_and_pseudo_labels_and_their_evaluation(finished_run):
    _, workdir, _ = finished_run
    results = workdir / "results"
    index = pd.read_parquet(results / "data/index.parquet")
    train_aug = set(index.loc[index["split_train_aug"], "image_id"])
    for stage in ("ir_label", "pseudo_label"):
        labels = {path.stem: read_label_png(path) for path in (results / stage).glob("shard-*/*.png")}
        assert set(labels) == train_aug
        for row in index[index["split_train_aug"]].itertuples():
            assert labels[row.image_id].shape == (row.height, row.width)
    assert torch.load(results / "irn/irn.pt", weights_only=True)["state_dict"]["boundary.head.weight"].shape == (1, 160, 1, 1)
    summary = json.loads((results / "eval/pseudo.json").read_text())
    assert summary["images"] == int(index["split_train"].sum()) and 0 <= summary["miou"] <= 1
    assert len(pd.read_csv(results / "eval/pseudo_per_class.csv")) == 6
    assert len(list((results / "eval/pseudo_overlays").glob("*.png"))) == 4


def test_segmentation_is_evaluated_with_and_without_crf(finished_run):
    _, workdir, _ = finished_run
    results = workdir / "results"
    index = pd.read_parquet(results / "data/index.parquet")
    summary = json.loads((results / "eval/seg.json").read_text())
    assert summary["images"] == int(index["split_val"].sum()) and summary["split"] == "val"
    assert 0 <= summary["miou"] <= 1 and 0 <= summary["miou_crf"] <= 1
    assert list(pd.read_csv(results / "eval/seg_per_class.csv").columns) == [
        "class", "iou", "precision", "recall", "iou_crf", "precision_crf", "recall_crf"]
    for variant in ("raw", "crf"):
        assert len(list((results / "seg/val").glob(f"{variant}/shard-*/*.png"))) == int(index["split_val"].sum())


def test_a_missing_cam_shard_is_planned_alone_with_what_follows_it(finished_run):
    # Shard 1 and the evaluation are taken away, as a run killed during shard 1 leaves them; nothing is killed here.
    checkout, workdir, tiny = finished_run
    results = workdir / "results"
    shard = results / "cam/ritc/maps/shard-1"
    moved = results / "moved-shard"
    evaluation = [results / "eval/ritc/cam.json", results / "eval/ritc/cam_per_class.csv", results / "eval/ritc/cam_sweep.csv"]
    kept = [path.read_bytes() for path in evaluation]
    shard.rename(moved)
    for path in evaluation:
        path.unlink()
    try:
        result = snakemake(checkout, workdir, "--configfile", tiny, "--dry-run")
    finally:
        moved.rename(shard)
        for path, content in zip(evaluation, kept):
            path.write_bytes(content)
    assert dry_run_plan(result) == Counter({"make_cam": 1, "eval_cam": 1, "report_summary": 1, "all": 1, **REFINE_JOBS})
    remade = re.findall(r"^\s*output: (\S+)$", result.stdout.split("rule make_cam:")[1], flags=re.MULTILINE)[0]
    assert remade == "results/cam/ritc/maps/shard-1"


def test_the_report_summary_covers_every_stage_and_every_job(finished_run):
    _, workdir, _ = finished_run
    report = workdir / "results/report"
    miou = (report / "miou.html").read_text()
    summaries = [json.loads((workdir / f"results/eval/{name}").read_text())
                 for name in ("baseline/cam.json", "ritc/cam.json", "pseudo.json", "seg.json")]
    figures = [summaries[0]["miou"], summaries[0]["best_miou"], summaries[1]["miou"], summaries[1]["best_miou"],
               summaries[2]["miou"], summaries[3]["miou"], summaries[3]["miou_crf"]]
    assert re.findall(r'<td class="number">(\d+\.\d)</td></tr>', miou) == [f"{100 * value:.1f}" for value in figures]
    # The ablation table: a row per network, QA-CLIMS's variants with their overrides, each with its own scores.
    ablation = (report / "ablation.html").read_text()
    rows = re.findall(r'<tr><td>([^<]+)</td><td>([^<]+)</td><td class="number">(\d+\.\d)</td>', ablation)
    assert [name for name, _, _ in rows] == ["Baseline", "QA-CLIMS", *VARIANTS]
    variants = yaml.safe_load((REPO / "config.yaml").read_text())["ritc"]["variants"]
    assert [changes for _, changes, _ in rows[2:]] == [overrides_in_words(variants[name]) for name in VARIANTS]
    assert [miou for _, _, miou in rows] == [
        f"{100 * json.loads((workdir / f'results/eval/{network}/cam.json').read_text())['miou']:.1f}"
        for network in NETWORKS]
    resources = (report / "stage_resources.html").read_text()
    # One job per shard (and per network for make_cam); every rule that ran has a record.
    for rule, jobs in {"vqa_merge": 1, "train_ritc": 1 + len(VARIANTS), "make_cam": 2 * len(NETWORKS), "ir_label": 2,
                       "pseudo_label": 2, "infer_seg": 2, "train_seg": 1}.items():
        assert f'<td>{rule}</td><td class="number">{jobs}</td>' in resources
    # The GPU rules and corpus give their throughput, and no GPU memory on a CPU run. The cacheable vqa and corpus have
    # no benchmark, but their metrics files give them a row with their loop time.
    for rule in ("vqa", "corpus", "train_cam", "train_ritc", "make_cam", "train_irn", "pseudo_label", "train_seg",
                 "infer_seg"):
        assert re.search(rf'<tr><td>{rule}</td>(<td[^>]*>[^<]*</td>)*?<td class="number">–</td><td>[\d,.]+ (img|q|text)/s</td></tr>', resources)
    assert '<td>vqa</td><td class="number">2</td>' in resources
    assert re.search(r'<td>corpus</td><td class="number">1</td><td>[^<]+</td><td class="number">[\d,]+</td>', resources)
    # Not run in a scored run without a test split: the overlays of an unscored run and the submission.
    assert "No benchmark record or metrics file (not run): cam_overlays, label_overlays, seg_submission." in resources
    for picture in ("cam_overlays.png", "label_overlays.png"):
        with Image.open(report / picture) as montage:
            assert montage.height > 4 * 64  # four images, each at least 64 px high
    assert (report / "vqa_samples.html").read_text().count("<section>") == 3


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000", "--virtual-time-budget=10000"]
REPORT_CATEGORIES = ["Dataset", "CAM seeds", "Pseudo labels", "Segmentation", "Summary", "Overlays", "VQA and corpus",
                     "Resources", "Training"]
REPORT_SUMMARY_FILES = ["miou.html", "ablation.html", "per_class_iou.svg", "threshold_sweep.svg", "cam_overlays.png",
                        "label_overlays.png", "vqa_samples.html", "stage_resources.html", *TRAINING_CHARTS]
# The figures that a category lists once it is open.
CATEGORY_FIGURES = {"Summary": ["mIoU per stage", "ablation table", "IoU per class", "CAM threshold sweep"],
                    "Training": ["baseline CAM training", "QA-CLIMS training and its variants", "IRNet training",
                                 "DeepLab training"]}


def opening(category: str) -> str:
    """A script that opens ``category`` once the report's app has started, as a click on it does."""
    return f'<script>window.addEventListener("load", () => setTimeout(() => app.showCategory("{category}"), 100));</script>'


def render(page: Path, folder: Path) -> tuple[np.ndarray, str]:
    """Headless Chromium's screenshot of ``page`` in grey levels, and its DOM after the scripts ran, less the scripts."""
    browser = debian_executable("chromium", "chromium")
    screenshot = folder / f"{page.stem}.png"
    outputs = []
    for output in (f"--screenshot={screenshot}", "--dump-dom"):
        profile = tempfile.mkdtemp(dir=folder)  # a new, empty profile each time
        result = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", output, page.as_uri()],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        outputs.append(result.stdout)
    with Image.open(screenshot) as picture:
        pixels = np.asarray(picture.convert("L"), dtype=np.float32)
    return pixels, re.sub(r"<(script|style)\b.*?</\1>", "", outputs[1], flags=re.DOTALL)


@pytest.mark.browser
def test_the_report_renders_in_a_browser(finished_run, tmp_path):
    checkout, workdir, tiny = finished_run
    result = snakemake(checkout, workdir, "--configfile", tiny, "--report", "report.html")
    assert result.returncode == 0, result.stdout + result.stderr
    report = workdir / "report.html"
    page = report.read_text()
    assert all(name in page for name in REPORT_SUMMARY_FILES)  # embedded

    pixels, dom = render(report, tmp_path)
    assert pixels.std() > 20  # not a blank page
    assert [category for category in REPORT_CATEGORIES if f"<span>{category}</span>" not in dom] == []

    head, _, tail = page.rpartition("</body>")
    for category, figures in CATEGORY_FIGURES.items():
        opened = tmp_path / f"{category}.html"
        opened.write_text(head + opening(category) + "</body>" + tail)
        pixels, dom = render(opened, tmp_path)
        assert pixels.std() > 20
        assert [figure for figure in figures if f">{figure}</td>" not in dom] == [], category

    # The ablation table as the report embeds it: the report shows it in a frame, whose document the dump leaves out.
    embedded = re.search(r"data:text/html;charset=utf8;filename=ablation\.html;base64,([A-Za-z0-9+/=]+)", page)
    ablation = tmp_path / "ablation.html"
    ablation.write_bytes(base64.b64decode(embedded.group(1)))
    pixels, dom = render(ablation, tmp_path)
    assert pixels.std() > 20
    assert [name for name in ("Baseline", "QA-CLIMS", *VARIANTS) if f"<tr><td>{name}</td>" not in dom] == []
    assert "<th>background false activation (%)</th><th>foreground under-activation (%)</th>" in dom


def test_a_wrong_config_key_fails_before_any_job(tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    bad = write_config(tmp_path / "bad.yaml", {"demo": {"num_trian": 3}})
    result = snakemake(REPO, workdir, "--configfile", bad)
    assert result.returncode != 0
    assert "num_trian" in result.stdout + result.stderr
    assert not (workdir / "results").exists()


def test_a_wrong_config_type_names_the_key(tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    bad = write_config(tmp_path / "bad.yaml", {"report": {"montage_images": "many"}})
    result = snakemake(REPO, workdir, "--configfile", bad)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "montage_images" in output and "integer" in output
    assert not (workdir / "results").exists()


def test_the_workstation_profile_limits_gpu_jobs_and_writes_the_report_after_the_run(finished_run):
    checkout, workdir, tiny = finished_run
    (workdir / "report.html").unlink(missing_ok=True)
    result = snakemake(checkout, workdir, "--configfile", tiny, "--forcerun", "report_summary",
                       "--workflow-profile", str(checkout / "workflow/profiles/workstation"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r'Provided resources: gpu=(Resource\("gpu", )?1\b', output), output
    assert "Report created" in output and (workdir / "report.html").stat().st_size > 100_000


def test_snakemake_lint_finds_nothing(tmp_path):
    result = snakemake(REPO, tmp_path, "--lint")
    output = result.stdout + result.stderr
    assert "Lints for" not in output, output
    assert result.returncode == 0, output
