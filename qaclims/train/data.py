"""Classification training data with augmentation that depends only on (seed, epoch, sample).

Drawing every random choice from those three numbers makes a run that was killed and
resumed see exactly the batches an uninterrupted run would have seen.
"""

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from qaclims.data.images import imagenet_normalise, load_rgb


@dataclass(frozen=True)
class Augmentation:
    crop_size: int
    resize_long: tuple[int, int]  # the long side is drawn uniformly from this range
    flip: bool = True


def sample_rng(seed: int, epoch: int, sample: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, sample])


def augment(image: Image.Image, augmentation: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """Random long-side resize, flip, ImageNet normalisation, random crop padded with zeros: [3, S, S]."""
    long_side = int(rng.integers(augmentation.resize_long[0], augmentation.resize_long[1] + 1))
    scale = long_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    pixels = imagenet_normalise(image.resize(size, Image.Resampling.BICUBIC))
    if augmentation.flip and rng.random() < 0.5:
        pixels = pixels[:, ::-1]
    return random_crop(pixels, augmentation.crop_size, rng).transpose(2, 0, 1)


def random_crop(pixels: np.ndarray, crop: int, rng: np.random.Generator) -> np.ndarray:
    """A crop x crop window at a random place; where the image is smaller, it lies at a random
    place inside the window and the rest is zero (the mean after normalisation)."""
    out = np.zeros((crop, crop, pixels.shape[2]), dtype=pixels.dtype)
    source, target = [], []
    for length in pixels.shape[:2]:
        offset = int(rng.integers(0, abs(length - crop) + 1))
        extent = min(length, crop)
        source.append(slice(offset, offset + extent) if length > crop else slice(0, extent))
        target.append(slice(0, extent) if length > crop else slice(offset, offset + extent))
    out[target[0], target[1]] = pixels[source[0], source[1]]
    return out


class ClassificationDataset(torch.utils.data.Dataset):
    """Augmented images and multi-hot labels of the index rows given, for one epoch at a time."""

    def __init__(self, image_paths: list[str], labels: np.ndarray, augmentation: Augmentation, seed: int):
        self.image_paths, self.labels, self.augmentation, self.seed = image_paths, labels, augmentation, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.image_paths)

    def __getitem__(self, sample: int):
        rng = sample_rng(self.seed, self.epoch, sample)
        pixels = augment(load_rgb(self.image_paths[sample]), self.augmentation, rng)
        return torch.from_numpy(pixels), torch.from_numpy(self.labels[sample].astype(np.float32)), sample


def epoch_batches(num_samples: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The epoch's shuffled batches, dropping the last incomplete one (as the reference does)."""
    # Two seed words, where a sample's augmentation uses three: the streams never coincide.
    order = np.random.default_rng([seed, epoch]).permutation(num_samples)
    return [order[start:start + batch_size] for start in range(0, num_samples - batch_size + 1, batch_size)]
