"""The site file of a rehearsal: the preset's recipe with only its amounts of work shrunk.

Every architecture, crop size, scale, image size, learning rate and loss weight stays the preset's. What
shrinks: the images (a generated dataset), the epochs (one), DeepLab's iterations, the shards (one job per
rule) and the batch sizes, which are capped so that a training step fits a small machine.
"""

from dataclasses import dataclass

from qaclims.config import merge

# (section path, key) of every batch size that a training step takes whole.
TRAINING_BATCHES = ((("cam", "baseline"), "batch_size"), (("ritc",), "batch_size"), (("irn",), "batch_size"),
                    (("seg",), "batch_size"))
EPOCHS = ((("cam", "baseline"), "epochs"), (("ritc",), "epochs"), (("irn",), "epochs"))
SHARDED = ("vqa", "make_cam", "ir_label", "pseudo_label", "infer_seg")


@dataclass(frozen=True)
class Amounts:
    """How much work the rehearsal does: images per split, a cap on the training batch sizes (None keeps the
    preset's), DeepLab's iterations."""
    images: dict[str, int]
    batch_cap: int | None
    seg_iterations: int


def _section(config: dict, path: tuple[str, ...]) -> dict:
    for key in path:
        config = config[key]
    return config


def _nested(path: tuple[str, ...], key: str, value) -> dict:
    entry = {key: value}
    for name in reversed(path):
        entry = {name: entry}
    return entry


def shrunk_amounts(preset: dict, amounts: Amounts) -> dict:
    """The keys that shrink the preset's work to ``amounts``: one epoch, capped batches, one shard per rule.

    A batch is capped also by the images of its training split, so that every epoch has a step.
    """
    site = {"seg": {"iterations": amounts.seg_iterations}}
    for path, key in TRAINING_BATCHES:
        section = _section(preset, path)
        split = section.get("split", preset["make_cam"]["split"])  # the boundary network trains on the CAMs' split
        cap = min(section[key], amounts.images[split], amounts.batch_cap or section[key])
        site = merge(site, _nested(path, key, cap))
    for path, key in EPOCHS:
        site = merge(site, _nested(path, key, 1))
    for name in SHARDED:
        site = merge(site, {name: {"shards": 1}})
    return site


def site_config(preset: dict, amounts: Amounts, dataset_root: str, output_dir: str, model_keys: dict,
                device: str, gpus: int) -> dict:
    """The whole site file: where the data, the weights and the outputs are, the device, and the shrunk work.

    ``gpus`` over 1 trains RITC with DDP, as the reference does on two GPUs.
    """
    site = merge({"output_dir": output_dir, "device": device, "dataset": {"root": dataset_root}}, model_keys)
    site = merge(site, shrunk_amounts(preset, amounts))
    return merge(site, {"ritc": {"gpus": gpus}}) if gpus > 1 else site
