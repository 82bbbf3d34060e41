"""Tiny random-weight CLIP models for the tests, and the architecture of the demo's stand-in CLIP, saved in the real
format: an open_clip model config JSON plus a checkpoint, loaded through exactly the code that loads the real CLIP.
"""

import json
import os

import open_clip
import torch

from qaclims.run_layout import DEMO_CLIP_NAME
from qaclims.runtime.atomic import atomic_directory


def demo_clip_config(image_size: int, patch_size: int = 16, context_length: int = 77) -> dict:
    # Three vision blocks, so that a mask prompt of depth 3 has somewhere to go.
    return {
        "embed_dim": 32,
        "vision_cfg": {"image_size": image_size, "layers": 3, "width": 64, "patch_size": patch_size, "head_width": 32},
        "text_cfg": {"context_length": context_length, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
    }


def create_demo_clip(directory: str, config: dict, seed: int) -> torch.nn.Module:
    """A random-weight open_clip model of ``config``, whose model config JSON is written to ``directory``."""
    with open(os.path.join(directory, f"{DEMO_CLIP_NAME}.json"), "w") as handle:
        json.dump(config, handle, indent=2)
    open_clip.add_model_config(str(directory))
    torch.manual_seed(seed)
    return open_clip.create_model(DEMO_CLIP_NAME)


def save_clip_checkpoint(directory: str, model: torch.nn.Module) -> None:
    """The checkpoint that clip.pretrained names, next to the model config JSON."""
    torch.save(model.state_dict(), os.path.join(directory, f"{DEMO_CLIP_NAME}.pt"))


def write_demo_clip(directory: str, image_size: int, seed: int) -> None:
    """An open_clip model config JSON and a checkpoint of random weights for it."""
    with atomic_directory(directory) as staging:
        save_clip_checkpoint(staging, create_demo_clip(staging, demo_clip_config(image_size), seed))
