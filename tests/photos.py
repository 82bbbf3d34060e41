"""Real photographs that scikit-image ships, laid out as a folder dataset with their image-level labels."""

import shutil
from pathlib import Path

import skimage
from PIL import Image

PHOTO_FOLDER = Path(skimage.__file__).parent / "data"
# Each photo's file in scikit-image, the name it gets, and its classes. The classes are ones that the demo's
# stand-in models draw; "cup" is none of VOC's. camera.png is a grayscale photo, rocket.jpg a JPEG as shipped,
# and the others are written as JPEGs, so real decoding, odd sizes and a grayscale image all occur.
PHOTOS = {
    "chelsea.png": ("cat.jpg", ["cat"]),
    "astronaut.png": ("astronaut.jpg", ["person"]),
    "coffee.png": ("coffee.jpg", ["cup", "dining table"]),
    "motorcycle_left.png": ("motorcycle.jpg", ["motorbike"]),
    "camera.png": ("cameraman.png", ["person"]),
    "rocket.jpg": ("rocket.jpg", ["rocket"]),
}
PHOTO_CLASSES = ["cat", "person", "cup", "dining table", "motorbike", "rocket"]


def write_photo_folder(root: Path, unlabelled: bool = True) -> Path:
    """images/ and labels.csv (no split column, no masks) under ``root``; with ``unlabelled`` one more image that
    has no class, which the index leaves out."""
    images = root / "images"
    images.mkdir(parents=True)
    rows = ["image,classes"]
    for source, (name, classes) in PHOTOS.items():
        if name.endswith(".jpg") and not source.endswith(".jpg"):
            Image.open(PHOTO_FOLDER / source).convert("RGB").save(images / name, quality=90)
        else:
            shutil.copy(PHOTO_FOLDER / source, images / name)
        rows.append(f"{name},{';'.join(classes)}")
    if unlabelled:
        shutil.copy(PHOTO_FOLDER / "coffee.png", images / "unlabelled.png")
        rows.append("unlabelled.png,")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root
