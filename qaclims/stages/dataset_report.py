"""Class counts per split and a montage of images with their ground-truth masks overlaid."""

import numpy as np
import pandas as pd
from tqdm import tqdm

from qaclims.data.images import load_rgb
from qaclims.data.index import read_index
from qaclims.data.labels import read_label_png
from qaclims.evaluation.pictures import (
    captioned_tile,
    evenly_spaced,
    montage,
    overlay_label,
    side_by_side,
)
from qaclims.runtime.atomic import atomic_path
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "class counts per split and a ground-truth montage of the indexed dataset"
TILE_SIZE = 160


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--index", required=True, help="dataset index parquet")
    parser.add_argument("--counts", required=True, help="CSV to write: split, class, images")
    parser.add_argument("--montage", required=True, help="PNG to write")


def class_counts(index) -> pd.DataFrame:
    rows = []
    for split in index.splits:
        per_class = index.labels(index.split(split)).sum(axis=0)
        rows += [{"split": split, "class": name, "images": int(count)} for name, count in zip(index.classes, per_class)]
    return pd.DataFrame(rows, columns=["split", "class", "images"])


def run(args) -> None:
    settings = args.config["report"]
    index = read_index(args.index)
    counts = class_counts(index)
    with atomic_path(args.counts) as partial:
        counts.to_csv(partial, index=False)
    print(counts.pivot(index="class", columns="split", values="images").to_string())

    chosen = evenly_spaced(index.split(settings["montage_split"]), settings["montage_images"])
    tiles = []
    for row, labels in tqdm(zip(chosen.itertuples(), index.labels(chosen)), total=len(chosen),
                            desc="montage", unit="img"):
        picture = np.asarray(load_rgb(row.image_path))
        names = ", ".join(name for name, present in zip(index.classes, labels) if present)
        if row.mask_path is None:
            caption = f"{row.image_id}: {names} (no mask)"
        else:
            picture = side_by_side(picture, overlay_label(picture, read_label_png(row.mask_path)))
            caption = f"{row.image_id}: {names}"
        tiles.append(captioned_tile(picture, caption, 2 * TILE_SIZE, TILE_SIZE))
    with atomic_path(args.montage) as partial:
        montage(tiles, settings["montage_columns"]).save(partial, format="PNG")
    print(f"wrote {args.counts} and a montage of {len(tiles)} images to {args.montage}")
