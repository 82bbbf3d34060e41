"""Configuration: schema defaults, errors naming keys, merging files in order, dataset roots, subsets."""

import json
import os
from pathlib import Path

import pytest
import yaml

from qaclims.config import (
    SCHEMA_PATH,
    answerer_config,
    answerer_network,
    check_extra_splits,
    check_replicates,
    load_config,
    merge,
    network_config,
    replicate_config,
    ritc_variants,
    subset,
    validate_config,
    vqa_answerers,
)
from qaclims.errors import ConfigError
from qaclims.run_layout import dataset_root, replicate_name, replicate_of
from qaclims.vqa.families import FAMILIES

REPO = Path(__file__).resolve().parents[1]


def test_empty_config_gets_every_default():
    config = validate_config({})
    assert set(config) == {"output_dir", "device", "cpu_threads", "precision", "replicates", "dataset", "demo", "report",
                           "demo_models", "vqa", "clip", "corpus", "cam", "ritc", "make_cam", "eval_cam",
                           "ir_label", "irn", "pseudo_label", "seg", "predict", "infer_seg"}
    assert (config["device"], config["precision"]) == ("auto", "bf16")
    assert config["output_dir"] == "results"
    dataset = config["dataset"]
    assert dataset == {
        "kind": "demo",
        "root": None,
        "classes": ["aeroplane", "cat", "dining table", "person", "tv monitor"],
        "splits": ["train", "val", "train_aug"],
        "mask_splits": ["train", "val"],
        "voc_split_list": "ImageSets/Segmentation/{split}.txt",
        "mask_pattern": "SegmentationClass/{image_id}.png",
        "coco_annotations": "annotations/instances_{split}2014.json",
        "coco_images": "{split}2014",
        "decode_images": True,
        "max_long_side": 500,
    }
    assert config["demo"] == {"seed": 0, "num_train": 30, "num_train_extra": 30, "num_val": 20,
                              "min_size": 96, "max_size": 160, "max_objects": 3, "jpeg_quality": 92,
                              "habitat_rate": 0.8, "object_size": [0.14, 0.26]}
    assert config["report"] == {"montage_images": 12, "montage_split": "train", "montage_columns": 3,
                                "overlay_images": 4, "vqa_images": 3}
    # The reference's VQA and corpus settings (method.md sections 1 and 2).
    vqa = config["vqa"]
    assert vqa["model"] == "Salesforce/blip-vqa-capfilt-large"
    # max_length=10 and min_length=1 of blip_vqa.py both count the [DEC] start token. Beams and answer length are
    # the family's unless set (qaclims/vqa/families.py).
    assert (vqa["image_size"], vqa["num_beams"], vqa["max_new_tokens"], vqa["min_new_tokens"]) == (480, None, None, 0)
    assert (FAMILIES["blip"].num_beams, FAMILIES["blip"].max_new_tokens) == (3, 9)
    assert vqa["question_start_token"] == "enc" and vqa["processor"] is None
    assert vqa["max_question_tokens"] == 35 and vqa["splits"] == ["train_aug"]
    assert vqa["foreground_questions"] is None and vqa["background_questions"] is None
    assert config["clip"] == {"model": "ViT-L-14-quickgelu", "pretrained": "openai", "model_config_dir": None}
    corpus = config["corpus"]
    assert corpus["prompt"] == "a photo of {}." and corpus["label_weight"] == 0.5
    assert corpus["synonyms"] == {"dining table": ["table"], "tv monitor": ["monitor", "tv"],
                                  "potted plant": ["plant"]}
    # qaclims's cleanup rules; each has a value that restores the reference's.
    assert (corpus["lemmatise"], corpus["label_match"], corpus["background_removal"]) == (
        "nouns", "whole_words", "class_and_synonyms")
    # The reference's training recipes (method.md sections 3, 4 and 9).
    baseline = config["cam"]["baseline"]
    assert config["cam"]["backbone"] == "resnet50"
    assert (baseline["epochs"], baseline["batch_size"], baseline["lr"], baseline["weight_decay"]) == (5, 16, 0.1, 1e-4)
    ritc = config["ritc"]
    assert (ritc["epochs"], ritc["batch_size"], ritc["lr"], ritc["head_lr_multiplier"]) == (15, 8, 3.5e-4, 10)
    assert (ritc["momentum"], ritc["weight_decay"], ritc["crop_size"], ritc["resize_long"]) == (1e-4, 1e-4, 512, [320, 640])
    assert (ritc["alpha"], ritc["temperature"], ritc["clip_input_size"], ritc["mask_prompt_depth"]) == (0.1, 0.7, 224, 3)
    assert ritc["loss_weights"] == {"foreground": 10, "background": 8, "area": 0.2}
    assert ritc["contrastive_batch"] == 4
    assert ritc["clip_normalization"] == "imagenet" and ritc["ovseg_checkpoint"] is None
    # The component switches default to QA-CLIMS's texts; the fixed words are CLIMS's VOC list.
    assert (ritc["foreground_texts"], ritc["background_texts"]) == ("answers", "answers")
    assert ritc["fixed_background_words"][:3] == ["tree", "river", "sea"] and len(ritc["fixed_background_words"]) == 10
    # CAM inference and evaluation as IRNet and QA-CLIMS do them (method.md section 5).
    assert config["make_cam"]["scales"] == [1.0, 0.5, 1.5, 2.0] and config["make_cam"]["split"] == "train_aug"
    assert config["make_cam"]["networks"] == ["baseline", "ritc"]
    assert config["make_cam"]["dtype"] == "float16"  # the reference stores float32
    assert (config["eval_cam"]["split"], config["eval_cam"]["threshold"]) == ("train", 0.15)
    assert config["eval_cam"]["sweep"] == {"start": 0.05, "stop": 0.60, "step": 0.01, "pick": "max"}
    assert config["eval_cam"]["extra_splits"] == [] and config["ritc"]["variants"] == {}
    # IRNet's refinement (method.md section 6).
    ir_label = config["ir_label"]
    assert (ir_label["network"], ir_label["foreground_threshold"], ir_label["background_threshold"]) == ("ritc", 0.30, 0.10)
    assert ir_label["gt_prob"] == 0.7
    assert ir_label["crf"] == {"iterations": 10, "gaussian_sxy": 3, "gaussian_compat": 3, "bilateral_sxy": 50,
                               "bilateral_srgb": 5, "bilateral_compat": 10}
    irn = config["irn"]
    assert (irn["epochs"], irn["batch_size"], irn["lr"], irn["displacement_lr_multiplier"]) == (3, 32, 0.1, 10)
    assert (irn["crop_size"], irn["scale_range"], irn["radius"], irn["displacement"]) == (512, [0.5, 1.5], 10, False)
    # The segmentation recipe (method.md section 7).
    seg = config["seg"]
    assert (seg["model"], seg["backbone"], seg["aspp_rates"], seg["loss"]) == ("deeplabv2", "resnet101", [6, 12, 18, 24],
                                                                               "balanced")
    assert (seg["batch_size"], seg["iterations"], seg["lr"], seg["momentum"], seg["weight_decay"]) == (10, 30000, 2.5e-4,
                                                                                                     0.9, 5e-4)
    assert (seg["crop_size"], seg["scale_range"], seg["train_scales"]) == (321, [0.5, 2.0], [1.0, 0.75, 0.5])
    infer = config["infer_seg"]
    assert (infer["split"], infer["scales"], infer["flip"]) == ("val", [1.0, 0.5, 0.75], False)
    assert (infer["fusion"], infer["fuse_at"]) == ("max", "logits")
    assert infer["crf"] == {"iterations": 10, "gaussian_sxy": 1, "gaussian_compat": 3, "bilateral_sxy": 67,
                            "bilateral_srgb": 3, "bilateral_compat": 4}
    pseudo = config["pseudo_label"]
    assert (pseudo["radius"], pseudo["beta"], pseudo["exp_times"], pseudo["background_threshold"]) == (5, 10, 8, 0.20)
    assert pseudo["pad_to_crop"] is False


def test_validate_config_fills_siblings_and_does_not_touch_its_input():
    given = {"demo": {"seed": 5}, "dataset": {"kind": "voc12", "root": "/data/VOC2012"}}
    config = validate_config(given)
    assert given == {"demo": {"seed": 5}, "dataset": {"kind": "voc12", "root": "/data/VOC2012"}}
    assert config["demo"]["seed"] == 5
    assert config["demo"]["num_val"] == 20
    assert config["dataset"]["root"] == "/data/VOC2012"
    assert config["dataset"]["splits"] == ["train", "val", "train_aug"]
    # Defaults are copies: changing one config leaves the next one's defaults alone.
    config["dataset"]["classes"].append("cow")
    assert validate_config({})["dataset"]["classes"] == ["aeroplane", "cat", "dining table", "person", "tv monitor"]


def test_unknown_key_names_the_section_and_the_key():
    with pytest.raises(ConfigError) as error:
        validate_config({"dataset": {"clases": ["cat"]}})
    message = str(error.value)
    assert message.startswith("config key dataset:")
    assert "'clases'" in message


def test_unknown_top_level_key_is_named():
    with pytest.raises(ConfigError, match=r"config key \(top level\):.*'outputdir'"):
        validate_config({"outputdir": "x"})


@pytest.mark.parametrize("config, key", [
    ({"demo": {"seed": "one"}}, "demo.seed"),
    ({"demo": {"seed": True}}, "demo.seed"),
    ({"demo": {"num_train": 0}}, "demo.num_train"),
    ({"demo": {"max_objects": 7}}, "demo.max_objects"),
    ({"demo": {"min_size": 16}}, "demo.min_size"),
    ({"dataset": {"kind": "voc07"}}, "dataset.kind"),
    ({"dataset": {"classes": []}}, "dataset.classes"),
    ({"dataset": {"classes": ["cat", "cat"]}}, "dataset.classes"),
    ({"dataset": {"splits": ["train/val"]}}, "dataset.splits.0"),
    ({"dataset": {"decode_images": "yes"}}, "dataset.decode_images"),
    ({"report": {"montage_columns": 0}}, "report.montage_columns"),
    ({"output_dir": 3}, "output_dir"),
    ({"corpus": {"label_match": "words"}}, "corpus.label_match"),
    ({"make_cam": {"dtype": "float64"}}, "make_cam.dtype"),
    ({"eval_cam": {"sweep": {"pick": "best"}}}, "eval_cam.sweep.pick"),
    ({"ritc": {"foreground_texts": "labels"}}, "ritc.foreground_texts"),
    ({"ritc": {"background_texts": "words"}}, "ritc.background_texts"),
    ({"ritc": {"fixed_background_words": []}}, "ritc.fixed_background_words"),
    ({"ritc": {"fixed_background_words": ["sky", "sky"]}}, "ritc.fixed_background_words"),
    ({"dataset": {"classes": ["cat", "cup;mug"]}}, "dataset.classes.1"),
])
def test_invalid_value_names_its_dotted_key(config, key):
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert str(error.value).startswith(f"config key {key}:")


def test_merge_recurses_into_mappings_and_copies():
    base = {"a": {"b": 1, "c": [1]}, "d": 1}
    merged = merge(base, {"a": {"b": 2}, "e": 3})
    assert merged == {"a": {"b": 2, "c": [1]}, "d": 1, "e": 3}
    merged["a"]["c"].append(2)
    assert base == {"a": {"b": 1, "c": [1]}, "d": 1}
    # A non-mapping replaces a mapping and the other way round.
    assert merge({"a": {"b": 1}}, {"a": 5}) == {"a": 5}
    assert merge({"a": 5}, {"a": {"b": 1}}) == {"a": {"b": 1}}


def test_load_config_merges_files_in_order_and_accepts_inline_json(tmp_path):
    first = tmp_path / "first.yaml"
    first.write_text("output_dir: out_a\ndemo:\n  seed: 1\n  num_val: 5\ndataset:\n  classes: [cat, dog]\n")
    second = tmp_path / "second.yaml"
    second.write_text("demo:\n  seed: 2\n")
    config = load_config([str(first), str(second), '{"demo": {"num_train": 7}, "output_dir": "out_c"}'])
    assert config["demo"]["seed"] == 2          # later file wins
    assert config["demo"]["num_val"] == 5       # sibling key of the first file survives
    assert config["demo"]["num_train"] == 7     # inline JSON
    assert config["demo"]["max_size"] == 160    # default
    assert config["output_dir"] == "out_c"
    assert config["dataset"]["classes"] == ["cat", "dog"]

    reversed_order = load_config([str(second), str(first)])
    assert reversed_order["demo"]["seed"] == 1


def test_load_config_validates_the_merged_result(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("demo:\n  sede: 1\n")
    with pytest.raises(ConfigError, match=r"config key demo:.*'sede'"):
        load_config([str(path)])
    with pytest.raises(ConfigError, match=r"config key demo\.seed:"):
        load_config(['{"demo": {"seed": 1}}', '{"demo": {"seed": "x"}}'])


def test_load_config_empty_file_gives_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config([str(path)]) == validate_config({})
    assert load_config([]) == validate_config({})


def test_nonexistent_config_file_is_named(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=f"config file {missing} does not exist"):
        load_config([str(missing)])


def test_config_file_that_is_not_a_mapping_or_not_yaml(tmp_path):
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"list\.yaml must hold a mapping of keys, not list"):
        load_config([str(listing)])
    broken = tmp_path / "broken.yaml"
    broken.write_text("demo: [1, 2\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml is not valid YAML"):
        load_config([str(broken)])


def test_invalid_inline_json_is_a_config_error():
    with pytest.raises(ConfigError, match="inline JSON config is not valid JSON"):
        load_config(['{"demo": {seed: 1}}'])


def test_dataset_root_of_each_kind():
    demo = validate_config({"output_dir": "/tmp/run", "dataset": {"root": "/ignored"}})
    assert dataset_root(demo) == os.path.join("/tmp/run", "demo", "VOC2012")
    voc = validate_config({"dataset": {"kind": "voc12", "root": "/data/VOC2012"}})
    assert dataset_root(voc) == "/data/VOC2012"
    coco = validate_config({"dataset": {"kind": "coco14", "root": "/data/coco"}})
    assert dataset_root(coco) == "/data/coco"


@pytest.mark.parametrize("kind", ["voc12", "coco14"])
def test_dataset_root_missing_is_a_config_error(kind):
    with pytest.raises(ConfigError, match=rf"config key dataset\.root: required for dataset\.kind '{kind}'"):
        dataset_root(validate_config({"dataset": {"kind": kind}}))
    with pytest.raises(ConfigError, match=r"dataset\.root"):
        dataset_root(validate_config({"dataset": {"kind": kind, "root": ""}}))


def test_subset_returns_just_the_named_keys():
    config = validate_config({"demo": {"seed": 4}})
    selected = subset(config, ["demo", "dataset.classes"])
    assert selected == {"demo": config["demo"], "dataset": {"classes": config["dataset"]["classes"]}}
    assert set(selected) == {"demo", "dataset"}
    assert set(selected["dataset"]) == {"classes"}
    selected["dataset"]["classes"].append("cow")
    selected["demo"]["seed"] = 99
    assert "cow" not in config["dataset"]["classes"] and config["demo"]["seed"] == 4
    assert subset(config, ["dataset.kind", "dataset.root", "output_dir"]) == {
        "dataset": {"kind": "demo", "root": None}, "output_dir": "results"}
    assert subset(config, []) == {}


def test_subset_of_a_missing_key_raises():
    with pytest.raises(KeyError):
        subset(validate_config({}), ["dataset.nonexistent"])


def test_packaged_schema_is_the_workflow_schema_and_repo_config_is_valid():
    assert SCHEMA_PATH.read_bytes() == (REPO / "workflow" / "schemas" / "config.schema.yaml").read_bytes()
    with open(REPO / "config.yaml") as handle:
        config = validate_config(yaml.safe_load(handle))
    assert config["dataset"]["kind"] == "demo"
    assert json.loads(json.dumps(config)) == config  # plain data, as stages pass it on as JSON


def test_a_variant_is_the_main_ritc_section_with_its_overrides():
    area_only = {"loss_weights": {"foreground": 0, "background": 0}}
    config = validate_config({"ritc": {"epochs": 3, "variants": {"area_only": area_only}}, "cam": {"seed": 4}})
    main, variant = network_config(config, "ritc"), network_config(config, "area_only")
    assert "variants" not in main["ritc"] and "variants" not in variant["ritc"]
    assert variant["ritc"]["loss_weights"] == {"foreground": 0, "background": 0, "area": 0.2}
    assert {key: value for key, value in variant["ritc"].items() if key != "loss_weights"} == \
        {key: value for key, value in main["ritc"].items() if key != "loss_weights"}
    assert main["ritc"]["epochs"] == 3 and variant["cam"] == main["cam"] == config["cam"]
    # The main network's section does not depend on the variants.
    assert main == network_config(validate_config({"ritc": {"epochs": 3}, "cam": {"seed": 4}}), "ritc")
    assert config["ritc"]["variants"] == {"area_only": area_only}  # nothing filled in or changed
    # null (which a later config file can set, unlike removing keys from a mapping) means none.
    assert ritc_variants(validate_config({"ritc": {"variants": None}})) == {}


def test_a_replicate_is_its_network_with_its_seed_as_cam_seed_and_its_name_gives_both_back():
    config = validate_config({"replicates": [4, 1], "ritc": {"variants": {"no_area": {"loss_weights": {"area": 0}}}}})
    variant = replicate_config(config, "no_area", 1)
    assert variant["cam"] == {**config["cam"], "seed": 1} and variant["ritc"]["loss_weights"]["area"] == 0
    assert replicate_config(config, "baseline", 4) == {**config, "cam": {**config["cam"], "seed": 4}}
    assert config["cam"]["seed"] == 0  # nothing changed in place
    names = {(network, seed): replicate_name(network, seed, [4, 1]) for network in ("baseline", "no_area")
             for seed in (4, 1)}
    assert names == {("baseline", 4): "baseline", ("no_area", 4): "no_area",
                     ("baseline", 1): "seed-1/baseline", ("no_area", 1): "seed-1/no_area"}
    assert all(replicate_of(name, [4, 1]) == key for key, name in names.items())


def test_a_workflow_refuses_a_cam_seed_that_the_replicates_would_override():
    check_replicates(validate_config({"replicates": [3, 5]}))
    with pytest.raises(ConfigError, match=r"config key cam\.seed: .* replicates \[0\] .* list 2 in replicates"):
        check_replicates(validate_config({"cam": {"seed": 2}}))


@pytest.mark.parametrize("variants, message", [
    ({"area_only": {"loss_weight": {"area": 1}}},
     r"config key ritc\.variants\.area_only\.loss_weight: .*'loss_weight' was unexpected"),
    ({"v": {"loss_weights": {"foregrund": 0}}}, r"config key ritc\.variants\.v\.loss_weights\.foregrund: "),
    ({"v": {"alpha": 1.5}}, r"config key ritc\.variants\.v\.alpha: 1\.5 is greater than the maximum of 1"),
    ({"v": {"epochs": "many"}}, r"config key ritc\.variants\.v\.epochs: 'many' is not of type 'integer'"),
    ({"v": {"background_texts": "none"}}, r"config key ritc\.variants\.v\.background_texts: 'none' is not one of"),
    ({"v": 3}, r"config key ritc\.variants\.v: 3 is not of type 'object'"),
    ({"bad-name": {}}, r"config key ritc\.variants: 'bad-name' does not match"),
    ({"ritc": {"alpha": 0.2}}, r"config key ritc\.variants\.ritc: the network ritc of make_cam\.networks"),
    ({"baseline": {}}, r"config key ritc\.variants\.baseline: the network baseline"),
    ({"v": {"variants": {"w": {}}}}, r"config key ritc\.variants\.v\.variants: a variant cannot hold variants"),
    ({"v": {"ovseg_checkpoint": "x.pth"}}, r"config key ritc\.variants\.v\.ovseg_checkpoint: every network trains"),
    ({"v": {"fixed_background_words": ["sky"]}}, r"config key ritc\.variants\.v\.fixed_background_words: "),
    ({"v": {"gpus": 2}}, r"config key ritc\.variants\.v\.gpus: every network trains with the main ritc\.gpus"),
])
def test_a_bad_variant_fails_naming_the_variant_and_the_key(variants, message):
    with pytest.raises(ConfigError, match=message):
        validate_config({"ritc": {"variants": {"fine": {"alpha": 0.2}, **variants}}})


def test_an_answerer_is_the_main_vqa_section_with_its_overrides_and_the_main_one_ignores_the_answerers():
    blip2 = {"model": "Salesforce/blip2-opt-2.7b", "num_beams": None}
    config = validate_config({"vqa": {"num_beams": 3, "batch_size": 8, "answerers": {"blip2": blip2}}})
    main, answerer = answerer_config(config, None)["vqa"], answerer_config(config, "blip2")["vqa"]
    assert "answerers" not in main and "answerers" not in answerer
    assert (answerer["model"], answerer["num_beams"], answerer["batch_size"]) == ("Salesforce/blip2-opt-2.7b", None, 8)
    assert main == answerer_config(validate_config({"vqa": {"num_beams": 3, "batch_size": 8}}), None)["vqa"]
    assert answerer_network("blip2") == "answerer_blip2"
    # An answerer's network trains with the main ritc section.
    assert network_config(config, "answerer_blip2") == network_config(config, "ritc")
    assert vqa_answerers(validate_config({"vqa": {"answerers": None}})) == {}


@pytest.mark.parametrize("answerers, message", [
    ({"a": {"num_beam": 2}}, r"config key vqa\.answerers\.a\.num_beam: .*'num_beam' was unexpected"),
    ({"a": {"dtype": "int4"}}, r"config key vqa\.answerers\.a\.dtype: 'int4' is not one of"),
    ({"a": {"prompt_template": "Q: A:"}}, r"config key vqa\.answerers\.a\.prompt_template: 'Q: A:' does not match"),
    ({"a": {"answerers": {"b": {}}}}, r"config key vqa\.answerers\.a\.answerers: an answerer cannot hold answerers"),
    ({"bad-name": {}}, r"config key vqa\.answerers: 'bad-name' does not match"),
])
def test_a_bad_answerer_fails_naming_the_answerer_and_the_key(answerers, message):
    with pytest.raises(ConfigError, match=message):
        validate_config({"vqa": {"answerers": {"fine": {"num_beams": 2}, **answerers}}})


def test_an_answerer_whose_network_has_a_variants_name_is_refused():
    with pytest.raises(ConfigError, match=r"vqa\.answerers\.x: its network answerer_x has the name of an ablation"):
        validate_config({"vqa": {"answerers": {"x": {}}}, "ritc": {"variants": {"answerer_x": {"alpha": 0.2}}}})


def test_extra_evaluation_splits_must_be_indexed():
    check_extra_splits(validate_config({"eval_cam": {"extra_splits": ["val", "train_aug"]}}))
    with pytest.raises(ConfigError, match=r"eval_cam\.extra_splits: \['habitat'\] are not in dataset\.splits"):
        check_extra_splits(validate_config({"eval_cam": {"extra_splits": ["val", "habitat"]}}))
