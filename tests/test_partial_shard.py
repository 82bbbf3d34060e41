"""A shard's finished items wait in a work folder of their key and move into the outputs when all are done."""

import os

from qaclims.runtime.partial_shard import PartialShard
from qaclims.runtime.work_key import work_key


def test_done_items_are_those_finished_in_every_part_and_not_partial_writes(tmp_path):
    shard = PartialShard(tmp_path / "work", "key", ("raw", "crf"))
    for name in ("a", "b"):
        (shard.part("raw") / f"{name}.png").write_bytes(b"raw")
    (shard.part("crf") / "a.png").write_bytes(b"crf")
    (shard.part("crf") / ".b.partial-7.png").write_bytes(b"half")
    assert shard.done() == {"a"}


def test_items_survive_a_new_start_under_the_same_key_and_not_under_another(tmp_path):
    (PartialShard(tmp_path / "work", "one").part("items") / "a.npz").write_bytes(b"cams")
    assert PartialShard(tmp_path / "work", "one").done() == {"a"}
    assert PartialShard(tmp_path / "work", "two").done() == set()
    assert os.listdir(tmp_path / "work") == ["two"]


def test_the_finished_parts_replace_the_outputs_and_the_work_folder_goes(tmp_path):
    shard = PartialShard(tmp_path / ".out.work", "key", ("raw", "crf"))
    (shard.part("raw") / "a.png").write_bytes(b"raw")
    (shard.part("crf") / "a.png").write_bytes(b"crf")
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "stale.png").write_bytes(b"old")
    shard.move_to({"raw": tmp_path / "raw", "crf": tmp_path / "crf"})
    assert os.listdir(tmp_path / "raw") == ["a.png"] and (tmp_path / "crf" / "a.png").read_bytes() == b"crf"
    assert not (tmp_path / ".out.work").exists()


def test_the_key_follows_config_code_arguments_and_each_input_file(tmp_path):
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"first")
    key = work_key({"a": 1}, "code", {"shard": 0}, [str(weights)])
    assert work_key({"a": 1}, "code", {"shard": 0}, [str(weights)]) == key
    changed = [work_key({"a": 2}, "code", {"shard": 0}, [str(weights)]),
               work_key({"a": 1}, "edited", {"shard": 0}, [str(weights)]),
               work_key({"a": 1}, "code", {"shard": 1}, [str(weights)])]
    # A retrained network is written to a new file and renamed over the old one.
    rewritten = tmp_path / "rewritten.pt"
    rewritten.write_bytes(b"first")
    os.replace(rewritten, weights)
    changed.append(work_key({"a": 1}, "code", {"shard": 0}, [str(weights)]))
    assert len({key, *changed}) == 5
