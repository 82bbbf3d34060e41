"""Trained weights files: the state dict with the classes, config and code version behind it."""

import json

import torch

from qaclims.runtime.atomic import atomic_path


def save_weights(path: str, model: torch.nn.Module, classes: list[str], config: dict, code_version: str) -> None:
    payload = {"state_dict": model.state_dict(), "classes": list(classes),
               "config": json.dumps(config, sort_keys=True), "code_version": code_version}
    with atomic_path(path) as partial:
        torch.save(payload, partial)


def load_weights(path: str) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)
