"""The finished images of a sharded stage, kept across a kill beside its output (see runtime/partial_shard.py)."""

import argparse
from pathlib import Path

import pandas as pd

from qaclims.runtime.partial_shard import PartialShard
from qaclims.runtime.work_key import code_version, work_key

# Arguments that change where items go or how fast they come, not what they hold.
RESULT_NEUTRAL = {"config", "out", "crf_out", "threads"}


def partial_shard(args: argparse.Namespace, stage_module: str, inputs: list[str],
                  parts: tuple[str, ...] = ("items",)) -> PartialShard:
    """The work folder of the shard that writes ``args.out``: ``.<name>.work`` beside it, which Snakemake does not
    own, keyed by the stage's config and code, its other arguments and its ``inputs`` files."""
    arguments = {name: value for name, value in vars(args).items() if name not in RESULT_NEUTRAL}
    key = work_key(args.config.to_dict(), code_version(stage_module), arguments, inputs)
    out = Path(args.out)
    return PartialShard(out.with_name(f".{out.name}.work"), key, parts)


def unfinished_images(frame: pd.DataFrame, done: set[str]) -> pd.DataFrame:
    """The rows of ``frame`` whose image is not done, saying how many a rerun keeps."""
    kept = frame["image_id"].isin(done).to_numpy()
    if kept.any():
        print(f"kept {kept.sum()} of {len(frame)} images that an interrupted run finished; "
              f"doing the other {len(frame) - kept.sum()}")
    return frame[~kept]
