"""The synthetic demo dataset: determinism, VOC layout, masks consistent with the annotations, the world's truth."""

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qaclims.data.classes import VOC_CLASSES, voc_xml_name
from qaclims.data.labels import read_label_png
from qaclims.demo.dataset import read_world, write_demo_dataset
from qaclims.demo.world import (
    BACKGROUNDS,
    BODY_COLOURS,
    HABITATS,
    KIND_WORDS,
    LOOKS,
    PART_SHARE,
    SHAPES,
    body_colour,
    discriminative_part,
    kinds_of,
    paint_object,
    shape_mask,
    surface,
    world_images,
)

CLASSES = ["aeroplane", "cat", "dining table", "person", "tv monitor"]
SMALL = dict(num_train=4, num_train_extra=2, num_val=3, min_size=48, max_size=64, max_objects=3, jpeg_quality=90,
             habitat_rate=0.8)
GROUP_LISTS = [f"{split}_{group}" for split in ("train", "train_aug", "val") for group in ("habitat", "other")]


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
    assert sorted(p.name for p in root.iterdir()) == ["Annotations", "ImageSets", "JPEGImages", "SegmentationClass",
                                                      "world.csv"]
    assert sorted(p.name for p in (root / "JPEGImages").iterdir()) == [f"{i}.jpg" for i in EXPECTED_IDS]
    assert sorted(p.name for p in (root / "Annotations").iterdir()) == [f"{i}.xml" for i in EXPECTED_IDS]
    assert sorted(p.name for p in (root / "SegmentationClass").iterdir()) == [f"{i}.png" for i in EXPECTED_IDS]
    lists = root / "ImageSets" / "Segmentation"
    assert sorted(p.name for p in lists.iterdir()) == sorted(f"{name}.txt" for name in ["train", "train_aug", "val",
                                                                                        *GROUP_LISTS])

    read = {name: (lists / f"{name}.txt").read_text().split() for name in ("train", "val", "train_aug", *GROUP_LISTS)}
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
    assert len(first) == 9 * 3 + 9 + 1  # the images' files, the split lists, world.csv
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


def test_every_voc_class_has_a_look_kinds_and_a_habitat():
    assert set(LOOKS) == set(HABITATS) == set(VOC_CLASSES)
    assert len({colour for _, colour in LOOKS.values()}) == 20
    assert set(HABITATS.values()) <= set(BACKGROUNDS)
    for name, (shape, colour) in LOOKS.items():
        assert shape in SHAPES and all(0 <= c <= 255 for c in colour)
        # Every shape draws something inside its circle.
        mask = shape_mask(shape, 41, 41, 20.0, 20.0, 15.0)
        assert mask[20, 20] or shape in ("ring", "crescent")
        assert 0 < mask.sum() <= np.pi * 15.0**2 + 2 * np.pi * 15.0
        assert not mask[0].any() and not mask[:, 0].any()
        kinds = kinds_of(name)
        assert len(kinds) >= 2 and set(kinds) <= set(KIND_WORDS)
        # A kind shows in the picture: the mean colours of a class's kinds differ.
        means = [tuple(surface(name, kind, 32, 32).mean(axis=(0, 1)).round(1)) for kind in kinds]
        assert len(set(means)) == len(kinds), name


def test_world_truth_agrees_with_the_masks_and_the_group_lists(demo):
    root, splits = demo
    world = read_world(str(root))
    value_of = {name: k + 1 for k, name in enumerate(CLASSES)}
    for image_id, rows in world.groupby("image_id"):
        mask = read_label_png(root / "SegmentationClass" / f"{image_id}.png")
        assert set(np.unique(mask).tolist()) - {0, 255} == {value_of[name] for name in rows["class"]}, image_id
        assert rows["background"].nunique() == 1 and rows["habitat"].nunique() == 1
        assert rows["habitat"].iloc[0] == any(HABITATS[name] == rows["background"].iloc[0] for name in rows["class"])
        assert all(kind in kinds_of(name) for name, kind in zip(rows["class"], rows["kind"]))
    habitat = world.groupby("image_id")["habitat"].first()
    for split in ("train", "train_aug", "val"):
        assert sorted(splits[f"{split}_habitat"] + splits[f"{split}_other"]) == sorted(splits[split])
        assert all(habitat[i] for i in splits[f"{split}_habitat"])
        assert not any(habitat[i] for i in splits[f"{split}_other"])


@pytest.mark.parametrize(("rate", "low", "high"), [(1.0, 1.0, 1.0), (0.8, 0.7, 0.9), (0.0, 0.0, 0.0)])
def test_the_habitat_rate_is_how_often_an_image_shows_a_habitat(rate, low, high):
    images = world_images([5], 200, CLASSES, rate, min_size=32, max_size=40, max_objects=2, object_size=(0.2, 0.3))
    assert low <= np.mean([image.habitat for image in images]) <= high


def test_without_a_habitat_rate_every_background_is_as_likely():
    images = world_images([6], 350, CLASSES, None, min_size=32, max_size=40, max_objects=2, object_size=(0.2, 0.3))
    counts = {name: sum(image.background == name for image in images) for name in BACKGROUNDS}
    assert min(counts.values()) >= 30 and max(counts.values()) <= 70, counts


@pytest.mark.parametrize("angle", [0.0, 1.0, 2.5, 4.0])
@pytest.mark.parametrize("shape", ["disc", "cross", "star", "ellipse", "square"])
def test_the_discriminative_part_is_one_end_of_the_object_holding_its_share(shape, angle):
    mask = shape_mask(shape, 64, 64, 32.0, 32.0, 24.0)
    part = discriminative_part(mask, angle)
    assert not (part & ~mask).any()
    assert abs(part.sum() / mask.sum() - PART_SHARE) < 0.05
    # The part lies past every body pixel in the direction of the angle.
    yy, xx = np.mgrid[0:64, 0:64]
    reach = yy * np.sin(angle) + xx * np.cos(angle)
    assert reach[part].min() >= reach[mask & ~part].max()


@pytest.mark.parametrize("name", CLASSES)
def test_an_object_shows_its_class_colour_and_kind_on_its_part_only_and_its_body_elsewhere(name):
    mask = shape_mask(LOOKS[name][0], 48, 48, 24.0, 24.0, 18.0)
    part = discriminative_part(mask, 0.5)
    for kind in kinds_of(name):
        canvas = np.zeros((48, 48, 3), dtype=np.float64)
        paint_object(canvas, mask, name, kind, 0.5)
        assert (canvas[mask & ~part] == body_colour(name)).all()
        np.testing.assert_array_equal(canvas[part], surface(name, kind, 48, 48)[part])
        assert (canvas[~mask] == 0).all()


def test_every_body_colour_is_shared_by_several_default_classes_and_is_no_class_colour():
    bodies = [body_colour(name) for name in CLASSES]
    assert set(bodies) == set(BODY_COLOURS)
    assert all(bodies.count(colour) >= 2 for colour in BODY_COLOURS)
    assert not set(BODY_COLOURS) & {colour for _, colour in LOOKS.values()}
    assert body_colour("zebra") in BODY_COLOURS  # a folder dataset's class has one too
