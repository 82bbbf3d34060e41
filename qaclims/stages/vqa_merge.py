"""Merge the VQA shards into one answers table."""

import pandas as pd

from qaclims.errors import QaclimsError
from qaclims.runtime.atomic import atomic_path

DESCRIPTION = "merge VQA shard files into vqa/answers.parquet"
KEY = ["image_id", "class", "kind", "template_index"]


def add_arguments(parser) -> None:
    parser.add_argument("--shards", nargs="+", required=True, help="shard parquet files")
    parser.add_argument("--out", required=True)


def run(args) -> None:
    answers = pd.concat([pd.read_parquet(path) for path in args.shards], ignore_index=True)
    repeated = answers[answers.duplicated(KEY, keep=False)]
    if not repeated.empty:
        raise QaclimsError(
            f"{len(repeated)} answers appear in more than one shard, first: "
            f"{repeated[KEY].head(3).to_dict('records')}; rerun the VQA stage with one shard count"
        )
    answers = answers.sort_values(KEY, ignore_index=True)
    with atomic_path(args.out) as partial:
        answers.to_parquet(partial, index=False)
    print(f"merged {len(args.shards)} shards: {len(answers)} answers into {args.out}")
