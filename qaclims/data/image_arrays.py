"""Decoded images for the inference stages' loaders, which segment or refine the images of a split one at a time."""

import numpy as np
import torch

from qaclims.data.images import load_rgb


class ImageArrays(torch.utils.data.Dataset):
    """(position, uint8 [H, W, 3] image) of each path, decoded in loader workers ahead of the model."""

    def __init__(self, paths: list[str]):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, position: int):
        return position, np.array(load_rgb(self.paths[position]))
