"""The synthetic demo dataset: determinism, VOC layout, masks consistent with the annotations."""

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qaclims.data.classes import VOC_CLASSES, voc_xml_name
from qaclims.data.demo import (
    SHAPES,
    TEXTURES,
    appearance,
    shape_mask,
    texture_pattern,
    write_demo_dataset,
)
from qaclims.data.labels import read_label_png

CLASSES = ["aeroplane", "cat", "dining table", "person", "tv monitor"]
SMALL = dict(num_train=4, num_train_extra=2, num_val=3, min_size=48, max_size=64, max_objects=3, jpeg_quality=90)


def write(root, seed=0, classes=CLASSES, **overrides):
    settings = {**SMALL, **overrides}
    return write_demo_dataset(str(root), classes, seed, **settings)


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def xml_objects(path: Path) -> list[tuple[str, tuple[int, int, int, int]]]:
    root = ElementTree.parse(path).getroot()
    objects = []
    for obj in root.findall("object"):
        box = obj.find("bndbox")
        objects.append((obj.findtext("name"), tuple(int(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))))
    return objects


def xml_size(path: Path) -> tuple[int, int]:
    size = ElementTree.parse(path).getroot().find("size")
    return int(size.findtext("width")), int(size.findtext("height"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "VOC2012"
    splits = write(root, seed=0)
    return root, splits


EXPECTED_IDS = [f"demo_{i:05d}" for i in range(9)]


def test_layout_and_split_lists(demo):
    root, splits = demo
    assert sorted(p.name for p in root.iterdir()) == ["Annotations", "ImageSets", "JPEGImages", "SegmentationClass"]
    assert sorted(p.name for p in (root / "JPEGImages").iterdir()) == [f"{i}.jpg" for i in EXPECTED_IDS]
    assert sorted(p.name for p in (root / "Annotations").iterdir()) == [f"{i}.xml" for i in EXPECTED_IDS]
    assert sorted(p.name for p in (root / "SegmentationClass").iterdir()) == [f"{i}.png" for i in EXPECTED_IDS]
    lists = root / "ImageSets" / "Segmentation"
    assert sorted(p.name for p in lists.iterdir()) == ["train.txt", "train_aug.txt", "val.txt"]

    read = {name: (lists / f"{name}.txt").read_text().split() for name in ("train", "val", "train_aug")}
    assert read == splits
    assert read["train"] == EXPECTED_IDS[:4]
    assert read["train_aug"] == EXPECTED_IDS[:6]
    assert read["val"] == EXPECTED_IDS[6:]
    assert set(read["train"]) <= set(read["train_aug"])
    assert not set(read["val"]) & set(read["train_aug"])
    # No leftover staging folder next to the dataset.
    assert [p.name for p in root.parent.iterdir()] == ["VOC2012"]


def test_same_seed_gives_byte_identical_files(demo, tmp_path):
    root, _ = demo
    again = tmp_path / "again"
    write(again, seed=0)
    first, second = files_of(root), files_of(again)
    assert sorted(first) == sorted(second)
    assert len(first) == 9 * 3 + 3
    for name in first:
        assert first[name] == second[name], name


def test_different_seed_gives_different_images(demo, tmp_path):
    root, _ = demo
    other = tmp_path / "other"
    write(other, seed=1)
    for image_id in EXPECTED_IDS:
        a = (root / "JPEGImages" / f"{image_id}.jpg").read_bytes()
        b = (other / "JPEGImages" / f"{image_id}.jpg").read_bytes()
        assert a != b, image_id


def test_an_image_does_not_depend_on_the_split_sizes(demo, tmp_path):
    root, _ = demo
    bigger = tmp_path / "bigger"
    splits = write(bigger, seed=0, num_val=5)
    assert splits["val"] == [f"demo_{i:05d}" for i in range(6, 11)]
    for image_id in EXPECTED_IDS:
        for folder, ext in (("JPEGImages", "jpg"), ("SegmentationClass", "png"), ("Annotations", "xml")):
            assert (root / folder / f"{image_id}.{ext}").read_bytes() == \
                (bigger / folder / f"{image_id}.{ext}").read_bytes()


def test_images_sizes_and_annotation_sizes(demo):
    root, _ = demo
    for image_id in EXPECTED_IDS:
        with Image.open(root / "JPEGImages" / f"{image_id}.jpg") as image:
            assert image.format == "JPEG"
            assert image.mode == "RGB"
            width, height = image.size
        assert 48 <= width <= 64 and 48 <= height <= 64
        assert xml_size(root / "Annotations" / f"{image_id}.xml") == (width, height)
        with Image.open(root / "SegmentationClass" / f"{image_id}.png") as mask:
            assert mask.mode == "P"
            assert mask.size == (width, height)


def test_masks_hold_only_class_values_and_a_boundary_band(demo):
    root, _ = demo
    allowed = set(range(len(CLASSES) + 1)) | {255}
    for image_id in EXPECTED_IDS:
        mask = read_label_png(root / "SegmentationClass" / f"{image_id}.png")
        values = set(np.unique(mask).tolist())
        assert values <= allowed, image_id
        assert 0 in values and 255 in values, image_id
        # Two pixels with different labels (neither 255) are never neighbours:
        # the ignore band separates every object from what surrounds it.
        h, w = mask.shape
        padded = np.pad(mask, 1, constant_values=255)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                neighbour = padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                clash = (mask != 255) & (neighbour != 255) & (neighbour != mask)
                assert not clash.any(), (image_id, dy, dx)
        # Every object class region touches the band.
        band = mask == 255
        for value in values - {0, 255}:
            region = mask == value
            grown = np.zeros_like(region)
            padded_region = np.pad(region, 1)
            for dy in range(3):
                for dx in range(3):
                    grown |= padded_region[dy:dy + h, dx:dx + w]
            assert (grown & band).any(), (image_id, value)


def test_mask_classes_match_annotation_objects(demo):
    root, _ = demo
    value_of_xml_name = {voc_xml_name(name): k + 1 for k, name in enumerate(CLASSES)}
    assert value_of_xml_name["diningtable"] == 3 and value_of_xml_name["tvmonitor"] == 5
    for image_id in EXPECTED_IDS:
        objects = xml_objects(root / "Annotations" / f"{image_id}.xml")
        assert 1 <= len(objects) <= 3, image_id
        names = {name for name, _ in objects}
        assert names <= set(value_of_xml_name), (image_id, names)
        mask = read_label_png(root / "SegmentationClass" / f"{image_id}.png")
        in_mask = set(np.unique(mask).tolist()) - {0, 255}
        assert in_mask == {value_of_xml_name[name] for name in names}, image_id


def test_boxes_lie_inside_the_image_and_cover_the_object(demo):
    root, _ = demo
    value_of_xml_name = {voc_xml_name(name): k + 1 for k, name in enumerate(CLASSES)}
    for image_id in EXPECTED_IDS:
        width, height = xml_size(root / "Annotations" / f"{image_id}.xml")
        mask = read_label_png(root / "SegmentationClass" / f"{image_id}.png")
        boxes_of_value: dict[int, list] = {}
        for name, (xmin, ymin, xmax, ymax) in xml_objects(root / "Annotations" / f"{image_id}.xml"):
            assert 1 <= xmin <= xmax <= width, (image_id, name)
            assert 1 <= ymin <= ymax <= height, (image_id, name)
            boxes_of_value.setdefault(value_of_xml_name[name], []).append((xmin, ymin, xmax, ymax))
        # Every mask pixel of a class lies in one of that class's boxes (1-based, inclusive).
        for value, boxes in boxes_of_value.items():
            ys, xs = np.nonzero(mask == value)
            inside = np.zeros(ys.shape, dtype=bool)
            for xmin, ymin, xmax, ymax in boxes:
                inside |= (xs + 1 >= xmin) & (xs + 1 <= xmax) & (ys + 1 >= ymin) & (ys + 1 <= ymax)
            assert inside.all(), (image_id, value)


def test_enough_images_include_two_class_images(tmp_path):
    root = tmp_path / "many"
    write(root, seed=3, num_train=20, num_train_extra=0, num_val=1, min_size=32, max_size=40)
    classes_per_image = []
    for xml in sorted((root / "Annotations").iterdir()):
        objects = xml_objects(xml)
        assert 1 <= len(objects) <= 3
        classes_per_image.append(len({name for name, _ in objects}))
    assert len(classes_per_image) == 21
    assert max(classes_per_image) == 2  # some images hold two classes, never more
    assert min(classes_per_image) == 1


def test_max_objects_one_gives_single_objects(tmp_path):
    root = tmp_path / "single"
    write(root, seed=0, max_objects=1)
    for xml in (root / "Annotations").iterdir():
        assert len(xml_objects(xml)) == 1


def test_rewriting_replaces_the_dataset_as_a_whole(tmp_path):
    root = tmp_path / "VOC2012"
    root.mkdir()
    (root / "stale.txt").write_text("old")
    write(root, seed=0, num_train=1, num_train_extra=0, num_val=1)
    assert not (root / "stale.txt").exists()
    assert sorted(p.name for p in (root / "JPEGImages").iterdir()) == ["demo_00000.jpg", "demo_00001.jpg"]


def test_unknown_class_is_rejected(tmp_path):
    root = tmp_path / "VOC2012"
    with pytest.raises(ValueError, match="unicorn"):
        write(root, classes=["cat", "unicorn"])
    with pytest.raises(ValueError, match="diningtable"):
        write(root, classes=["diningtable"])  # the XML spelling is not a class name
    assert not root.exists()


def test_min_size_larger_than_max_size_is_rejected(tmp_path):
    root = tmp_path / "VOC2012"
    with pytest.raises(ValueError, match="min_size 80 is larger than max_size 64"):
        write(root, min_size=80, max_size=64)
    assert not root.exists()


def test_every_voc_class_has_its_own_appearance():
    looks = [appearance(name) for name in VOC_CLASSES]
    assert len(looks) == 20
    assert len({(look.shape, look.colour, look.texture) for look in looks}) == 20
    assert len({look.colour for look in looks}) == 20
    for look in looks:
        assert look.shape in SHAPES and look.texture in TEXTURES
        assert all(0 <= c <= 255 for c in look.colour)
        # Every shape draws something inside its circle and every texture is a brightness factor.
        mask = shape_mask(look.shape, 41, 41, 20.0, 20.0, 15.0)
        assert mask[20, 20] or look.shape in ("ring", "crescent")
        assert 0 < mask.sum() <= np.pi * 15.0**2 + 2 * np.pi * 15.0
        assert not mask[0].any() and not mask[:, 0].any()
        pattern = texture_pattern(look.texture, 8, 8)
        assert pattern.shape == (8, 8) and pattern.min() > 0 and pattern.max() <= 1
    # The same class always looks the same.
    assert appearance("cat") == appearance("cat")
    assert appearance("cat") != appearance("dog")
