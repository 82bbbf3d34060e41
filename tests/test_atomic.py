"""Atomic writes: a file or folder appears complete or not at all."""

import pytest

from qaclims.runtime.atomic import atomic_directory, atomic_path, write_text


class Boom(Exception):
    pass


def test_atomic_path_renames_on_success(tmp_path):
    target = tmp_path / "out" / "table.csv"
    with atomic_path(target) as partial:
        assert partial.parent == target.parent  # same folder, so the rename is atomic
        assert partial.suffix == ".csv"          # writers that infer the format still work
        assert partial != target
        partial.write_text("a,b\n")
        assert not target.exists()
    assert target.read_text() == "a,b\n"
    assert [p.name for p in target.parent.iterdir()] == ["table.csv"]


def test_atomic_path_leaves_nothing_when_the_body_raises(tmp_path):
    target = tmp_path / "table.csv"
    with pytest.raises(Boom):
        with atomic_path(target) as partial:
            partial.write_text("half")
            raise Boom()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_the_old_file_when_the_body_raises(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(Boom):
        with atomic_path(target) as partial:
            partial.write_text("new")
            raise Boom()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_atomic_path_replaces_an_old_file_on_success(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with atomic_path(str(target)) as partial:
        partial.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_write_text(tmp_path):
    write_text(tmp_path / "a" / "note.txt", "hello")
    assert (tmp_path / "a" / "note.txt").read_text() == "hello"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["note.txt"]


def test_atomic_directory_creates_a_new_directory(tmp_path):
    target = tmp_path / "dataset"
    with atomic_directory(target) as staging:
        assert staging.is_dir() and list(staging.iterdir()) == []
        assert staging.parent == tmp_path
        (staging / "sub").mkdir()
        (staging / "sub" / "file.txt").write_text("x")
        assert not target.exists()
    assert (target / "sub" / "file.txt").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]


def test_atomic_directory_replaces_an_existing_directory_as_a_whole(tmp_path):
    target = tmp_path / "dataset"
    (target / "old_sub").mkdir(parents=True)
    (target / "old.txt").write_text("old")
    (target / "old_sub" / "deep.txt").write_text("old")
    with atomic_directory(target) as staging:
        (staging / "new.txt").write_text("new")
        assert (target / "old.txt").read_text() == "old"  # untouched while the body runs
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert (target / "new.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]


def test_atomic_directory_keeps_the_old_directory_when_the_body_raises(tmp_path):
    target = tmp_path / "dataset"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(Boom):
        with atomic_directory(target) as staging:
            (staging / "new.txt").write_text("new")
            raise Boom()
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]
    assert (target / "old.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]  # no staging folder left


def test_atomic_directory_leaves_nothing_when_a_new_one_fails(tmp_path):
    target = tmp_path / "dataset"
    with pytest.raises(Boom):
        with atomic_directory(target) as staging:
            (staging / "new.txt").write_text("new")
            raise Boom()
    assert list(tmp_path.iterdir()) == []


def test_atomic_directory_clears_a_stale_staging_folder(tmp_path):
    target = tmp_path / "dataset"
    with atomic_directory(target) as staging:
        stale_name = staging.name
    # A staging folder left by a killed run with the same name is emptied first.
    stale = tmp_path / stale_name
    stale.mkdir()
    (stale / "stale.txt").write_text("stale")
    with atomic_directory(target) as staging:
        assert list(staging.iterdir()) == []
        (staging / "fresh.txt").write_text("fresh")
    assert sorted(p.name for p in target.iterdir()) == ["fresh.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]
