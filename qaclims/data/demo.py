"""A synthetic dataset in the PASCAL VOC 2012 layout, small enough to run the pipeline on a CPU.

Each VOC class always looks the same: one shape, one colour and one texture, so a small
network can learn it. Backgrounds come in a few kinds; an image holds 1 to ``max_objects``
objects, often of two classes. The same seed gives byte-identical files.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree import ElementTree

import numpy as np
from PIL import Image
from tqdm import tqdm

from qaclims.data.classes import VOC_CLASSES, voc_xml_name
from qaclims.data.labels import IGNORE_INDEX, write_label_png
from qaclims.runtime.atomic import atomic_directory

SHAPES = ("disc", "square", "triangle", "diamond", "cross", "ring", "star", "hexagon", "ellipse", "crescent")
TEXTURES = ("solid", "stripes", "checker", "dots")
# Twenty well separated colours; class k takes colour k, shape k % 10 and texture k % 4.
COLOURS = np.array([
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
    (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128),
], dtype=np.float32)
BACKGROUNDS = ("sky", "grass", "wall", "sand")
BOUNDARY_RADIUS = 1  # VOC marks a thin band of 255 around every object outline
MIN_VISIBLE_FRACTION = 0.5


@dataclass(frozen=True)
class Appearance:
    shape: str
    colour: tuple[int, int, int]
    texture: str


def appearance(class_name: str) -> Appearance:
    k = VOC_CLASSES.index(class_name)
    return Appearance(SHAPES[k % len(SHAPES)], tuple(int(c) for c in COLOURS[k]), TEXTURES[k % len(TEXTURES)])


def shape_mask(shape: str, height: int, width: int, cy: float, cx: float, radius: float) -> np.ndarray:
    """Boolean [H, W] mask of a shape centred at (cy, cx) that fits in a circle of ``radius``."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    v, u = (yy - cy) / radius, (xx - cx) / radius
    r2 = u**2 + v**2
    if shape == "disc":
        return r2 <= 1
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.75
    if shape == "triangle":
        return (v <= 0.7) & (np.abs(u) <= (v + 0.95) * 0.62)
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1
    if shape == "cross":
        return ((np.abs(u) <= 0.3) & (np.abs(v) <= 0.95)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 0.95))
    if shape == "ring":
        return (r2 <= 1) & (r2 >= 0.3)
    if shape == "star":
        return np.sqrt(r2) <= 0.6 + 0.35 * np.cos(5 * np.arctan2(v, u))
    if shape == "hexagon":
        return (np.abs(v) <= 0.866) & (np.sqrt(3) * np.abs(u) + np.abs(v) <= np.sqrt(3))
    if shape == "ellipse":
        return u**2 + (v / 0.55) ** 2 <= 1
    if shape == "crescent":
        return (r2 <= 1) & ((u - 0.45) ** 2 + v**2 > 0.55)
    raise ValueError(f"unknown shape {shape!r}")


def texture_pattern(texture: str, height: int, width: int) -> np.ndarray:
    """[H, W] brightness factors in (0, 1] that give a class its surface pattern."""
    yy, xx = np.mgrid[0:height, 0:width]
    if texture == "solid":
        return np.ones((height, width), dtype=np.float32)
    if texture == "stripes":
        return np.where(((xx + yy) // 4) % 2 == 0, 1.0, 0.45).astype(np.float32)
    if texture == "checker":
        return np.where(((xx // 6) + (yy // 6)) % 2 == 0, 1.0, 0.6).astype(np.float32)
    if texture == "dots":
        return np.where(((xx % 7) - 3) ** 2 + ((yy % 7) - 3) ** 2 <= 3, 0.3, 1.0).astype(np.float32)
    raise ValueError(f"unknown texture {texture!r}")


def background(kind: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """[H, W, 3] float image of one of the background kinds."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    noise = rng.normal(0.0, 1.0, size=(height, width, 1)).astype(np.float32)
    if kind == "sky":
        t = (yy / height)[..., None]
        return (1 - t) * np.array([90, 140, 220]) + t * np.array([225, 235, 250]) + 4 * noise
    if kind == "grass":
        blotches = np.sin(xx / 9 + rng.uniform(0, 6)) * np.cos(yy / 7 + rng.uniform(0, 6))
        return np.array([70, 125, 45]) + 25 * blotches[..., None] + 12 * noise
    if kind == "wall":
        mortar = ((yy % 16) < 2) | (((xx + 16 * ((yy // 16) % 2)) % 32) < 2)
        return np.where(mortar[..., None], np.array([200, 200, 195]), np.array([185, 160, 130])) + 6 * noise
    if kind == "sand":
        return np.array([215, 195, 150]) + 14 * noise
    raise ValueError(f"unknown background {kind!r}")


def boundary_band(label: np.ndarray, radius: int = BOUNDARY_RADIUS) -> np.ndarray:
    """Pixels whose neighbourhood holds more than one label: the outline of every object."""
    padded = np.pad(label, radius, mode="edge")
    height, width = label.shape
    window = [padded[dy:dy + height, dx:dx + width]
              for dy in range(2 * radius + 1) for dx in range(2 * radius + 1)]
    stack = np.stack(window)
    return stack.max(axis=0) != stack.min(axis=0)


@dataclass
class DemoObject:
    class_index: int  # 0-based index into the configured classes
    box: tuple[int, int, int, int]  # xmin, ymin, xmax, ymax, 1-based inclusive as in VOC


@dataclass
class DemoImage:
    image: np.ndarray  # [H, W, 3] uint8
    label: np.ndarray  # [H, W] uint8: 0 background, 1..C classes, 255 boundary
    objects: list[DemoObject]


def _choose_classes(rng: np.random.Generator, num_classes: int, max_objects: int) -> list[int]:
    count = int(rng.integers(1, max_objects + 1))
    if count >= 2 and num_classes >= 2 and rng.random() < 0.6:
        pair = rng.choice(num_classes, size=2, replace=False)
        return [int(pair[0]), int(pair[1])] + [int(rng.choice(pair)) for _ in range(count - 2)]
    single = int(rng.integers(num_classes))
    return [single] * count


def render_image(
    rng: np.random.Generator, classes: Sequence[str], min_size: int, max_size: int, max_objects: int
) -> DemoImage:
    height, width = (int(s) for s in rng.integers(min_size, max_size + 1, size=2))
    canvas = background(BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))], height, width, rng)
    class_indices = _choose_classes(rng, len(classes), max_objects)
    # Redraw the layout until every object stays mostly visible under the ones painted after it.
    for _ in range(50):
        label = np.zeros((height, width), dtype=np.uint8)
        masks = []
        for k in class_indices:
            radius = float(rng.uniform(0.2, 0.34)) * min(height, width)
            cy = float(rng.uniform(radius, height - radius))
            cx = float(rng.uniform(radius, width - radius))
            mask = shape_mask(appearance(classes[k]).shape, height, width, cy, cx, radius)
            label[mask] = k + 1
            masks.append(mask)
        visible = [(label[mask] == k + 1).sum() for k, mask in zip(class_indices, masks)]
        if all(v >= MIN_VISIBLE_FRACTION * m.sum() for v, m in zip(visible, masks)):
            break
    objects = []
    for position, (k, mask) in enumerate(zip(class_indices, masks)):
        look = appearance(classes[k])
        surface = np.array(look.colour, dtype=np.float32) * texture_pattern(look.texture, height, width)[..., None]
        canvas[mask] = surface[mask]
        painted_later = masks[position + 1:]
        own = mask & ~np.logical_or.reduce(painted_later) if painted_later else mask
        ys, xs = np.nonzero(own)
        if ys.size == 0:  # hidden after every layout attempt: neither the mask nor the XML shows it
            continue
        objects.append(DemoObject(k, (int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1, int(ys.max()) + 1)))
    canvas += rng.normal(0.0, 5.0, size=canvas.shape)
    label[boundary_band(label)] = IGNORE_INDEX
    return DemoImage(np.clip(canvas, 0, 255).astype(np.uint8), label, objects)


def annotation_xml(image_id: str, width: int, height: int, objects: list[DemoObject], classes: Sequence[str]) -> bytes:
    root = ElementTree.Element("annotation")
    ElementTree.SubElement(root, "folder").text = "VOC2012"
    ElementTree.SubElement(root, "filename").text = f"{image_id}.jpg"
    size = ElementTree.SubElement(root, "size")
    for key, value in (("width", width), ("height", height), ("depth", 3)):
        ElementTree.SubElement(size, key).text = str(value)
    ElementTree.SubElement(root, "segmented").text = "1"
    for obj in objects:
        node = ElementTree.SubElement(root, "object")
        ElementTree.SubElement(node, "name").text = voc_xml_name(classes[obj.class_index])
        for key in ("pose", "truncated", "difficult"):
            ElementTree.SubElement(node, key).text = "Unspecified" if key == "pose" else "0"
        box = ElementTree.SubElement(node, "bndbox")
        for key, value in zip(("xmin", "ymin", "xmax", "ymax"), obj.box):
            ElementTree.SubElement(box, key).text = str(value)
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="utf-8")


def demo_splits(num_train: int, num_train_extra: int, num_val: int) -> dict[str, list[str]]:
    ids = [f"demo_{i:05d}" for i in range(num_train + num_train_extra + num_val)]
    return {
        "train": ids[:num_train],
        "train_aug": ids[:num_train + num_train_extra],
        "val": ids[num_train + num_train_extra:],
    }


def write_demo_dataset(
    root: str,
    classes: Sequence[str],
    seed: int,
    num_train: int,
    num_train_extra: int,
    num_val: int,
    min_size: int,
    max_size: int,
    max_objects: int,
    jpeg_quality: int,
) -> dict[str, list[str]]:
    """Write the dataset under ``root`` (replacing it as a whole) and return its splits."""
    unknown = [name for name in classes if name not in VOC_CLASSES]
    if unknown:
        raise ValueError(f"demo classes must be VOC class names; unknown: {unknown}")
    if min_size > max_size:
        raise ValueError(f"demo min_size {min_size} is larger than max_size {max_size}")
    splits = demo_splits(num_train, num_train_extra, num_val)
    all_ids = splits["train_aug"] + splits["val"]
    with atomic_directory(root) as staging:
        folders = {name: os.path.join(staging, name) for name in
                   ("JPEGImages", "Annotations", "SegmentationClass", "ImageSets/Segmentation")}
        for folder in folders.values():
            os.makedirs(folder)
        for number, image_id in enumerate(tqdm(all_ids, desc="demo images", unit="img", mininterval=1.0)):
            # One generator per image: an image does not change when the split sizes do.
            rng = np.random.default_rng([seed, number])
            sample = render_image(rng, classes, min_size, max_size, max_objects)
            Image.fromarray(sample.image).save(
                os.path.join(folders["JPEGImages"], f"{image_id}.jpg"), quality=jpeg_quality
            )
            write_label_png(os.path.join(folders["SegmentationClass"], f"{image_id}.png"), sample.label)
            height, width = sample.label.shape
            with open(os.path.join(folders["Annotations"], f"{image_id}.xml"), "wb") as handle:
                handle.write(annotation_xml(image_id, width, height, sample.objects, classes))
        for split, ids in splits.items():
            with open(os.path.join(folders["ImageSets/Segmentation"], f"{split}.txt"), "w") as handle:
                handle.write("".join(f"{image_id}\n" for image_id in ids))
    return splits
