"""The text corpus: cleaned texts per (image, class) pair, and the corpus stage's CLIP features."""

import json

import open_clip
import pandas as pd
import pytest
import torch
from safetensors import safe_open

from qaclims.cli import main
from qaclims.config import DEMO_CLIP_NAME, demo_model_paths
from qaclims.data.demo import write_demo_dataset
from qaclims.models.demo import write_demo_clip
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
    texts = {text for foreground, background in EXPECTED.values() for text in (*foreground, *background)}
    return sorted(texts | {class_name for _, class_name in EXPECTED})


@pytest.fixture(scope="module")
def built():
    frame = answers_frame()
    assert frame["template_index"].tolist() != sorted(frame["template_index"].tolist())
    return build_corpus(frame, CLASSES, SYNONYMS)


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
        class_name = row["class"]
        assert strings[row["label_row"]] == class_name
        assert [strings[k] for k in row["foreground_rows"]] == list(row["foreground_texts"])
        assert [strings[k] for k in row["background_rows"]] == list(row["background_texts"])
    # A duplicated foreground answer refers to one feature row twice.
    cat = corpus[corpus["class"] == "cat"].iloc[0]
    assert cat["foreground_rows"][0] == cat["foreground_rows"][2]


def test_foreground_features_formula():
    features = torch.nn.functional.normalize(torch.randn(5, 4, generator=torch.Generator().manual_seed(0)), dim=-1)
    label_rows = torch.tensor([0, 1])
    answer_rows = torch.tensor([[2, 3, 3], [4, 4, 4]])
    got = foreground_features(features, label_rows, answer_rows, 0.25)
    want = torch.stack([
        0.25 * features[0] + 0.75 * (features[2] + 2 * features[3]) / 3,
        0.25 * features[1] + 0.75 * features[4],
    ])
    torch.testing.assert_close(got, want)


# --- the corpus stage end to end -------------------------------------------------------------

LABEL_WEIGHT = 0.3


@pytest.fixture(scope="module")
def stage_run(tmp_path_factory, one_torch_thread):
    base = tmp_path_factory.mktemp("corpus_stage")
    output_dir = base / "results"
    root = base / "VOC2012"
    write_demo_dataset(str(root), ["cat", "dining table", "tv monitor"], seed=0, num_train=2, num_train_extra=1,
                       num_val=1, min_size=48, max_size=64, max_objects=2, jpeg_quality=90)
    index = base / "index.parquet"
    dataset = {"kind": "voc12", "root": str(root), "classes": ["cat", "dining table", "tv monitor"]}
    assert main(["index", "--config", json.dumps({"dataset": dataset}), "--out", str(index)]) == 0

    paths = demo_model_paths(str(output_dir))
    write_demo_clip(paths["clip_dir"], image_size=64, seed=0)
    answers = base / "answers.parquet"
    answers_frame().to_parquet(answers, index=False)
    out = {name: base / "corpus" / name for name in ("corpus.parquet", "text_features.safetensors",
                                                      "text_index.parquet")}
    config = {"clip": {"model": "demo"}, "output_dir": str(output_dir), "device": "cpu",
              "corpus": {"label_weight": LABEL_WEIGHT}}
    code = main(["corpus", "--config", json.dumps(config), "--answers", str(answers), "--index", str(index),
                 "--corpus", str(out["corpus.parquet"]), "--features", str(out["text_features.safetensors"]),
                 "--text-index", str(out["text_index.parquet"])])
    assert code == 0
    with safe_open(str(out["text_features.safetensors"]), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        metadata = handle.metadata()
    return {
        "paths": paths,
        "corpus": pd.read_parquet(out["corpus.parquet"]),
        "text_index": pd.read_parquet(out["text_index.parquet"]),
        "tensors": tensors,
        "metadata": metadata,
    }


@pytest.fixture(scope="module")
def open_clip_encode(stage_run):
    """The tiny CLIP's own normalised text features, computed with open_clip directly."""
    paths = stage_run["paths"]
    open_clip.add_model_config(paths["clip_dir"])
    model = open_clip.create_model(DEMO_CLIP_NAME, pretrained=paths["clip_checkpoint"]).eval()
    tokenizer = open_clip.get_tokenizer(DEMO_CLIP_NAME)

    def encode(texts: list[str]) -> torch.Tensor:
        with torch.no_grad():
            features = model.encode_text(tokenizer([f"a photo of {text}." for text in texts]))
        return features / features.norm(dim=-1, keepdim=True)

    return encode


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
    corpus, features = stage_run["corpus"], stage_run["tensors"]["text_features"]
    pair_foreground = stage_run["tensors"]["pair_foreground"]
    assert pair_foreground.shape == (len(corpus), features.shape[1])
    assert json.loads(stage_run["metadata"]["label_weight"]) == LABEL_WEIGHT
    w = LABEL_WEIGHT
    for i, (_, row) in enumerate(corpus.iterrows()):
        class_name = row["class"]
        foreground = EXPECTED[(row["image_id"], class_name)][0]
        # Built from the texts, not from the stored rows.
        label = open_clip_encode([class_name])[0]
        answers = open_clip_encode(foreground)
        want = w * label + (1 - w) * answers.mean(dim=0)
        torch.testing.assert_close(pair_foreground[i], want, atol=1e-5, rtol=1e-4)
        also = w * features[row["label_row"]] + (1 - w) * features[list(row["foreground_rows"])].mean(dim=0)
        torch.testing.assert_close(pair_foreground[i], also, atol=1e-6, rtol=1e-5)
        # Not renormalised: answers other than the label pull the norm below 1.
        assert pair_foreground[i].norm() < 1 - 1e-4


def test_corpus_parquet_keeps_the_cleaned_texts(stage_run):
    corpus = stage_run["corpus"]
    assert list(corpus.columns) == CORPUS_COLUMNS
    assert list(zip(corpus["image_id"], corpus["class"])) == PAIRS
    texts = stage_run["text_index"]["text"].tolist()
    for _, row in corpus.iterrows():
        foreground, background = EXPECTED[(row["image_id"], row["class"])]
        assert list(row["foreground_texts"]) == foreground
        assert list(row["background_texts"]) == background
        assert bool(row["has_background"]) == bool(background)
        assert [texts[k] for k in row["foreground_rows"]] == foreground
        assert [texts[k] for k in row["background_rows"]] == background
        assert texts[row["label_row"]] == row["class"]
