"""The text corpus: cleaned texts per (image, class) pair, and the corpus stage's CLIP features."""

import json
import re

import open_clip
import pandas as pd
import pytest
import torch
from helpers import OPENAI_TEXT_TOWER, OVSEG_PREFIX, fake_ovseg_state
from safetensors import safe_open
from workflow_runs import REPO, snakemake, write_config

from qaclims.cli import main
from qaclims.config import validate_config
from qaclims.demo.dataset import write_demo_dataset
from qaclims.models.demo_clip import write_demo_clip
from qaclims.run_layout import DEMO_CLIP_NAME, demo_model_paths
from qaclims.text.cleanup import CleanupSettings
from qaclims.text.corpus import CORPUS_COLUMNS, build_corpus, foreground_features
from qaclims.vqa.questions import BACKGROUND_TEMPLATES, FOREGROUND_TEMPLATES

CLASSES = ["aeroplane", "cat", "dining table", "tv monitor"]
SYNONYMS = {"dining table": ["table"], "tv monitor": ["monitor", "tv"], "potted plant": ["plant"]}
IMAGE_A, IMAGE_B = "demo_00000", "demo_00001"

# Raw answers in template order, per (image, class).
RAW = {
    (IMAGE_A, "cat"): (
        ["Kittens", "tabby", "kitten", "cats", "catamaran", "black cat"],
        ["sofa", "Sofas", "floor", "cat", "wall", "floor", "cats", "room", "blanket", "sofa"],
    ),
    (IMAGE_A, "dining table"): (
        ["table", "wooden tables", "desk", "dining table", "kitchen table", "desk"],
        ["chairs", "chair", "floor", "kitchen", "table", "dining table", "room", "wall", "kitchen", "window"],
    ),
    (IMAGE_B, "tv monitor"): (
        ["tv", "televisions", "monitor", "screen", "computer", "flat screen tv"],
        ["tv", "monitor", "tv monitor", "Monitors", "monitors", "TV", "tv", "monitor", "Tv Monitor", "tv"],
    ),
}
# The cleaned texts, worked out by hand from the cleanup rules (method.md §2).
EXPECTED = {
    (IMAGE_A, "cat"): (
        ["kitten cat", "tabby cat", "kitten cat", "cat", "catamaran cat", "black cat"],
        ["sofa", "floor", "wall", "room", "blanket"],
    ),
    (IMAGE_A, "dining table"): (
        ["table", "wooden table", "desk dining table", "dining table", "kitchen table", "desk dining table"],
        ["chair", "floor", "kitchen", "room", "wall", "window"],
    ),
    (IMAGE_B, "tv monitor"): (
        ["tv", "television tv monitor", "monitor", "screen tv monitor", "computer tv monitor", "flat screen tv"],
        [],
    ),
}
PAIRS = sorted(EXPECTED)  # the corpus is sorted by (image_id, class)
# CLIMS's clip_utils.py background_dict['voc'], without its "a photo of {}." prompt.
CLIMS_VOC_BACKGROUND_WORDS = ["tree", "river", "sea", "lake", "water", "railway", "railroad", "track", "stone", "rocks"]
# The reference's rules (corpus.lemmatise, label_match, background_removal) and synonyms (supply_cat).
REFERENCE_CORPUS = {"synonyms": {"dining table": ["table"], "tv monitor": ["monitor"], "potted plant": ["plant"]},
                    "lemmatise": "whole_answer", "label_match": "substring", "background_removal": "class_name"}
# RAW cleaned by those rules, by hand: multi-word answers keep their plurals, "catamaran" contains
# "cat", "tv" no longer names "tv monitor", and background answers lose only the class name itself.
EXPECTED_REFERENCE = {
    (IMAGE_A, "cat"): (
        ["kitten cat", "tabby cat", "kitten cat", "cat", "catamaran", "black cat"],
        ["sofa", "floor", "wall", "room", "blanket"],
    ),
    (IMAGE_A, "dining table"): (
        ["table", "wooden tables", "desk dining table", "dining table", "kitchen table", "desk dining table"],
        ["chair", "floor", "kitchen", "table", "room", "wall", "window"],
    ),
    (IMAGE_B, "tv monitor"): (
        ["tv tv monitor", "television tv monitor", "monitor", "screen tv monitor", "computer tv monitor",
         "flat screen tv tv monitor"],
        ["tv", "monitor"],
    ),
}


def cleanup_settings(corpus: dict) -> CleanupSettings:
    return CleanupSettings.from_config(validate_config({"corpus": corpus})["corpus"])


def answers_frame() -> pd.DataFrame:
    rows = []
    for (image_id, class_name), (foreground, background) in RAW.items():
        for kind, templates, answers in (("fg", FOREGROUND_TEMPLATES, foreground),
                                          ("bg", BACKGROUND_TEMPLATES, background)):
            for k, answer in enumerate(answers):
                rows.append((image_id, class_name, kind, k, templates[k].format(class_name), answer))
    frame = pd.DataFrame(rows, columns=["image_id", "class", "kind", "template_index", "question", "answer"])
    # Shuffled, so that the template order has to come from template_index.
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)


def expected_strings() -> list[str]:
    return sorted({text for foreground, background in EXPECTED.values() for text in (*foreground, *background)})


@pytest.fixture(scope="module")
def built():
    frame = answers_frame()
    assert frame["template_index"].tolist() != sorted(frame["template_index"].tolist())
    return build_corpus(frame, CLASSES, cleanup_settings({"synonyms": SYNONYMS}))


def test_corpus_columns_and_pair_order(built):
    corpus, _ = built
    assert list(corpus.columns) == CORPUS_COLUMNS
    assert list(zip(corpus["image_id"], corpus["class"])) == PAIRS
    assert corpus["class_index"].tolist() == [CLASSES.index(name) for _, name in PAIRS]
    assert corpus["class_index"].tolist() == [1, 2, 3]


def test_foreground_in_template_order_with_duplicates_background_deduped(built):
    corpus, _ = built
    for _, row in corpus.iterrows():
        foreground, background = EXPECTED[(row["image_id"], row["class"])]
        assert list(row["foreground_texts"]) == foreground
        assert list(row["background_texts"]) == background


def test_has_background_is_false_when_every_background_answer_names_the_class(built):
    corpus, _ = built
    has = dict(zip(zip(corpus["image_id"], corpus["class"]), corpus["has_background"]))
    assert has == {(IMAGE_A, "cat"): True, (IMAGE_A, "dining table"): True, (IMAGE_B, "tv monitor"): False}


def test_rows_index_the_sorted_distinct_strings(built):
    corpus, strings = built
    assert strings == expected_strings()
    assert len(set(strings)) == len(strings)
    for _, row in corpus.iterrows():
        assert [strings[k] for k in row["foreground_rows"]] == list(row["foreground_texts"])
        assert [strings[k] for k in row["background_rows"]] == list(row["background_texts"])
    # A duplicated foreground answer refers to one feature row twice.
    cat = corpus[corpus["class"] == "cat"].iloc[0]
    assert cat["foreground_rows"][0] == cat["foreground_rows"][2]


def test_reference_cleanup_rules_give_the_reference_texts():
    corpus, strings = build_corpus(answers_frame(), CLASSES, cleanup_settings(REFERENCE_CORPUS))
    assert {(row["image_id"], row["class"]): (list(row["foreground_texts"]), list(row["background_texts"]))
            for _, row in corpus.iterrows()} == EXPECTED_REFERENCE
    assert corpus["has_background"].tolist() == [True, True, True]
    assert strings == sorted({text for pair in EXPECTED_REFERENCE.values() for texts in pair for text in texts})


def test_foreground_features_formula():
    generator = torch.Generator().manual_seed(0)
    labels = torch.nn.functional.normalize(torch.randn(3, 4, generator=generator), dim=-1)
    answers = torch.nn.functional.normalize(torch.randn(5, 4, generator=generator), dim=-1)
    label_rows = torch.tensor([2, 0])
    answer_rows = torch.tensor([[2, 3, 3], [4, 4, 4]])
    got = foreground_features(labels, label_rows, answers, answer_rows, 0.25)
    want = torch.stack([
        0.25 * labels[2] + 0.75 * (answers[2] + 2 * answers[3]) / 3,
        0.25 * labels[0] + 0.75 * answers[4],
    ])
    torch.testing.assert_close(got, want)


# --- the corpus stage end to end -------------------------------------------------------------

LABEL_WEIGHT = 0.3
STAGE_CLASSES = ["cat", "dining table", "tv monitor"]


@pytest.fixture(scope="module")
def stage_inputs(tmp_path_factory, one_torch_thread):
    """The index, the VQA answers and the demo CLIP that every corpus stage run here reads."""
    base = tmp_path_factory.mktemp("corpus_stage")
    root = base / "VOC2012"
    write_demo_dataset(str(root), STAGE_CLASSES, seed=0, num_train=2, num_train_extra=1,
                       num_val=1, min_size=48, max_size=64, max_objects=2, jpeg_quality=90)
    index = base / "index.parquet"
    dataset = {"kind": "voc12", "root": str(root), "classes": STAGE_CLASSES}
    assert main(["index", "--config", json.dumps({"dataset": dataset}), "--root", str(root), "--out", str(index)]) == 0

    output_dir = base / "results"
    paths = demo_model_paths(str(output_dir))
    write_demo_clip(paths["clip_dir"], image_size=64, seed=0)
    answers = base / "answers.parquet"
    answers_frame().to_parquet(answers, index=False)
    return {"base": base, "index": index, "answers": answers, "paths": paths, "output_dir": output_dir}


def run_stage(inputs: dict, name: str, ovseg_checkpoint: str | None = None, corpus: dict | None = None,
              ritc: dict | None = None) -> dict:
    out = inputs["base"] / name
    config = {"clip": {"model": "demo"}, "output_dir": str(inputs["output_dir"]), "device": "cpu",
              "corpus": {"label_weight": LABEL_WEIGHT, **(corpus or {})},
              "ritc": {"ovseg_checkpoint": ovseg_checkpoint, **(ritc or {})}}
    paths = inputs["paths"]
    code = main(["corpus", "--config", json.dumps(config), "--clip-model", DEMO_CLIP_NAME,
                 "--clip-pretrained", paths["clip_checkpoint"], "--clip-config-dir", paths["clip_dir"],
                 "--answers", str(inputs["answers"]),
                 "--index", str(inputs["index"]), "--corpus", str(out / "corpus.parquet"),
                 "--features", str(out / "text_features.safetensors"),
                 "--text-index", str(out / "text_index.parquet"), "--metrics", str(out / "corpus.metrics.json")])
    assert code == 0
    with safe_open(str(out / "text_features.safetensors"), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        metadata = handle.metadata()
    return {
        "corpus": pd.read_parquet(out / "corpus.parquet"),
        "text_index": pd.read_parquet(out / "text_index.parquet"),
        "tensors": tensors,
        "metadata": metadata,
        "metrics": json.loads((out / "corpus.metrics.json").read_text()),
    }


@pytest.fixture(scope="module")
def stage_run(stage_inputs):
    return run_stage(stage_inputs, "plain")


def demo_clip(paths: dict) -> torch.nn.Module:
    """The tiny CLIP of clip.*, loaded with open_clip directly."""
    open_clip.add_model_config(paths["clip_dir"])
    return open_clip.create_model(DEMO_CLIP_NAME, pretrained=paths["clip_checkpoint"]).eval()


def prompt_encoder(model: torch.nn.Module):
    """Normalised text features of "a photo of {text}." under ``model``."""
    tokenizer = open_clip.get_tokenizer(DEMO_CLIP_NAME)

    def encode(texts: list[str]) -> torch.Tensor:
        with torch.no_grad():
            features = model.encode_text(tokenizer([f"a photo of {text}." for text in texts]))
        return features / features.norm(dim=-1, keepdim=True)

    return encode


@pytest.fixture(scope="module")
def open_clip_encode(stage_inputs):
    return prompt_encoder(demo_clip(stage_inputs["paths"]))


def expected_foreground(corpus: pd.DataFrame, encode_label, encode_answers) -> torch.Tensor:
    """t_fg of every corpus row, built from the texts of EXPECTED."""
    rows = []
    for _, row in corpus.iterrows():
        foreground = EXPECTED[(row["image_id"], row["class"])][0]
        rows.append(LABEL_WEIGHT * encode_label([row["class"]])[0]
                    + (1 - LABEL_WEIGHT) * encode_answers(foreground).mean(dim=0))
    return torch.stack(rows)


def test_the_stage_writes_the_texts_it_encoded_per_second_and_its_peak_resident_memory(stage_run):
    # The rule is cacheable and has no benchmark, so the report's resources table reads this file instead.
    metrics, tensors = stage_run["metrics"], stage_run["tensors"]
    encoded = sum(len(tensors[name]) for name in ("text_features", "fixed_background_features", "label_features"))
    assert metrics["items"] == encoded and metrics["unit"] == "text" and metrics["seconds"] > 0
    assert metrics["peak_rss_mb"] > 50 and metrics["peak_gpu_memory_mb"] is None  # torch alone takes more


def test_text_index_has_one_row_per_distinct_string(stage_run):
    text_index = stage_run["text_index"]
    assert text_index["row"].tolist() == list(range(len(text_index)))
    assert not text_index["text"].duplicated().any()
    assert text_index["text"].tolist() == expected_strings()


def test_features_have_one_unit_row_per_text(stage_run):
    features = stage_run["tensors"]["text_features"]
    assert features.dtype == torch.float32
    assert features.shape == (len(stage_run["text_index"]), 32)
    torch.testing.assert_close(features.norm(dim=-1), torch.ones(len(features)), atol=1e-5, rtol=0)
    # Different texts get different features.
    assert torch.cdist(features, features).add(torch.eye(len(features))).min() > 1e-4


def test_features_equal_the_clip_text_features_of_the_prompted_texts(stage_run, open_clip_encode):
    texts = stage_run["text_index"]["text"].tolist()
    torch.testing.assert_close(stage_run["tensors"]["text_features"], open_clip_encode(texts), atol=1e-5, rtol=1e-4)
    row = texts.index("tabby cat")
    torch.testing.assert_close(stage_run["tensors"]["text_features"][row], open_clip_encode(["tabby cat"])[0],
                               atol=1e-5, rtol=1e-4)


def test_pair_foreground_uses_the_configured_label_weight(stage_run, open_clip_encode):
    corpus, tensors = stage_run["corpus"], stage_run["tensors"]
    features, labels, pair_foreground = tensors["text_features"], tensors["label_features"], tensors["pair_foreground"]
    assert pair_foreground.shape == (len(corpus), features.shape[1])
    assert json.loads(stage_run["metadata"]["label_weight"]) == LABEL_WEIGHT
    want = expected_foreground(corpus, open_clip_encode, open_clip_encode)
    torch.testing.assert_close(pair_foreground, want, atol=1e-5, rtol=1e-4)
    w = LABEL_WEIGHT
    for i, (_, row) in enumerate(corpus.iterrows()):
        also = w * labels[row["class_index"]] + (1 - w) * features[list(row["foreground_rows"])].mean(dim=0)
        torch.testing.assert_close(pair_foreground[i], also, atol=1e-6, rtol=1e-5)
        # Not renormalised: answers other than the label pull the norm below 1.
        assert pair_foreground[i].norm() < 1 - 1e-4


def test_without_an_ovseg_checkpoint_labels_use_the_clip_text_tower(stage_run, open_clip_encode):
    torch.testing.assert_close(stage_run["tensors"]["label_features"], open_clip_encode(STAGE_CLASSES),
                               atol=1e-5, rtol=1e-4)
    assert stage_run["metadata"]["label_text_tower"] == "clip.* (ritc.ovseg_checkpoint is not set)"


def test_the_fixed_background_words_are_encoded_with_the_prompt(stage_run, open_clip_encode):
    # The schema's default list: CLIMS's VOC words, stored whichever ritc.background_texts is chosen.
    words = validate_config({})["ritc"]["fixed_background_words"]
    assert words == CLIMS_VOC_BACKGROUND_WORDS
    fixed = stage_run["tensors"]["fixed_background_features"]
    assert fixed.shape == (len(words), 32) and fixed.dtype == torch.float32
    torch.testing.assert_close(fixed, open_clip_encode(words), atol=1e-5, rtol=1e-4)
    assert json.loads(stage_run["metadata"]["fixed_background_words"]) == words


def test_the_configured_fixed_background_words_change_only_their_features(stage_inputs, stage_run, open_clip_encode):
    words = ["sky", "grass", "brick wall"]
    run = run_stage(stage_inputs, "fixed_words", ritc={"fixed_background_words": words})
    torch.testing.assert_close(run["tensors"]["fixed_background_features"], open_clip_encode(words),
                               atol=1e-5, rtol=1e-4)
    assert set(run["tensors"]) == set(stage_run["tensors"])
    for key in ("text_features", "label_features", "pair_foreground"):
        assert torch.equal(run["tensors"][key], stage_run["tensors"][key]), key
    assert run["corpus"].equals(stage_run["corpus"])


def test_corpus_parquet_keeps_the_cleaned_texts(stage_run):
    corpus = stage_run["corpus"]
    assert list(corpus.columns) == CORPUS_COLUMNS
    assert list(zip(corpus["image_id"], corpus["class"])) == PAIRS
    assert corpus["class_index"].tolist() == [STAGE_CLASSES.index(name) for _, name in PAIRS]
    texts = stage_run["text_index"]["text"].tolist()
    for _, row in corpus.iterrows():
        foreground, background = EXPECTED[(row["image_id"], row["class"])]
        assert list(row["foreground_texts"]) == foreground
        assert list(row["background_texts"]) == background
        assert bool(row["has_background"]) == bool(background)
        assert [texts[k] for k in row["foreground_rows"]] == foreground
        assert [texts[k] for k in row["background_rows"]] == background


def test_the_stage_cleans_by_the_configured_rules(stage_inputs):
    run = run_stage(stage_inputs, "reference_rules", corpus=REFERENCE_CORPUS)
    for _, row in run["corpus"].iterrows():
        foreground, background = EXPECTED_REFERENCE[(row["image_id"], row["class"])]
        assert (list(row["foreground_texts"]), list(row["background_texts"])) == (foreground, background)
    assert "catamaran" in run["text_index"]["text"].tolist()


# --- the class labels under OV-Seg's text tower (the reference's net/vqa_fg.py) -------------------


@pytest.fixture(scope="module")
def ovseg_text_state(stage_inputs):
    """An OV-Seg checkpoint whose text tower differs from clip.*'s, and its path."""
    state = fake_ovseg_state(demo_clip(stage_inputs["paths"]), with_text=True)
    path = stage_inputs["base"] / "ovseg_with_text.pth"
    torch.save({"model": state}, path)
    return state, str(path)


@pytest.fixture(scope="module")
def ovseg_encode(stage_inputs, ovseg_text_state):
    """The prompt encoder of clip.*'s model with the checkpoint's text tower put in by hand."""
    state, _ = ovseg_text_state
    model = demo_clip(stage_inputs["paths"])
    text = {key.removeprefix(OVSEG_PREFIX): value for key, value in state.items()
            if key.removeprefix(OVSEG_PREFIX).startswith(OPENAI_TEXT_TOWER)}
    assert model.load_state_dict(text, strict=False).unexpected_keys == []
    return prompt_encoder(model)


@pytest.fixture(scope="module")
def ovseg_text_run(stage_inputs, ovseg_text_state):
    return run_stage(stage_inputs, "ovseg_with_text", ovseg_text_state[1])


@pytest.fixture(scope="module")
def ovseg_no_text_run(stage_inputs):
    state = fake_ovseg_state(demo_clip(stage_inputs["paths"]), with_text=False)
    path = stage_inputs["base"] / "ovseg_without_text.pth"
    torch.save({"model": state}, path)
    return run_stage(stage_inputs, "ovseg_without_text", str(path)), str(path)


def test_labels_use_the_ovseg_text_tower_and_answers_the_clip_one(ovseg_text_run, ovseg_text_state, ovseg_encode,
                                                                  open_clip_encode):
    tensors, corpus = ovseg_text_run["tensors"], ovseg_text_run["corpus"]
    texts = ovseg_text_run["text_index"]["text"].tolist()
    torch.testing.assert_close(tensors["text_features"], open_clip_encode(texts), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(tensors["label_features"], ovseg_encode(STAGE_CLASSES), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(tensors["pair_foreground"], expected_foreground(corpus, ovseg_encode, open_clip_encode),
                               atol=1e-5, rtol=1e-4)
    # The two towers really differ, so the checks above tell them apart.
    plain = expected_foreground(corpus, open_clip_encode, open_clip_encode)
    assert (tensors["pair_foreground"] - plain).abs().max() > 1e-2
    tower = ovseg_text_run["metadata"]["label_text_tower"]
    assert tower.startswith(f"the text tower of the OV-Seg checkpoint {ovseg_text_state[1]}")
    # The fixed background words are encoded as the answers are, before the label tower is loaded.
    torch.testing.assert_close(tensors["fixed_background_features"], open_clip_encode(CLIMS_VOC_BACKGROUND_WORDS),
                               atol=1e-5, rtol=1e-4)
    assert (tensors["fixed_background_features"] - ovseg_encode(CLIMS_VOC_BACKGROUND_WORDS)).abs().max() > 1e-2


def test_an_ovseg_checkpoint_without_text_keys_leaves_the_labels_to_clip(ovseg_no_text_run, open_clip_encode):
    run, path = ovseg_no_text_run
    torch.testing.assert_close(run["tensors"]["label_features"], open_clip_encode(STAGE_CLASSES), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(run["tensors"]["pair_foreground"],
                               expected_foreground(run["corpus"], open_clip_encode, open_clip_encode),
                               atol=1e-5, rtol=1e-4)
    assert run["metadata"]["label_text_tower"] == f"clip.* (the OV-Seg checkpoint {path} holds no text-tower weights)"


def corpus_job(result) -> tuple[str, dict]:
    """The input line and the --config JSON of the corpus job in a ``snakemake --dry-run --printshellcmds``."""
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    job = re.search(r"^rule corpus:\n(.*?)(?:\n\n|\nJob stats)", output, flags=re.MULTILINE | re.DOTALL).group(1)
    inputs = re.search(r"^\s*input: (.*)$", job, flags=re.MULTILINE).group(1)
    return inputs, json.loads(re.search(r"--config '(\{.*?\})' --answers", job).group(1))


@pytest.mark.parametrize("with_checkpoint", [True, False])
def test_the_corpus_rule_reads_the_ovseg_checkpoint_when_set(tmp_path, with_checkpoint):
    checkpoint = tmp_path / "ovseg.pth"
    checkpoint.touch()
    setting = str(checkpoint) if with_checkpoint else None
    config = write_config(tmp_path / "config.yaml", {"ritc": {"ovseg_checkpoint": setting}})
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = snakemake(REPO, workdir, "--configfile", config, "--dry-run", "--printshellcmds",
                       "results/corpus/text_features.safetensors")
    inputs, stage_config = corpus_job(result)
    # An input, so that editing the file reruns the stage; a config key, so that naming another one does.
    assert (str(checkpoint) in inputs.split(", ")) == with_checkpoint
    assert stage_config["ritc"] == {"ovseg_checkpoint": setting,
                                    "fixed_background_words": CLIMS_VOC_BACKGROUND_WORDS}
    # The whole corpus section travels, so the cleanup rules reach the stage with no rule change.
    assert {"lemmatise", "label_match", "background_removal"} <= set(stage_config["corpus"])
