"""New images to predict: every JPEG or PNG of a folder, upright, in RGB and within the long-side cap."""

import os
from pathlib import Path

import numpy as np
import torch

from qaclims.data.folder import IMAGE_SUFFIXES
from qaclims.data.images import load_upright_rgb
from qaclims.errors import DatasetError


def image_files(folder: str) -> list[Path]:
    """The JPEG and PNG files of ``folder``, sorted, or an error when there are none."""
    if not os.path.isdir(folder):
        raise DatasetError(f"image folder {folder} does not exist; set predict.images or --images to a folder")
    files = sorted(path for path in Path(folder).iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"image folder {folder} holds no JPEG or PNG image ({', '.join(IMAGE_SUFFIXES)})")
    stems = [path.stem for path in files]
    repeated = sorted({stem for stem in stems if stems.count(stem) > 1})
    if repeated:
        raise DatasetError(f"image folder {folder} has several images named {repeated[:5]} (by stem); their labels "
                           "would overwrite each other, so rename them")
    return files


class UprightImages(torch.utils.data.Dataset):
    """(position, uint8 [H, W, 3] capped image, upright (height, width) before capping) of each file, decoded in
    loader workers ahead of the model."""

    def __init__(self, paths: list[Path], max_long_side: int):
        self.paths, self.max_long_side = paths, max_long_side

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, position: int):
        photo = load_upright_rgb(self.paths[position], self.max_long_side)
        return position, np.array(photo.image), photo.size
