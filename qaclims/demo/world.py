"""The demo world: what each class looks like, its kinds, the backgrounds and each class's habitat.

Every VOC class has a shape and a colour, and comes in kinds that differ in surface pattern and
accent colour, so that a foreground answer can name one ("a striped cat"). As a real object has a face
or a wheel, an object shows its colour and kind only on its discriminative part, one end of it
(``PART_SHARE`` of its area); the rest, its body, is a plain colour that half the classes share, so that only
the part tells a class apart from the others of its body colour. Every class has
a habitat background, as a boat has water. An image's background is the habitat of one of its classes at
``habitat_rate``, and otherwise a background that is the habitat of none of them; ``habitat_rate``
None draws every background equally, the world of the stand-ins' pretraining, which must not learn
that correlation.
"""

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qaclims.data.classes import VOC_CLASSES
from qaclims.data.labels import IGNORE_INDEX

BACKGROUNDS = ("sky", "grass", "wall", "sand", "water", "road", "floor")
# Every class's shape and colour; the colours lie far from every background's.
LOOKS = {
    "aeroplane": ("cross", (230, 25, 75)), "bicycle": ("ring", (60, 180, 75)), "bird": ("triangle", (0, 130, 200)),
    "boat": ("crescent", (250, 190, 212)), "bottle": ("diamond", (128, 0, 0)), "bus": ("square", (255, 250, 200)),
    "car": ("disc", (0, 128, 128)), "cat": ("star", (245, 130, 48)), "chair": ("cross", (170, 110, 40)),
    "cow": ("hexagon", (220, 190, 255)), "dining table": ("hexagon", (255, 225, 25)), "dog": ("disc", (240, 50, 230)),
    "horse": ("star", (128, 128, 0)), "motorbike": ("triangle", (210, 245, 60)),
    "person": ("ellipse", (145, 30, 180)), "potted plant": ("ring", (255, 215, 180)),
    "sheep": ("ellipse", (250, 250, 250)), "sofa": ("diamond", (70, 240, 240)), "train": ("crescent", (0, 0, 128)),
    "tv monitor": ("square", (20, 20, 20)),
}
HABITATS = {
    "aeroplane": "sky", "bicycle": "road", "bird": "sky", "boat": "water", "bottle": "floor", "bus": "road",
    "car": "road", "cat": "grass", "chair": "floor", "cow": "grass", "dining table": "floor", "dog": "grass",
    "horse": "grass", "motorbike": "road", "person": "road", "potted plant": "floor", "sheep": "grass",
    "sofa": "floor", "train": "road", "tv monitor": "wall",
}
# The kinds of the demo's default classes, each with the accent colour of its pattern (None: no pattern).
# Two kinds of a class differ in accent colour as well as in pattern: the stand-in BLIP, small as it is,
# tells colours apart long before patterns.
KIND_ACCENTS = {
    "aeroplane": {"plain": None, "striped": (250, 250, 250)},
    "cat": {"striped": (15, 15, 15), "spotted": (250, 250, 250)},
    "dining table": {"plain": None, "checked": (110, 60, 20)},
    "person": {"spotted": (255, 235, 0), "checked": (250, 250, 250)},
    "tv monitor": {"plain": None, "striped": (0, 220, 230)},
}
# Every kind word; a class not in KIND_ACCENTS comes in all of them, its accent a shade of its colour.
KIND_WORDS = ("plain", "striped", "spotted", "checked")
# The plain colours of the objects' bodies, each shared by half the classes (VOC's even and odd ones), as fur is
# shared by cats and dogs; both lie far from every background's and every default class's colour.
BODY_COLOURS = ((185, 120, 165), (150, 150, 105))
PART_SHARE = 0.4  # the share of an object's area that its discriminative part covers
SHAPES = ("disc", "square", "triangle", "diamond", "cross", "ring", "star", "hexagon", "ellipse", "crescent")
BOUNDARY_RADIUS = 1  # VOC marks a thin band of 255 around every object outline
MIN_VISIBLE_FRACTION = 0.5
PAIR_RATE = 0.4  # how often an image of several objects holds two classes
# How the stand-ins' pretraining worlds are drawn: objects of a wider range of sizes than the demo's.
PRETRAINING_DRAWING = {"min_size": 96, "max_size": 160, "max_objects": 2, "object_size": (0.16, 0.34)}


def looks(class_name: str) -> tuple[str, tuple[int, int, int]]:
    """A class's shape and colour: VOC's from LOOKS, any other name's drawn from a hash of the name, so that the
    stand-in models can learn the classes of a folder dataset too."""
    if class_name in LOOKS:
        return LOOKS[class_name]
    code = zlib.crc32(class_name.encode())
    return SHAPES[code % len(SHAPES)], tuple(int(channel) for channel in code.to_bytes(4, "big")[1:])


def habitat_of(class_name: str) -> str:
    """A class's habitat: VOC's from HABITATS, any other name's drawn from a hash of the name."""
    return HABITATS.get(class_name) or BACKGROUNDS[zlib.crc32(class_name.encode()) % len(BACKGROUNDS)]


def kinds_of(class_name: str) -> dict[str, tuple[int, int, int] | None]:
    """The kinds of a class, each with its accent colour (None: plain)."""
    if class_name in KIND_ACCENTS:
        return KIND_ACCENTS[class_name]
    colour = np.array(looks(class_name)[1])
    shade = colour * 0.35 if colour.mean() > 110 else np.minimum(colour + 150, 255)
    accent = tuple(int(c) for c in shade)
    return {kind: None if kind == "plain" else accent for kind in KIND_WORDS}


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


def pattern(kind: str, height: int, width: int) -> np.ndarray:
    """[H, W] bool: where a kind's accent colour shows."""
    yy, xx = np.mgrid[0:height, 0:width]
    if kind == "plain":
        return np.zeros((height, width), dtype=bool)
    if kind == "striped":
        return ((xx + yy) // 4) % 2 == 0
    if kind == "checked":
        return ((xx // 5) + (yy // 5)) % 2 == 0
    if kind == "spotted":
        return ((xx % 8) - 4) ** 2 + ((yy % 8) - 4) ** 2 <= 8
    raise ValueError(f"unknown kind {kind!r}")


def surface(class_name: str, kind: str, height: int, width: int) -> np.ndarray:
    """[H, W, 3] float: the class's colour with its kind's accent pattern."""
    colour = np.array(looks(class_name)[1], dtype=np.float32)
    accent = kinds_of(class_name)[kind]
    if accent is None:
        return np.broadcast_to(colour, (height, width, 3))
    return np.where(pattern(kind, height, width)[..., None], np.array(accent, dtype=np.float32), colour)


def discriminative_part(mask: np.ndarray, angle: float) -> np.ndarray:
    """[H, W] bool: the end of an object's ``mask`` that lies furthest in the direction ``angle``, PART_SHARE of it."""
    yy, xx = np.nonzero(mask)
    if yy.size == 0:
        return mask
    reach = yy * np.sin(angle) + xx * np.cos(angle)
    part = np.zeros_like(mask)
    part[yy, xx] = reach >= np.quantile(reach, 1 - PART_SHARE)
    return part


def body_colour(class_name: str) -> tuple[int, int, int]:
    """The plain colour of a class's body, which half the classes share: VOC's by their index, any other name's by
    a hash of the name."""
    code = VOC_CLASSES.index(class_name) if class_name in VOC_CLASSES else zlib.crc32(class_name.encode())
    return BODY_COLOURS[code % len(BODY_COLOURS)]


def paint_object(canvas: np.ndarray, mask: np.ndarray, class_name: str, kind: str, angle: float) -> None:
    """Paint an object onto ``canvas`` in place: its body plain in its class's body colour, its discriminative part
    in its kind's surface."""
    height, width = mask.shape
    part = discriminative_part(mask, angle)
    canvas[mask] = np.array(body_colour(class_name), dtype=canvas.dtype)
    canvas[part] = surface(class_name, kind, height, width)[part]


def background(kind: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """[H, W, 3] float image of a background; each has its own colour and texture."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    noise = rng.normal(0.0, 1.0, size=(height, width, 1)).astype(np.float32)
    if kind == "sky":
        t = (yy / height)[..., None]
        sky = (1 - t) * np.array([70, 130, 225]) + t * np.array([170, 205, 250])
        cloud = np.sin(xx / 13 + rng.uniform(0, 6)) * np.sin(yy / 9 + rng.uniform(0, 6)) > 0.6
        return np.where(cloud[..., None], np.array([245, 245, 250]), sky) + 3 * noise
    if kind == "grass":
        blades = np.sin(xx * 1.3 + 3 * np.sin(yy / 5)) > 0.2
        return np.where(blades[..., None], np.array([60, 140, 40]), np.array([35, 95, 25])) + 10 * noise
    if kind == "wall":
        mortar = ((yy % 16) < 2) | (((xx + 16 * ((yy // 16) % 2)) % 32) < 2)
        return np.where(mortar[..., None], np.array([215, 215, 210]), np.array([165, 75, 55])) + 6 * noise
    if kind == "sand":
        return np.array([225, 200, 150]) + 18 * noise
    if kind == "water":
        waves = np.sin(yy / 2.5 + 1.5 * np.sin(xx / 10 + rng.uniform(0, 6))) > 0.7
        return np.where(waves[..., None], np.array([120, 170, 210]), np.array([20, 70, 130])) + 5 * noise
    if kind == "road":
        lane = (np.abs(yy - height / 2) < 2) & ((xx // 12) % 2 == 0)
        return np.where(lane[..., None], np.array([250, 250, 250]), np.array([95, 95, 100])) + 12 * noise
    if kind == "floor":
        seam = (xx % 14) < 1
        grain = 12 * np.sin(yy / 3 + 2 * np.floor(xx / 14))
        boards = np.where(seam[..., None], np.array([70, 40, 20]), np.array([150, 100, 55]) + grain[..., None])
        return boards + 5 * noise
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
class WorldObject:
    class_index: int  # 0-based index into the image's class list
    box: tuple[int, int, int, int]  # xmin, ymin, xmax, ymax of its visible part, 1-based inclusive as in VOC


@dataclass
class WorldImage:
    image: np.ndarray  # [H, W, 3] uint8
    label: np.ndarray  # [H, W] uint8: 0 background, 1..C classes, 255 boundary
    objects: list[WorldObject]
    kinds: dict[int, str]  # class index -> its kind (all objects of a class in an image are of one kind)
    background: str
    habitat: bool  # the background is the habitat of a class in the image


def choose_classes(rng: np.random.Generator, num_classes: int, max_objects: int) -> list[int]:
    count = int(rng.integers(1, max_objects + 1))
    if count >= 2 and num_classes >= 2 and rng.random() < PAIR_RATE:
        pair = rng.choice(num_classes, size=2, replace=False)
        return [int(pair[0]), int(pair[1])] + [int(rng.choice(pair)) for _ in range(count - 2)]
    return [int(rng.integers(num_classes))] * count


def choose_background(rng: np.random.Generator, present: Sequence[str], habitat_rate: float | None) -> str:
    if habitat_rate is None:
        return BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    habitats = sorted({habitat_of(name) for name in present})
    others = [name for name in BACKGROUNDS if name not in habitats]
    if rng.random() < habitat_rate or not others:
        return habitats[int(rng.integers(len(habitats)))]
    return others[int(rng.integers(len(others)))]


def render(rng: np.random.Generator, classes: Sequence[str], habitat_rate: float | None, min_size: int,
           max_size: int, max_objects: int, object_size: Sequence[float]) -> WorldImage:
    """One image of 1 to ``max_objects`` objects; ``object_size`` bounds their radius, a fraction of the short side."""
    height, width = (int(s) for s in rng.integers(min_size, max_size + 1, size=2))
    indices = choose_classes(rng, len(classes), max_objects)
    kinds = {}
    for k in sorted(set(indices)):
        names = list(kinds_of(classes[k]))
        kinds[k] = names[int(rng.integers(len(names)))]
    scenery = choose_background(rng, [classes[k] for k in set(indices)], habitat_rate)
    canvas = background(scenery, height, width, rng)
    # Redraw the layout until every object stays mostly visible under the ones painted after it.
    for _ in range(50):
        label = np.zeros((height, width), dtype=np.uint8)
        masks = []
        for k in indices:
            radius = float(rng.uniform(*object_size)) * min(height, width)
            cy, cx = float(rng.uniform(radius, height - radius)), float(rng.uniform(radius, width - radius))
            mask = shape_mask(looks(classes[k])[0], height, width, cy, cx, radius)
            label[mask] = k + 1
            masks.append(mask)
        if all((label[m] == k + 1).sum() >= MIN_VISIBLE_FRACTION * m.sum() for k, m in zip(indices, masks)):
            break
    objects = []
    for position, (k, mask) in enumerate(zip(indices, masks)):
        paint_object(canvas, mask, classes[k], kinds[k], float(rng.uniform(0, 2 * np.pi)))
        painted_later = masks[position + 1:]
        own = mask & ~np.logical_or.reduce(painted_later) if painted_later else mask
        ys, xs = np.nonzero(own)
        if ys.size == 0:  # hidden after every layout attempt: neither the mask nor the XML shows it
            continue
        objects.append(WorldObject(k, (int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1, int(ys.max()) + 1)))
    shown = {obj.class_index for obj in objects}
    canvas += rng.normal(0.0, 5.0, size=canvas.shape)
    label[boundary_band(label)] = IGNORE_INDEX
    habitat = any(habitat_of(classes[k]) == scenery for k in shown)
    return WorldImage(np.clip(canvas, 0, 255).astype(np.uint8), label, objects,
                      {k: kind for k, kind in kinds.items() if k in shown}, scenery, habitat)


def world_images(seed: Sequence[int], count: int, classes: Sequence[str], habitat_rate: float | None,
                 **drawing) -> list[WorldImage]:
    """``count`` images, image n drawn from the generator seeded with (*seed, n): it does not depend on ``count``."""
    return [render(np.random.default_rng([*seed, n]), classes, habitat_rate, **drawing) for n in range(count)]


def other_classes(classes: Sequence[str]) -> list[str]:
    """The VOC classes outside ``classes``: the stand-in backbone's pretraining labels (ImageNet's role)."""
    return [name for name in VOC_CLASSES if name not in classes]
