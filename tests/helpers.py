"""Test helpers: a small indexed dataset, CAM files made up from its masks, a training killed mid-way,
an OV-Seg checkpoint."""

import json
import signal
import subprocess
import time

import numpy as np
import torch
from PIL import Image

from qaclims.cam.inference import ImageCams, save_cams
from qaclims.cli import main
from qaclims.data.labels import read_label_png
from qaclims.demo.dataset import write_demo_dataset


def blob_maps(height: int, width: int, centres: list[tuple[int, int]], sigma: float) -> np.ndarray:
    """[len(centres), H, W] Gaussian blobs with peak 1."""
    ys, xs = np.mgrid[0:height, 0:width]
    maps = [np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * sigma ** 2)) for cy, cx in centres]
    return np.asarray(maps, dtype=np.float32).reshape(len(centres), height, width)


def write_cams_following_masks(table, split: str, folder) -> None:
    """A CAM npz per image of ``split``: 0.95 on the class's mask, 0.05 elsewhere; a central blob without mask."""
    frame = table.split(split)
    for row, labels in zip(frame.itertuples(), table.labels(frame)):
        with Image.open(row.image_path) as image:
            width, height = image.size
        keys = np.flatnonzero(labels)
        if row.mask_path:
            mask = read_label_png(row.mask_path)
            high_res = np.stack([(mask == key + 1) * 0.9 + 0.05 for key in keys]).astype(np.float32)
        else:
            high_res = blob_maps(height, width, [(height // 2, width // 2)] * len(keys), sigma=height / 4)
        strided = np.ascontiguousarray(high_res[:, ::4, ::4])
        cams = ImageCams(keys, torch.from_numpy(high_res), torch.from_numpy(strided))
        save_cams(str(folder / f"{row.image_id}.npz"), cams, "float16")


def indexed_demo_dataset(base, classes: list[str], seed: int, **sizes):
    """A demo dataset in VOC layout under ``base`` and its index: (index path, dataset config)."""
    write_demo_dataset(str(base / "VOC2012"), classes, seed=seed, max_objects=2, jpeg_quality=90, **sizes)
    dataset = {"kind": "voc12", "root": str(base / "VOC2012"), "classes": classes}
    index = base / "index.parquet"
    assert main(["index", "--config", json.dumps({"dataset": dataset}), "--root", dataset["root"], "--out", str(index)]) == 0
    return index, dataset


def kill_once_written(command: list[str], folder, pattern: str, count: int, env: dict | None = None) -> None:
    """Start a command and kill it (SIGKILL) as soon as ``count`` files match ``pattern`` under ``folder``."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while len(list(folder.glob(pattern))) < count and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(list(folder.glob(pattern))) >= count, f"fewer than {count} files {pattern} before the kill"


def kill_after_first_checkpoint(command: list[str], checkpoints, env: dict) -> None:
    """Start a training command and kill it (SIGKILL) as soon as it has written a checkpoint."""
    kill_once_written(command, checkpoints, "*/last.pt", 1, env)


OVSEG_PREFIX = "clip_adapter.clip_model."
# The text tower's parameters in OpenAI's CLIP, which OV-Seg holds at clip_adapter.clip_model.
OPENAI_TEXT_TOWER = ("transformer.", "token_embedding.", "positional_embedding", "ln_final.", "text_projection")


def fake_ovseg_state(model, mask_embedding=None, with_text: bool = True, seed: int = 3) -> dict:
    """OV-Seg's layout: ``model``'s CLIP keys under clip_adapter.clip_model., values unlike the model's own.

    Also the mask embedding when given, and non-CLIP keys of the segmentation model. Without
    ``with_text``, the text tower's keys are left out (the logit scale stays).
    """
    generator = torch.Generator().manual_seed(seed)
    state = {OVSEG_PREFIX + key: value + 0.01 * torch.randn(value.shape, generator=generator)
             for key, value in model.state_dict().items() if with_text or not key.startswith(OPENAI_TEXT_TOWER)}
    if mask_embedding is not None:
        state[OVSEG_PREFIX + "visual.mask_embedding"] = mask_embedding
    state["sem_seg_head.predictor.weight"] = torch.randn(5, 7, generator=generator)
    state["backbone.layers.0.norm.bias"] = torch.randn(3, generator=generator)
    return state
