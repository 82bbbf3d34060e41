"""An output folder that is a file (in the workflow, or under a stage's --out), and a full disk, end in one line that
names the path, not a traceback."""

import errno
from pathlib import Path

import pandas as pd
import pytest
from workflow_runs import REPO, snakemake, write_config

from qaclims.cli import main
from qaclims.errors import ConfigError, QaclimsError
from qaclims.run_layout import check_output_dir
from qaclims.runtime.atomic import atomic_path
from qaclims.runtime.partial_shard import PartialShard


@pytest.mark.parametrize("output_dir", ["results", "results/run"])
def test_a_file_where_the_output_folder_or_one_of_its_parents_should_be_is_a_config_error(tmp_path, output_dir):
    (tmp_path / "results").write_text("not a folder")
    with pytest.raises(ConfigError, match=f"output_dir: {tmp_path / 'results'} is a file"):
        check_output_dir(str(tmp_path / output_dir))
    check_output_dir(str(tmp_path / "elsewhere" / "run"))


def test_an_output_folder_that_cannot_be_written_is_a_config_error_naming_the_folder():
    # /sys takes no new files, not even from root, whom permission bits would let through.
    with pytest.raises(ConfigError, match="config key output_dir: cannot write in /sys .*choose another output_dir"):
        check_output_dir("/sys/qaclims-results")


def test_the_workflow_refuses_an_output_folder_that_is_a_file_before_any_job(tmp_path):
    (tmp_path / "results").write_text("not a folder")
    config = write_config(tmp_path / "config.yaml", {"output_dir": "results"})
    result = snakemake(REPO, tmp_path, "--configfile", config, "--dry-run")
    assert result.returncode != 0
    assert f"config key output_dir: {tmp_path / 'results'} is a file" in result.stdout + result.stderr


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_during_an_atomic_write_names_the_file_and_leaves_no_partial_one(tmp_path):
    target = tmp_path / "table.parquet"
    with pytest.raises(QaclimsError, match=f"no space left to write {target} "):
        with atomic_path(target) as partial:
            partial.write_text("half")
            no_space()
    assert list(tmp_path.iterdir()) == []


def answer_shard(folder) -> Path:
    """A VQA answer shard of one row, for vqa-merge to merge."""
    shard = folder / "shard-0.parquet"
    pd.DataFrame({"image_id": ["a"], "class": ["cat"], "kind": ["fg"], "template_index": [0]}).to_parquet(shard)
    return shard


def test_a_stage_that_fills_the_disk_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    shard = answer_shard(tmp_path)
    monkeypatch.setattr(pd.DataFrame, "to_parquet", no_space)
    out = tmp_path / "answers.parquet"
    assert main(["vqa-merge", "--shards", str(shard), "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"qaclims vqa-merge: error: no space left to write {out} (No space left on device); free some and run again"]


def test_a_stage_whose_out_lies_under_a_file_says_so_in_one_line(tmp_path, capsys):
    shard = answer_shard(tmp_path)
    (tmp_path / "results").write_text("not a folder")
    out = tmp_path / "results" / "vqa" / "answers.parquet"
    assert main(["vqa-merge", "--shards", str(shard), "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"qaclims vqa-merge: error: cannot make the folder {out.parent}: {tmp_path / 'results'} is a file; move the "
        "file or choose another output path"]


def test_a_kept_shard_work_folder_under_a_file_names_the_file(tmp_path):
    (tmp_path / "cams").write_text("not a folder")
    with pytest.raises(QaclimsError, match=f"{tmp_path / 'cams'} is a file"):
        PartialShard(tmp_path / "cams" / ".shard-0.work", "key")
