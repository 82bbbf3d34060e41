"""`qaclims rehearse`'s parts: the weight files at a small size through the stages' loaders, BatchNorm calibration,
the forecast arithmetic, and the generated dataset and site file of each preset (check-data and a dry run)."""

import json

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from workflow_runs import REPO, dry_run_plan, snakemake, write_config

from qaclims.cli import main
from qaclims.config import load_config, merge
from qaclims.models.backbone import freeze_batch_norm
from qaclims.models.deeplab import DeepLabV2
from qaclims.models.demo_blip import TINY_LAYERS
from qaclims.models.demo_clip import demo_clip_config
from qaclims.rehearsal import forecast
from qaclims.rehearsal.dataset import write_dataset
from qaclims.rehearsal.model_files import (
    build_model_files,
    calibration_images,
    check_model_files,
    model_files,
)
from qaclims.rehearsal.site import Amounts, site_config
from qaclims.rehearsal.weights import (
    BERT_SPECIAL_IDS,
    BERT_VOCAB_SIZE,
    blip_processor,
    write_resnet,
)
from qaclims.run_layout import DEMO_CLIP_NAME
from qaclims.seg.objective import balanced_cross_entropy
from qaclims.stages.rehearse import split_sizes
from qaclims.train.optim import poly_sgd

PRESETS = {name: REPO / "workflow" / "configs" / f"{name}.yaml" for name in ("voc12", "coco14")}
SIZES = {"voc12": {"train": 1, "train_aug": 2, "val": 1}, "coco14": {"train": 2, "val": 1}}


def preset(name: str) -> dict:
    return load_config([str(PRESETS[name])])


def leaves(config: dict, prefix: tuple = ()) -> dict:
    """{(key, path...): value} of every non-mapping value."""
    found = {}
    for key, value in config.items():
        if isinstance(value, dict):
            found |= leaves(value, (*prefix, key))
        else:
            found[(*prefix, key)] = value
    return found


def test_blip_processor_has_berts_vocabulary_layout_and_knows_every_word_of_the_questions():
    processor = blip_processor(preset("coco14")["dataset"]["classes"], 384)
    vocabulary = processor.tokenizer.get_vocab()
    assert len(vocabulary) == BERT_VOCAB_SIZE
    assert {token: vocabulary[token] for token in BERT_SPECIAL_IDS} == BERT_SPECIAL_IDS
    assert "[DEC]" not in vocabulary and "[ENC]" not in vocabulary  # as the hub's: BLIP adds them
    ids = processor.tokenizer("What kind of hair drier is in the photo? zebra-striped")["input_ids"]
    assert BERT_SPECIAL_IDS["[UNK]"] not in ids


def test_weight_files_at_a_small_width_load_through_the_stages_loaders(tmp_path, one_torch_thread):
    config_dir = tmp_path / "clip-config"
    config_dir.mkdir()
    (config_dir / f"{DEMO_CLIP_NAME}.json").write_text(json.dumps(demo_clip_config(224)))
    config = merge(preset("voc12"), {"clip": {"model": DEMO_CLIP_NAME}, "cam": {"backbone": "resnet10"},
                                     "seg": {"backbone": "resnet18"}})
    files = model_files(str(tmp_path / "cache"), config)
    images = calibration_images(config["dataset"]["classes"], 0, count=2, size=64)
    written = build_model_files(files, config, 0, TINY_LAYERS, str(config_dir), images)
    assert len(written) == 7
    assert build_model_files(files, config, 0, TINY_LAYERS, str(config_dir), images) == []  # built once
    found = check_model_files(files, config, str(config_dir))
    # [ENC] lands on 30523, right after the decoder's start token [DEC] = 30522, as in BLIP.
    assert found[files.blip_folder] == "BLIP VQA at 384 px, questions start with id 30523"
    assert found[files.blip_original] == "BLIP VQA at 480 px, questions start with id 30523"
    assert found[files.ovseg_checkpoint] == "OV-Seg CLIP, mask embeddings [3, 196, 64]"  # (224 / 16)² patches
    assert set(found) == {files.blip_folder, files.blip_original, files.clip_checkpoint, files.ovseg_checkpoint,
                          *files.resnets.values()}
    assert files.clip_checkpoint.endswith(".safetensors")


def test_deeplab_on_the_rehearsals_resnet101_trains_at_the_presets_learning_rate_without_blowing_up(tmp_path):
    # Without the scaled residual branches the losses were 238, 2.8e9 and NaN.
    seg = preset("voc12")["seg"]
    weights = str(tmp_path / "resnet101.pth")
    write_resnet(weights, "resnet101", calibration_images(["cat", "dog"], 0, count=2, size=64), 0)
    torch.manual_seed(0)
    model = DeepLabV2("resnet101", 21, weights, tuple(seg["aspp_rates"])).train()
    freeze_batch_norm(model)
    optimizer, _ = poly_sgd(list(model.backbone.parameters()), list(model.head.parameters()), seg["lr"],
                            seg["head_lr_multiplier"], seg["weight_decay"], seg["momentum"], seg["iterations"])
    images = calibration_images(["cat", "dog"], 1, count=2, size=65)
    labels = torch.randint(0, 21, (2, 9, 9), generator=torch.Generator().manual_seed(0))
    losses = []
    for _ in range(3):
        logits = model(images)
        sized = F.interpolate(labels[:, None].float(), size=logits.shape[2:])[:, 0].long()
        loss = balanced_cross_entropy(logits, sized)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(0 < value < 30 for value in losses), losses


def test_rule_work_counts_the_presets_full_recipe():
    voc = preset("voc12")
    sizes = {"train": 1464, "val": 1449, "train_aug": 10582}
    assert forecast.rule_work("train_ritc", voc, sizes, 1.4) == 15 * 10582
    assert forecast.rule_work("train_cam", voc, sizes, 1.4) == 5 * 10582
    assert forecast.rule_work("train_seg", voc, sizes, 1.4) == 30000 * 10
    assert forecast.rule_work("vqa", voc, sizes, 1.5) == pytest.approx(10582 * 1.5 * 16)
    assert forecast.rule_work("make_cam", voc, sizes, 1.4) == 2 * 10582
    assert forecast.rule_work("infer_seg", voc, sizes, 1.4) == 1449
    assert forecast.rule_work("corpus", voc, sizes, 1.4) is None


def test_forecast_adds_the_time_outside_the_loop_to_the_full_work_at_the_loops_rate():
    nan = float("nan")
    measured = pd.DataFrame({"jobs": [1, 2, 1, 1, 1], "wall_seconds": [260.0, 10.0, 30.0, 50.0, 3.0],
                             "peak_rss_mb": [12000.0, 500.0, 3000.0, nan, 100.0],
                             "items": [4.0, nan, nan, 96.0, nan], "loop_seconds": [200.0, nan, nan, 50.0, nan],
                             "peak_gpu_mb": [nan] * 5, "unit": ["img", None, None, "q", None]},
                            index=pd.Index(["train_ritc", "eval_cam", "corpus", "vqa", "vqa_merge"], name="rule"))
    table = forecast.forecast(measured, {"eval_cam": 4, "corpus": None, "vqa_merge": 96},
                              {"train_ritc": 1000, "eval_cam": 400, "corpus": None, "vqa": 9600, "vqa_merge": 9600},
                              {"train_ritc": 2})
    rows = table.set_index("rule")
    assert list(rows.index) == ["vqa", "vqa_merge", "corpus", "train_ritc", "eval_cam"]  # the workflow's order
    assert rows.loc["train_ritc", "forecast_seconds"] == pytest.approx(60 + 1000 * 50)
    assert rows.loc["train_ritc", "seconds_per_item"] == pytest.approx(50)
    assert rows.loc["eval_cam", "forecast_seconds"] == pytest.approx(10 * 400 / 4)
    assert rows.loc["corpus", "forecast_seconds"] == 30
    assert rows.loc["vqa", "forecast_seconds"] == pytest.approx(9600 * 50 / 96)
    assert rows.loc["vqa_merge", "forecast_seconds"] == pytest.approx(3 * 9600 / 96)
    assert list(rows["unit"]) == ["q", "q", "img", "img", "img"]
    text = forecast.forecast_table(table, "GPU")
    total = text.splitlines()[-1]
    assert total.startswith("| all | 6 |")
    # Hours on the device (the sum of the forecasts) and GPU-hours (train_ritc holds 2 GPUs).
    expected_seconds = 60 + 50000 + 1000 + 30 + 5000 + 300
    assert total.endswith(f"| {expected_seconds / 3600:,.1f} h | {(expected_seconds + 50060) / 3600:,.1f} |")


@pytest.mark.parametrize("name", PRESETS)
def test_site_file_changes_only_amounts_of_work_and_locations(name):
    config = preset(name)
    sizes = split_sizes(config["dataset"], 4, 2)
    keys = model_files("/cache", config).site_keys(config)
    site = site_config(config, Amounts(sizes, 2, 2), "/data", "/results", keys, "cpu", 1)
    changed = {path for path, value in leaves(merge(config, site)).items() if leaves(config).get(path) != value}
    amounts = {path for path in changed if path[-1] in {"batch_size", "epochs", "iterations", "shards"}}
    locations = {("output_dir",), ("device",), ("dataset", "root"), ("vqa", "model"), ("clip", "pretrained"),
                 ("ritc", "ovseg_checkpoint"), ("cam", "backbone_weights"), ("seg", "backbone_weights")}
    assert changed - amounts == locations
    assert ("vqa", "batch_size") not in changed and ("corpus", "batch_size") not in changed
    assert merge(config, site)["ritc"]["batch_size"] == 2


@pytest.mark.workflow
@pytest.mark.parametrize("name", PRESETS)
def test_generated_dataset_and_site_file_pass_check_data_and_plan_every_stage(tmp_path, name):
    config = preset(name)
    write_dataset(str(tmp_path / "data"), config["dataset"], SIZES[name], 0)
    files = model_files(str(tmp_path / "cache"), config)
    (tmp_path / "cache").mkdir()
    open(files.ovseg_checkpoint, "wb").close()  # an input of train_ritc: an empty file is enough to plan
    site = write_config(tmp_path / "site.yaml", site_config(
        config, Amounts(SIZES[name], 2, 2), str(tmp_path / "data"), str(tmp_path / "results"),
        files.site_keys(config), "cpu", 1))
    assert main(["check-data", "--config", str(PRESETS[name]), "--config", site]) == 0
    plan = dry_run_plan(snakemake(REPO, tmp_path, "--dry-run", "--configfile", str(PRESETS[name]), site))
    assert {"index", "vqa", "corpus", "train_cam", "train_ritc", "make_cam", "ir_label", "train_irn", "pseudo_label",
            "eval_pseudo", "train_seg", "infer_seg", "eval_seg", "all"} <= set(plan)
    assert (plan["vqa"], plan["make_cam"], plan["infer_seg"]) == (1, 2, 1)  # one shard; make_cam per network
