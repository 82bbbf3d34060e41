"""The training sets of the stages: which images of the index, with which labels, augmented how."""

from collections.abc import Mapping

from qaclims.config import settings_from
from qaclims.data.stage_outputs import files_by_image
from qaclims.train.data import (
    Augmentation,
    ClassificationDataset,
    LabelledImageDataset,
    ScaleAugmentation,
)


def labelled_images(index, split: str):
    """The split's images that carry at least one label, and their [N, C] multi-hot labels."""
    frame = index.split(split)
    labels = index.labels(frame)
    labelled = labels.any(axis=1)
    return frame[labelled].reset_index(drop=True), labels[labelled]


def classification_set(index, section: Mapping, seed: int) -> tuple[ClassificationDataset, list[str]]:
    """The labelled images of the section's split with their class labels, and their image ids in sample order."""
    frame, labels = labelled_images(index, section["split"])
    augmentation = settings_from(Augmentation, section, resize_long=tuple(section["resize_long"]))
    return ClassificationDataset(list(frame["image_path"]), labels, augmentation, seed), list(frame["image_id"])


def label_map_set(index, split: str, label_folders: list[str], producer: str, section: Mapping, seed: int,
                  label_stride: int) -> LabelledImageDataset:
    """Every image of ``split``, in image id order, with the label map PNG that the stage ``producer`` wrote for it
    into one of ``label_folders``; labels are kept at ``label_stride``, the stride of the network's output."""
    frame = index.split(split).sort_values("image_id").reset_index(drop=True)
    label_paths = files_by_image(label_folders, frame["image_id"], ".png", producer)
    augmentation = settings_from(ScaleAugmentation, section, scale_range=tuple(section["scale_range"]),
                                 label_stride=label_stride)
    return LabelledImageDataset(list(frame["image_path"]), [label_paths[i] for i in frame["image_id"]],
                                augmentation, seed)
