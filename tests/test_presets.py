"""The real-dataset presets (workflow/configs/): valid, the reference's numbers, and their dry-run plans.

The dry runs use a fake dataset (tests/dry_run_fixture.py): the index rule's input files
and an up-to-date index, no images. Speed is measured by benchmarks/dry_run_scale.py, not here.
"""

import pytest
import yaml
from dry_run_fixture import scaled_sizes, write_fake_dataset
from snakemake.utils import validate
from workflow_runs import REPO, copy_checkout, dry_run_plan, snakemake, write_config

from qaclims.config import (
    answerer_config,
    load_config,
    merge,
    network_config,
    ritc_variants,
    vqa_answerers,
)
from qaclims.data.classes import EXPECTED_SPLIT_COUNTS, VOC_CLASSES
from qaclims.data.coco import read_coco
from qaclims.data.index import read_index, split_column, to_frame
from qaclims.data.voc import read_split_list

PRESETS = {name: REPO / "workflow" / "configs" / f"{name}.yaml" for name in ("voc12", "coco14")}
ABLATIONS = REPO / "workflow" / "configs" / "ablations.yaml"
ANSWERERS = REPO / "workflow" / "configs" / "answerers.yaml"
SMALL = {"voc12": {"train": 3, "val": 2, "train_aug": 5}, "coco14": {"train": 4, "val": 2}}


def preset(name: str) -> dict:
    return load_config([str(PRESETS[name])])


@pytest.mark.parametrize("name", PRESETS)
def test_preset_validates_as_the_snakefile_and_the_stages_read_it(name):
    defaults = yaml.safe_load((REPO / "config.yaml").read_text())
    merged = merge(defaults, yaml.safe_load(PRESETS[name].read_text()))
    validate(merged, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))  # what the Snakefile does
    from_cli = load_config([str(REPO / "config.yaml"), str(PRESETS[name])])  # what `qaclims <stage> --config` does
    assert merged == from_cli
    # Merged over config.yaml, as Snakemake does, no demo setting stays in force but the demo section,
    # which a real dataset does not read.
    assert {key: value for key, value in from_cli.items() if key != "demo"} == \
        {key: value for key, value in preset(name).items() if key != "demo"}


def test_voc_preset_is_the_reference_recipe():
    config = preset("voc12")
    assert config["dataset"]["kind"] == "voc12" and config["dataset"]["classes"] == list(VOC_CLASSES)
    assert config["dataset"]["splits"] == ["train", "val", "train_aug"]
    ritc = config["ritc"]
    assert (ritc["lr"], ritc["epochs"], ritc["batch_size"], ritc["contrastive_batch"]) == (3.5e-4, 15, 8, 4)
    assert (ritc["alpha"], ritc["temperature"]) == (0.1, 0.7)
    assert ritc["loss_weights"] == {"foreground": 10, "background": 8, "area": 0.2}
    assert ritc["ovseg_checkpoint"].endswith("ovseg_swinbase_vitL14_ft_mpt.pth")
    assert (config["vqa"]["model"], config["clip"]["model"], config["clip"]["pretrained"]) == (
        "Salesforce/blip-vqa-capfilt-large", "ViT-L-14-quickgelu", "openai")
    assert (config["eval_cam"]["split"], config["infer_seg"]["split"]) == ("train", "val")


def test_coco_preset_has_the_coco_settings():
    config = preset("coco14")
    dataset = config["dataset"]
    assert dataset["kind"] == "coco14" and dataset["splits"] == ["train", "val"] and len(dataset["classes"]) == 80
    assert dataset["mask_pattern"] == "mask/{split}2014/{coco_id}.png"
    ritc = config["ritc"]
    assert ritc["lr"] == 1e-5
    assert ritc["loss_weights"] == {"foreground": 30, "background": 24, "area": 0.2}
    assert (ritc["epochs"], ritc["batch_size"], ritc["contrastive_batch"]) == (15, 8, 4)
    assert (ritc["alpha"], ritc["temperature"]) == (0.1, 0.7)
    assert (config["eval_cam"]["threshold"], config["ir_label"]["foreground_threshold"],
            config["ir_label"]["background_threshold"], config["pseudo_label"]["background_threshold"]) == (
        0.15, 0.30, 0.10, 0.20)
    assert config["eval_cam"]["sweep"] == {"start": 0.10, "stop": 0.58, "step": 0.02, "pick": "max"}
    train_splits = [config["vqa"]["splits"], config["cam"]["baseline"]["split"], config["ritc"]["split"],
                    config["make_cam"]["split"], config["seg"]["split"]]
    assert train_splits == [["train"], "train", "train", "train", "train"]
    assert (config["eval_cam"]["split"], config["infer_seg"]["split"]) == ("train", "val")


# CLIMS's clip_utils.py background_dict, without its "a photo of {}." prompt (corpus.prompt adds it back).
CLIMS_BACKGROUND_WORDS = {
    "voc12": ["tree", "river", "sea", "lake", "water", "railway", "railroad", "track", "stone", "rocks"],
    "coco14": [
        "street sign", "mountain", "video game", "men", "track", "bus stop", "cabinet", "tray", "plate", "shirt",
        "city street", "runway", "tower", "ramp", "grass", "pillow", "urinal", "lake", "brick", "fence", "shower",
        "airport", "animal", "shower curtain", "road", "mirror", "jacket", "church", "snow", "fruit", "hay", "floor",
        "field", "street", "mouth", "steam engine", "cheese", "river", "tree branch", "suit", "child", "soup", "desk",
        "tub", "tennis court", "teeth", "bridge", "sky", "officer", "sidewalk", "dock", "tree", "court", "rock",
        "board", "branch", "pan", "box", "body", "salad", "dirt", "leaf", "hand", "highway", "vegetable",
        "computer monitor", "door", "meat", "pair", "beach", "harbor", "ocean", "baseball player", "girl", "market",
        "window", "blanket", "boy", "woman", "bat", "baby", "flower", "wall", "bath tub", "tarmac", "tennis ball",
        "roll", "park",
    ],
}


@pytest.mark.parametrize("name", PRESETS)
def test_preset_holds_clims_fixed_background_words_and_trains_qaclims_texts(name):
    ritc = preset(name)["ritc"]
    assert ritc["fixed_background_words"] == CLIMS_BACKGROUND_WORDS[name]
    assert (ritc["foreground_texts"], ritc["background_texts"]) == ("answers", "answers")


@pytest.mark.parametrize("name", PRESETS)
def test_presets_train_no_variant_and_the_ablations_file_adds_the_component_set(name):
    # Merged over config.yaml as Snakemake merges: the demo's variants are gone.
    assert ritc_variants(load_config([str(REPO / "config.yaml"), str(PRESETS[name])])) == {}
    ablations = load_config([str(REPO / "config.yaml"), str(PRESETS[name]), str(ABLATIONS)])  # validates each one
    variants = ritc_variants(ablations)
    assert variants == yaml.safe_load(ABLATIONS.read_text())["ritc"]["variants"]
    # One variant per switch of the component set, each QA-CLIMS's value changed.
    changed = {key for overrides in variants.values() for key in overrides}
    assert changed == {"foreground_texts", "background_texts", "loss_weights", "alpha", "mask_prompt_depth"}
    assert {weight for overrides in variants.values() for weight in overrides.get("loss_weights", {})} == \
        {"foreground", "background", "area"}
    for variant in variants:
        section = network_config(ablations, variant)["ritc"]
        assert section != network_config(ablations, "ritc")["ritc"], variant


@pytest.mark.parametrize("name", PRESETS)
def test_the_answerers_file_compares_each_family_at_its_own_decoding(name):
    comparison = load_config([str(REPO / "config.yaml"), str(PRESETS[name]), str(ANSWERERS)])  # validates each one
    answerers = {answerer: answerer_config(comparison, answerer)["vqa"] for answerer in vqa_answerers(comparison)}
    assert {section["model"] for section in answerers.values()} == {
        "Salesforce/blip2-opt-2.7b", "Salesforce/instructblip-vicuna-7b", "llava-hf/llava-1.5-7b-hf",
        "Qwen/Qwen2-VL-2B-Instruct"}
    # The preset's BLIP decoding is not inherited: each family decodes with its own defaults.
    assert all(section["num_beams"] is None and section["max_new_tokens"] is None for section in answerers.values())
    assert answerer_config(comparison, None)["vqa"] == answerer_config(preset(name), None)["vqa"]


def test_the_evidence_run_is_the_demo_on_three_seeds_with_its_variants_and_both_shuffled_controls():
    demo = load_config([str(REPO / "config.yaml")])
    evidence = load_config([str(REPO / "config.yaml"), str(REPO / "workflow" / "configs" / "evidence.yaml")])
    assert evidence["replicates"] == [0, 1, 2] and demo["replicates"] == [0]
    variants = ritc_variants(evidence)
    assert variants == {**ritc_variants(demo), "shuffled_foreground": {"foreground_texts": "shuffled"}}
    assert variants["shuffled_background"] == {"background_texts": "shuffled"}
    assert {key: value for key, value in evidence.items() if key not in ("replicates", "ritc")} == \
        {key: value for key, value in demo.items() if key not in ("replicates", "ritc")}


def test_fake_coco_dataset_reads_back_as_its_index(tmp_path):
    site = write_fake_dataset(tmp_path, PRESETS["coco14"], SMALL["coco14"])
    dataset = preset("coco14")["dataset"]
    records, unlabelled = read_coco(site["dataset"]["root"], dataset["classes"], dataset["splits"],
                                    dataset["coco_annotations"], dataset["coco_images"], dataset["mask_pattern"])
    index = read_index(f"{site['output_dir']}/data/index.parquet")
    # The mask files do not exist, so the reader finds no mask; everything else must agree.
    columns = [column for column in index.frame.columns if column not in ("mask_path", "height", "width")]
    assert to_frame(records, dataset["classes"], dataset["splits"])[columns].equals(index.frame[columns])
    assert unlabelled == {"train": 0, "val": 0}


def test_fake_voc_dataset_lists_the_images_of_its_index(tmp_path):
    site = write_fake_dataset(tmp_path, PRESETS["voc12"], SMALL["voc12"])
    index = read_index(f"{site['output_dir']}/data/index.parquet")
    split_list = preset("voc12")["dataset"]["voc_split_list"]
    for split, count in SMALL["voc12"].items():
        listed = read_split_list(f"{site['dataset']['root']}/{split_list.format(split=split)}")
        assert listed == index.frame.loc[index.frame[split_column(split)], "image_id"].tolist() and len(listed) == count
    train, train_aug = (set(index.split(split)["image_id"]) for split in ("train", "train_aug"))
    assert train < train_aug


def sharded_jobs(config: dict) -> dict[str, int]:
    """Jobs of the rules that run per shard (and per network or split); every other rule runs once."""
    networks = len(config["make_cam"]["networks"])
    splits = 2 if config["infer_seg"]["test_split"] else 1
    return {"vqa": config["vqa"]["shards"], "make_cam": networks * config["make_cam"]["shards"],
            "eval_cam": networks, "ir_label": config["ir_label"]["shards"],
            "pseudo_label": config["pseudo_label"]["shards"], "infer_seg": splits * config["infer_seg"]["shards"]}


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    return copy_checkout(tmp_path_factory.mktemp("presets") / "checkout")


def preset_plan(checkout, folder, name: str, sizes: dict[str, int], *extra: str):
    """The plan of a dry run of preset ``name`` with the ``extra`` config files of the checkout (e.g.
    workflow/configs/ablations.yaml) and a fake dataset of ``sizes``."""
    site = write_config(folder / "site.yaml", write_fake_dataset(folder, PRESETS[name], sizes))
    configs = [str(checkout / "workflow" / "configs" / f"{name}.yaml"), *(str(checkout / path) for path in extra)]
    return dry_run_plan(snakemake(checkout, folder, "--dry-run", "--configfile", *configs, site))


@pytest.mark.workflow
@pytest.mark.parametrize("name", PRESETS)
def test_dry_run_plans_one_job_per_shard(checkout, tmp_path, name):
    plan = preset_plan(checkout, tmp_path, name, SMALL[name])
    expected = sharded_jobs(preset(name))
    assert {rule: plan[rule] for rule in expected} == expected
    assert {rule for rule, count in plan.items() if rule not in expected and count != 1} == set()
    assert {"train_cam", "train_ritc", "train_irn", "train_seg", "eval_pseudo", "eval_seg", "all"} <= set(plan)
    assert "index" not in plan  # the fake index is up to date


@pytest.mark.workflow
def test_dry_run_with_the_ablations_file_trains_and_evaluates_each_variant(checkout, tmp_path):
    plan = preset_plan(checkout, tmp_path, "voc12", SMALL["voc12"], "workflow/configs/ablations.yaml")
    variants = len(yaml.safe_load(ABLATIONS.read_text())["ritc"]["variants"])
    networks = len(preset("voc12")["make_cam"]["networks"]) + variants
    assert (plan["train_ritc"], plan["make_cam"], plan["eval_cam"]) == (
        1 + variants, networks * preset("voc12")["make_cam"]["shards"], networks)
    # The shared stages and the refinement run once, for QA-CLIMS.
    assert (plan["train_cam"], plan["corpus"], plan["train_irn"]) == (1, 1, 1)


@pytest.mark.workflow
def test_dry_run_with_the_answerers_file_answers_and_trains_once_per_answerer(checkout, tmp_path):
    plan = preset_plan(checkout, tmp_path, "voc12", SMALL["voc12"], "workflow/configs/answerers.yaml")
    answerers, config = len(yaml.safe_load(ANSWERERS.read_text())["vqa"]["answerers"]), preset("voc12")
    networks = len(config["make_cam"]["networks"]) + answerers
    assert (plan["answerer_vqa"], plan["answerer_vqa_merge"], plan["answerer_corpus"]) == (
        answerers * config["vqa"]["shards"], answerers, answerers)
    assert (plan["train_ritc"], plan["make_cam"], plan["eval_cam"]) == (
        1 + answerers, networks * config["make_cam"]["shards"], networks)
    # The main answerer and the refinement run once, for QA-CLIMS.
    assert (plan["vqa"], plan["corpus"], plan["train_irn"]) == (config["vqa"]["shards"], 1, 1)


@pytest.mark.workflow
def test_dry_run_plan_does_not_depend_on_the_image_count(checkout, tmp_path):
    full = EXPECTED_SPLIT_COUNTS["voc12"]  # 10,582 train_aug and 1,449 val images
    large = preset_plan(checkout, tmp_path / "large", "voc12", full)
    small = preset_plan(checkout, tmp_path / "small", "voc12", scaled_sizes(full, 0.001))
    assert large == small
