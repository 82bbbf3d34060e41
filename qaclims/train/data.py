"""Classification training data with augmentation that depends only on (seed, epoch, sample).

Drawing every random choice from those three numbers makes a run that was killed and
resumed see exactly the batches an uninterrupted run would have seen.
"""

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from qaclims.data.images import imagenet_normalise, load_rgb
from qaclims.data.labels import IGNORE_INDEX, read_label_png
from qaclims.errors import DatasetError


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


def crop_window(height: int, width: int, crop: int, rng: np.random.Generator) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """(source, target) slices of a random crop x crop window; where the image is smaller than the
    window, the image lies at a random place inside it."""
    source, target = [], []
    for length in (height, width):
        offset = int(rng.integers(0, abs(length - crop) + 1))
        extent = min(length, crop)
        source.append(slice(offset, offset + extent) if length > crop else slice(0, extent))
        target.append(slice(0, extent) if length > crop else slice(offset, offset + extent))
    return tuple(source), tuple(target)


def paste(array: np.ndarray, window, crop: int, fill) -> np.ndarray:
    """The window of ``array`` on a crop x crop canvas of ``fill``."""
    source, target = window
    out = np.full((crop, crop, *array.shape[2:]), fill, dtype=array.dtype)
    out[target] = array[source]
    return out


def random_crop(pixels: np.ndarray, crop: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop x crop window of [H, W, C] pixels, zero (the mean after normalisation) outside the image."""
    return paste(pixels, crop_window(*pixels.shape[:2], crop, rng), crop, 0)


@dataclass(frozen=True)
class ScaleAugmentation:
    """IRNet's: random rescale by a factor drawn from ``scale_range``, flip, crop; labels at ``label_stride``."""
    crop_size: int
    scale_range: tuple[float, float]
    label_stride: int = 4


def augment_with_label(image: Image.Image, label: np.ndarray, augmentation: ScaleAugmentation,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """([3, S, S] normalised pixels padded with 0, [S / stride, S / stride] label padded with ignore)."""
    scale = rng.uniform(*augmentation.scale_range)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    pixels = imagenet_normalise(image.resize(size, Image.Resampling.BICUBIC))
    label = np.asarray(Image.fromarray(label).resize(size, Image.Resampling.NEAREST))
    if rng.random() < 0.5:
        pixels, label = pixels[:, ::-1], label[:, ::-1]
    crop, stride = augmentation.crop_size, augmentation.label_stride
    window = crop_window(*label.shape, crop, rng)
    pixels, label = paste(pixels, window, crop, 0), paste(label, window, crop, IGNORE_INDEX)
    # Nearest-neighbour downsampling samples the centre of each stride x stride cell.
    return pixels.transpose(2, 0, 1), label[stride // 2::stride, stride // 2::stride]


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


class LabelledImageDataset(torch.utils.data.Dataset):
    """Augmented images with their label maps at the label stride, for one epoch at a time."""

    def __init__(self, image_paths: list[str], label_paths: list[str], augmentation: ScaleAugmentation, seed: int):
        self.image_paths, self.label_paths = image_paths, label_paths
        self.augmentation, self.seed = augmentation, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.image_paths)

    def __getitem__(self, sample: int):
        image, label = load_rgb(self.image_paths[sample]), read_label_png(self.label_paths[sample])
        if label.shape != (image.height, image.width):
            raise DatasetError(f"label map {self.label_paths[sample]} is {label.shape[0]}x{label.shape[1]} but its "
                               f"image is {image.height}x{image.width}; make the labels again from the current images")
        pixels, label = augment_with_label(image, label, self.augmentation, sample_rng(self.seed, self.epoch, sample))
        return torch.from_numpy(pixels.copy()), torch.from_numpy(label.astype(np.int64)), sample


def epoch_batches(num_samples: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The epoch's shuffled batches, dropping the last incomplete one (as the reference does)."""
    # Two seed words, where a sample's augmentation uses three: the streams never coincide.
    order = np.random.default_rng([seed, epoch]).permutation(num_samples)
    return [order[start:start + batch_size] for start in range(0, num_samples - batch_size + 1, batch_size)]
