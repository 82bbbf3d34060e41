"""The vqa and vqa-merge stages on a tiny demo dataset with the tiny demo BLIP; sharding."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from qaclims.cli import main
from qaclims.data.images import load_rgb
from qaclims.data.index import label_column, read_index, write_index
from qaclims.demo.dataset import write_demo_dataset
from qaclims.errors import QaclimsError
from qaclims.models.demo_blip import write_demo_blip
from qaclims.run_layout import demo_model_paths, vqa_model_source
from qaclims.runtime.sharding import shard_items
from qaclims.vqa.answering import BlipAnswerer, GenerationSettings, load_blip
from qaclims.vqa.blip_checkpoint import write_original_checkpoint
from qaclims.vqa.questions import BACKGROUND_TEMPLATES, FOREGROUND_TEMPLATES

CLASSES = ["cat", "dog", "person"]
COLUMNS = ["image_id", "class", "kind", "template_index", "question", "answer", "raw_answer"]
KEY = ["image_id", "class", "kind", "template_index"]
MAX_NEW_TOKENS = 3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("vqa_stage")
    root = base / "VOC2012"
    splits = write_demo_dataset(str(root), CLASSES, seed=2, num_train=3, num_train_extra=2, num_val=2,
                                min_size=48, max_size=64, max_objects=3, jpeg_quality=90)
    index = base / "index.parquet"
    dataset = {"kind": "voc12", "root": str(root), "classes": CLASSES}
    assert main(["index", "--config", json.dumps({"dataset": dataset}), "--root", str(root), "--out", str(index)]) == 0
    output_dir = base / "results"
    write_demo_blip(demo_model_paths(str(output_dir))["blip"], image_size=64, seed=0)
    config = json.dumps({
        "vqa": {"model": "demo", "image_size": 64, "max_new_tokens": MAX_NEW_TOKENS,
                "image_batch_size": 2, "batch_size": 5},
        "output_dir": str(output_dir), "device": "cpu",
    })
    return {"base": base, "index": index, "config": config, "splits": splits, "output_dir": output_dir}


def run_vqa(setup, out, index=None, shard=0, num_shards=1, **vqa) -> int:
    config = json.loads(setup["config"])
    config["vqa"].update(vqa)
    return main(["vqa", "--config", json.dumps(config), "--model", vqa_model_source(config), "--index", str(index or setup["index"]),
                 "--shard", str(shard), "--num-shards", str(num_shards), "--out", str(out)])


@pytest.fixture(scope="module")
def shards(setup):
    paths = [setup["base"] / "vqa" / f"shard_{k}.parquet" for k in range(2)]
    for k, path in enumerate(paths):
        assert run_vqa(setup, path, shard=k, num_shards=2) == 0
    return paths


def expected_questions(class_name: str) -> list[tuple[str, int, str]]:
    return ([("fg", k, t.format(class_name)) for k, t in enumerate(FOREGROUND_TEMPLATES)]
            + [("bg", k, t.format(class_name)) for k, t in enumerate(BACKGROUND_TEMPLATES)])


def labels_of(index_path) -> dict[str, list[str]]:
    index = read_index(str(index_path))
    labels = index.labels()
    return {image_id: [c for c, on in zip(index.classes, row) if on]
            for image_id, row in zip(index.frame["image_id"], labels)}


def test_shards_partition_the_labelled_train_aug_images(setup, shards):
    frames = [pd.read_parquet(path) for path in shards]
    ids = [set(frame["image_id"]) for frame in frames]
    assert ids[0] and ids[1]
    assert not ids[0] & ids[1]
    labels = labels_of(setup["index"])
    wanted = {image_id for image_id in setup["splits"]["train_aug"] if labels[image_id]}
    assert ids[0] | ids[1] == wanted
    assert not (ids[0] | ids[1]) & set(setup["splits"]["val"])
    # Contiguous shards of the id-sorted list.
    assert max(ids[0]) < min(ids[1])


def test_rows_per_image_are_its_labels_times_the_sixteen_questions(setup, shards):
    labels = labels_of(setup["index"])
    answers = pd.concat([pd.read_parquet(path) for path in shards], ignore_index=True)
    assert list(answers.columns) == COLUMNS
    for image_id, rows in answers.groupby("image_id"):
        assert len(rows) == 16 * len(labels[image_id])
        assert sorted(set(rows["class"])) == sorted(labels[image_id])
        for class_name, asked in rows.groupby("class"):
            got = list(zip(asked["kind"], asked["template_index"], asked["question"]))
            assert got == expected_questions(class_name)
    # The configured max_new_tokens reaches the decoder.
    assert all(1 <= len(answer.split()) <= MAX_NEW_TOKENS for answer in answers["answer"])
    # BLIP's answers are kept as it gives them.
    assert answers["answer"].equals(answers["raw_answer"])


def test_answers_are_those_of_one_question_at_a_time(setup, shards):
    model, processor = load_blip(demo_model_paths(str(setup["output_dir"]))["blip"], torch.device("cpu"))
    answerer = BlipAnswerer(model, processor, GenerationSettings(image_size=64, max_new_tokens=MAX_NEW_TOKENS))
    index = read_index(str(setup["index"]))
    path_of = dict(zip(index.frame["image_id"], index.frame["image_path"]))
    answers = pd.concat([pd.read_parquet(path) for path in shards], ignore_index=True)
    assert answers["answer"].nunique() > 3
    for image_id, rows in answers.groupby("image_id"):
        image = load_rgb(path_of[image_id])
        assert [answerer.answer_one(image, q) for q in rows["question"]] == rows["answer"].tolist(), image_id


def test_question_start_token_cls_reaches_the_answers(setup, shards, tmp_path):
    out = tmp_path / "shard_0.parquet"
    assert run_vqa(setup, out, shard=0, num_shards=2, question_start_token="cls") == 0
    answers, enc_answers = pd.read_parquet(out), pd.read_parquet(shards[0])
    assert answers[KEY].equals(enc_answers[KEY]) and not answers["answer"].equals(enc_answers["answer"])
    model, processor = load_blip(demo_model_paths(str(setup["output_dir"]))["blip"], torch.device("cpu"))
    answerer = BlipAnswerer(model, processor, GenerationSettings(image_size=64, max_new_tokens=MAX_NEW_TOKENS,
                                                                 question_start_token="cls"))
    index = read_index(str(setup["index"]))
    image = load_rgb(dict(zip(index.frame["image_id"], index.frame["image_path"]))[answers["image_id"][0]])
    first = answers[answers["image_id"] == answers["image_id"][0]]
    assert [answerer.answer_one(image, q) for q in first["question"]] == first["answer"].tolist()


def test_an_original_checkpoint_of_the_demo_blip_gives_the_demo_answers(setup, shards, tmp_path):
    demo = demo_model_paths(str(setup["output_dir"]))["blip"]
    checkpoint = tmp_path / "weights" / "model_base_vqa_capfilt_large.pth"
    checkpoint.parent.mkdir()
    write_original_checkpoint(load_blip(demo, torch.device("cpu"))[0], str(checkpoint))
    out = tmp_path / "shard_0.parquet"
    assert run_vqa(setup, out, shard=0, num_shards=2, model=str(checkpoint), processor=demo) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(shards[0]))


def test_merge_gives_the_sorted_concatenation(setup, shards):
    merged_path = setup["base"] / "vqa" / "answers.parquet"
    # Shards given in reverse order still merge into one sorted table.
    assert main(["vqa-merge", "--shards", str(shards[1]), str(shards[0]), "--out", str(merged_path)]) == 0
    merged = pd.read_parquet(merged_path)
    expected = pd.concat([pd.read_parquet(path) for path in shards], ignore_index=True)
    expected = expected.sort_values(KEY, ignore_index=True)
    pd.testing.assert_frame_equal(merged, expected)
    keys = list(merged[KEY].itertuples(index=False, name=None))
    assert keys == sorted(keys)
    assert not merged.duplicated(KEY).any()


def test_merge_rejects_overlapping_shards(setup, shards, capsys, tmp_path):
    out = tmp_path / "answers.parquet"
    assert main(["vqa-merge", "--shards", str(shards[0]), str(shards[0]), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "more than one shard" in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_more_shards_than_images_gives_empty_shards_that_merge(setup, shards, tmp_path):
    images = len(setup["splits"]["train_aug"])
    empty = tmp_path / "empty.parquet"
    # Shard 0 of images + 1 near-equal parts holds no image.
    assert run_vqa(setup, empty, shard=0, num_shards=images + 1) == 0
    frame = pd.read_parquet(empty)
    assert list(frame.columns) == COLUMNS and len(frame) == 0
    merged_path = tmp_path / "answers.parquet"
    assert main(["vqa-merge", "--shards", str(empty), str(shards[0]), str(shards[1]), "--out", str(merged_path)]) == 0
    merged = pd.read_parquet(merged_path)
    expected = pd.concat([pd.read_parquet(path) for path in shards], ignore_index=True)
    assert len(merged) == len(expected)
    assert pd.api.types.is_integer_dtype(merged["template_index"])
    assert merged["template_index"].tolist() == expected.sort_values(KEY)["template_index"].tolist()


def test_an_image_without_labels_gets_no_rows(setup, tmp_path):
    index = read_index(str(setup["index"]))
    chosen = setup["splits"]["train_aug"][1]
    frame = index.frame.copy()
    for class_name in index.classes:
        frame.loc[frame["image_id"] == chosen, label_column(class_name)] = 0
    index.frame = frame
    edited = tmp_path / "index.parquet"
    write_index(index, str(edited))
    labels = labels_of(edited)
    assert labels[chosen] == []

    out = tmp_path / "answers.parquet"
    assert run_vqa(setup, out, index=edited) == 0
    answers = pd.read_parquet(out)
    assert chosen not in set(answers["image_id"])
    others = {i for i in setup["splits"]["train_aug"] if i != chosen and labels[i]}
    assert set(answers["image_id"]) == others
    assert len(answers) == 16 * sum(len(labels[i]) for i in others)


def test_a_missing_image_fails_naming_it_and_the_rerun_says_which_groups_it_kept(setup, tmp_path, capsys):
    index = read_index(str(setup["index"]))
    chosen = sorted(setup["splits"]["train_aug"])[2]  # in the second group of two images
    original = index.frame.set_index("image_id").loc[chosen, "image_path"]
    missing = tmp_path / "gone" / f"{chosen}.jpg"
    frame = index.frame.copy()
    frame.loc[frame["image_id"] == chosen, "image_path"] = str(missing)
    index.frame = frame
    edited = tmp_path / "index.parquet"
    write_index(index, str(edited))
    out_dir = tmp_path / "vqa"
    out = out_dir / "shard_0.parquet"
    assert run_vqa(setup, out, index=edited) == 2
    assert str(missing) in capsys.readouterr().err
    assert not out.exists()
    # Only the hidden work folder, which keeps the answered groups for the rerun, stays beside it.
    assert [path.name for path in out_dir.iterdir()] == [f".{out.name}.work"]
    missing.parent.mkdir()
    missing.write_bytes(Path(original).read_bytes())
    assert run_vqa(setup, out, index=edited) == 0
    groups = -(-len(setup["splits"]["train_aug"]) // 2)
    assert f"kept 1 of {groups} question groups (2 images each) that an interrupted run finished" in (
        capsys.readouterr().out)


def test_an_out_of_range_shard_is_reported_without_a_traceback(setup, tmp_path, capsys):
    out = tmp_path / "shard_2.parquet"
    assert run_vqa(setup, out, shard=2, num_shards=2) == 2
    assert "shard" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("length, num_shards", [(0, 1), (0, 3), (1, 1), (1, 4), (5, 2), (7, 3), (10, 10),
                                                (11, 4), (3, 8), (100, 7)])
def test_shard_items_covers_every_item_exactly_once(length, num_shards):
    items = list(range(length))
    parts = [shard_items(items, k, num_shards) for k in range(num_shards)]
    assert [x for part in parts for x in part] == items
    sizes = [len(part) for part in parts]
    assert max(sizes) - min(sizes) <= 1


def test_shard_items_on_a_frame_keeps_rows_in_order():
    frame = pd.DataFrame({"image_id": [f"id{k}" for k in range(9)]})
    parts = [shard_items(frame, k, 4) for k in range(4)]
    assert pd.concat(parts)["image_id"].tolist() == frame["image_id"].tolist()


@pytest.mark.parametrize("shard, num_shards", [(-1, 2), (2, 2), (5, 3), (0, 0)])
def test_shard_items_rejects_an_out_of_range_shard(shard, num_shards):
    with pytest.raises(QaclimsError, match="shard"):
        shard_items(list(range(10)), shard, num_shards)


def test_labels_of_the_demo_index_are_nonempty(setup):
    # Guards the tests above: with no labelled images every shard would be trivially empty.
    labels = labels_of(setup["index"])
    assert sum(bool(labels[i]) for i in setup["splits"]["train_aug"]) == len(setup["splits"]["train_aug"])
    assert any(len(labels[i]) > 1 for i in setup["splits"]["train_aug"])
    assert np.mean([len(labels[i]) for i in setup["splits"]["train_aug"]]) >= 1
