"""Training checkpoints that a killed job resumes from, in a folder Snakemake does not own."""

import os
import shutil

import torch

from qaclims.runtime.atomic import atomic_path
from qaclims.train.curve_columns import CurvePoint

LAST = "last.pt"


def save_checkpoint(directory: str, key: str, step: int, model, optimizer, scheduler,
                    curve: list[CurvePoint]) -> None:
    state = {"key": key, "step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "curve": curve}
    with atomic_path(os.path.join(directory, LAST)) as partial:
        torch.save(state, partial)


def load_checkpoint(directory: str, key: str, model, optimizer, scheduler) -> tuple[int, list[CurvePoint]]:
    """Restore the last checkpoint written under ``key``; return the step to continue from and the training curve
    up to it (0 and none without a checkpoint).

    A checkpoint under another key (made from other input files, or another config or code version) is ignored, not
    resumed.
    """
    path = os.path.join(directory, LAST)
    if not os.path.isfile(path):
        return 0, []
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("key") != key:
        print(f"ignoring checkpoint {path} of step {state.get('step')}: it was made from other input files (or under "
              "another config or code version); training starts from step 0", flush=True)
        return 0, []
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    print(f"resuming from {path} at step {state['step']}", flush=True)
    return int(state["step"]), state["curve"]


def remove_checkpoints(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)
