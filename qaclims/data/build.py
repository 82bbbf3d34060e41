"""Read a configured dataset into a checked index, whatever its kind."""

from dataclasses import dataclass, field

from qaclims.data.classes import EXPECTED_SPLIT_COUNTS, VOC_CLASSES
from qaclims.data.coco import read_coco
from qaclims.data.folder import MASK_PATTERN, read_folder
from qaclims.data.index import (
    DatasetIndex,
    ImageChecks,
    check_masks_present,
    inspect_records,
    to_frame,
)
from qaclims.data.voc import read_voc
from qaclims.errors import ConfigError


@dataclass
class BuiltIndex:
    index: DatasetIndex
    warnings: list[str] = field(default_factory=list)

    def split_counts(self) -> dict[str, int]:
        return {split: len(self.index.split(split)) for split in self.index.splits}


def build_index(dataset: dict, root: str, threads: int = 1) -> BuiltIndex:
    """Read, check and tabulate the dataset described by the ``dataset`` config section."""
    kind, classes, splits = dataset["kind"], list(dataset["classes"]), list(dataset["splits"])
    unknown_mask_splits = sorted(set(dataset["mask_splits"]) - set(splits))
    if unknown_mask_splits:
        raise ConfigError(
            f"config key dataset.mask_splits: {unknown_mask_splits} are not in dataset.splits {splits}"
        )
    warnings = []
    mask_pattern = dataset["mask_pattern"]
    if kind == "demo":
        unknown = [name for name in classes if name not in VOC_CLASSES]
        if unknown:
            raise ConfigError(
                f"config key dataset.classes: {unknown} are not VOC class names, which the demo draws; choose from "
                f"{list(VOC_CLASSES)}, or use dataset.kind folder for classes of your own"
            )
    if kind in ("demo", "voc12"):
        records = read_voc(root, classes, splits, dataset["voc_split_list"], mask_pattern)
    elif kind == "folder":
        folder, mask_pattern = read_folder(root, classes, splits), MASK_PATTERN
        records = folder.records
        if folder.unlabelled:
            warnings.append(f"{len(folder.unlabelled)} images have no class and are left out of training, "
                            f"first: {folder.unlabelled[:5]}")
        if folder.unlisted:
            warnings.append(f"{len(folder.unlisted)} images are not in labels.csv and are left out, "
                            f"first: {folder.unlisted[:5]}")
    else:
        records, unlabelled = read_coco(
            root, classes, splits, dataset["coco_annotations"], dataset["coco_images"], dataset["mask_pattern"]
        )
        warnings += [f"{count} {split} images have no label and are left out of the index"
                     for split, count in unlabelled.items() if count]
    check_masks_present(records, dataset["mask_splits"], mask_pattern)
    # Only a folder's photos are turned upright and shrunk (by prepare_images) before the stages read them.
    prepared = kind == "folder"
    checks = ImageChecks(classes, dataset["decode_images"], upright=prepared,
                         max_long_side=dataset["max_long_side"] if prepared else None)
    records = inspect_records(records, checks, threads)
    unlabelled_ids = [record.image_id for record in records if not record.labels]
    if unlabelled_ids:
        warnings.append(f"{len(unlabelled_ids)} images have no object label, first: {unlabelled_ids[:5]}")
    built = BuiltIndex(DatasetIndex(to_frame(records, classes, splits), classes, splits), warnings)
    for split, count in built.split_counts().items():
        expected = EXPECTED_SPLIT_COUNTS.get(kind, {}).get(split)
        if expected is not None and count != expected:
            warnings.append(f"split {split} has {count} images; the standard {kind} split has {expected}")
    return built
