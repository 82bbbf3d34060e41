"""The pseudo labels of the training split in one flat folder, laid out as segmentation codebases read VOC's
augmented labels: SegmentationClassAug/, JPEGImages/ and an image list."""

import os

from qaclims.data.index import read_index
from qaclims.data.stage_outputs import files_by_image
from qaclims.runtime.atomic import atomic_directory
from qaclims.runtime.links import link_or_copy
from qaclims.stages.shared.arguments import add_config_argument

DESCRIPTION = "export the pseudo labels of seg.split as SegmentationClassAug/, JPEGImages/ and an image list"
LABELS_FOLDER = "SegmentationClassAug"
IMAGES_FOLDER = "JPEGImages"
LIST_FOLDER = os.path.join("ImageSets", "Segmentation")


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    parser.add_argument("--index", required=True)
    parser.add_argument("--labels", nargs="+", required=True, help="pseudo_label shard folders")
    parser.add_argument("--out", required=True, help="folder to write")


def run(args) -> None:
    split = args.config["seg"]["split"]
    frame = read_index(args.index).split(split).sort_values("image_id")
    label_paths = files_by_image(args.labels, frame["image_id"], ".png", "pseudo_label")
    links = 0
    with atomic_directory(args.out) as out:
        for folder in (LABELS_FOLDER, IMAGES_FOLDER, LIST_FOLDER):
            os.makedirs(out / folder)
        for image_id, image_path in zip(frame["image_id"], frame["image_path"]):
            links += link_or_copy(label_paths[image_id], out / LABELS_FOLDER / f"{image_id}.png")
            suffix = os.path.splitext(image_path)[1]
            links += link_or_copy(image_path, out / IMAGES_FOLDER / f"{image_id}{suffix}")
        (out / LIST_FOLDER / f"{split}.txt").write_text("".join(f"{image_id}\n" for image_id in frame["image_id"]))
    copies = 2 * len(frame) - links
    print(f"exported the pseudo labels and images of {len(frame)} {split} images into {args.out} "
          f"({links} hard links, {copies} copies where the file system allows no link)")
