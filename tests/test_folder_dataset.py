"""Your own images: the folder dataset's reader and checks, and photos turned upright, to RGB and capped once."""

import json

import numpy as np
import pytest
from helpers import indexed_demo_dataset
from photos import PHOTO_CLASSES, PHOTOS, write_photo_folder
from PIL import Image

from qaclims.cli import main
from qaclims.config import validate_config
from qaclims.data.build import build_index
from qaclims.data.folder import read_folder
from qaclims.data.images import EXIF_ORIENTATION, load_upright_rgb
from qaclims.data.index import read_index
from qaclims.data.labels import read_label_png, write_label_png
from qaclims.errors import DatasetError


def folder_config(root, **dataset) -> dict:
    return {"kind": "folder", "root": str(root), "classes": ["cat", "dog", "rocket"], "splits": ["train", "val"],
            "mask_splits": [], "mask_pattern": "unused", "decode_images": True, "max_long_side": 500, **dataset}


def small_folder(root, rows: list[str], sizes: dict | None = None):
    """images/ with a 40x30 RGB JPEG for each row's file (or the size in ``sizes``), and labels.csv of ``rows``."""
    (root / "images").mkdir(parents=True)
    for row in rows[1:]:
        name = row.split(",")[0]
        width, height = (sizes or {}).get(name, (40, 30))
        Image.new("RGB", (width, height), (200, 30, 30)).save(root / "images" / name)
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def test_without_a_split_column_every_image_is_in_every_split_and_unlabelled_ones_are_counted(tmp_path):
    root = small_folder(tmp_path, ["image,classes", "a.jpg,cat;rocket", "b.png,dog", "c.jpg,"])
    built = build_index(folder_config(root), str(root))
    frame = built.index.frame
    assert list(frame["image_id"]) == ["a", "b"]
    assert frame["split_train"].all() and frame["split_val"].all()
    assert built.index.labels().tolist() == [[1, 0, 1], [0, 1, 0]]
    assert (frame[["height", "width"]].to_numpy() == [30, 40]).all()
    assert any("1 images have no class and are left out of training" in warning for warning in built.warnings)


def test_a_split_column_puts_each_image_in_its_splits_and_masks_are_found_by_stem(tmp_path):
    root = small_folder(tmp_path, ["image,classes,split", "a.jpg,cat,train;val", "b.jpg,dog,val"])
    (root / "masks").mkdir()
    write_label_png(root / "masks" / "b.png", np.ones((30, 40), dtype=np.uint8))
    records = {record.image_id: record for record in read_folder(str(root), ["cat", "dog"], ["train", "val"]).records}
    assert records["a"].splits == {"train", "val"} and records["b"].splits == {"val"}
    assert records["a"].mask_path is None and records["b"].mask_path.endswith("masks/b.png")


@pytest.mark.parametrize(("rows", "message"), [
    (["image,classes", "a.jpg,cat;horse"], r"line 2 names classes \['horse'\].*add them to dataset.classes"),
    (["image,classes", "a.jpg,cat", "a.jpg,dog"], r"line 3: image 'a.jpg' has the name stem of line 2"),
    (["image,classes", "a.jpg,cat", "a.png,dog"], r"line 3: image 'a.png' has the name stem of line 2"),
    (["image,classes,split", "a.jpg,cat,test"], r"line 2 names splits \['test'\].*add them there"),
    (["image,classes,split", "a.jpg,cat,"], r"line 2 has no split"),
    (["file,labels", "a.jpg,cat"], r"has no column image, classes"),
    (["image,classes", "a.jpg,cat,dog"],
     r"line 2 has 1 more fields than the header `image,classes`: \['dog'\]; .* as in `a.jpg,cat;dog`"),
    (["image,classes"], r"labels.csv gives no image a class, so there is nothing to train on; add one row per image"),
    (["image,classes", "a.jpg,"], r"labels.csv gives no image a class"),
])
def test_a_bad_row_is_named_with_what_to_do(tmp_path, rows, message):
    root = small_folder(tmp_path, rows)
    with pytest.raises(DatasetError, match=message):
        build_index(folder_config(root), str(root))


def test_a_missing_image_file_names_the_line(tmp_path):
    root = small_folder(tmp_path, ["image,classes", "a.jpg,cat"])
    (root / "labels.csv").write_text("image,classes\na.jpg,cat\nmissing.jpg,dog\n")
    with pytest.raises(DatasetError, match=r"line 3: image .*missing.jpg does not exist; add the file or remove"):
        build_index(folder_config(root), str(root))


def test_check_data_names_a_corrupt_image_and_a_mask_of_another_size_and_writes_nothing(tmp_path, capsys):
    root = small_folder(tmp_path / "data", ["image,classes", "a.jpg,cat", "b.jpg,dog"])
    (root / "masks").mkdir()
    write_label_png(root / "masks" / "a.png", np.zeros((40, 30), dtype=np.uint8))
    config = json.dumps({"dataset": folder_config(root), "output_dir": str(tmp_path / "results")})
    assert main(["check-data", "--config", config]) == 2
    assert "a.png is 30x40 but image" in capsys.readouterr().err
    (root / "masks" / "a.png").unlink()
    (root / "images" / "b.jpg").write_bytes((root / "images" / "b.jpg").read_bytes()[:200])
    assert main(["check-data", "--config", config]) == 2
    assert "b.jpg cannot be read" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_check_data_refuses_a_photo_too_thin_once_shrunk_naming_the_original_and_its_shrunk_size(tmp_path, capsys):
    root = small_folder(tmp_path / "data", ["image,classes", "thin.png,cat"], sizes={"thin.png": (4000, 30)})
    config = json.dumps({"dataset": folder_config(root), "output_dir": str(tmp_path / "results")})
    assert main(["check-data", "--config", config]) == 2
    assert (f"image {root / 'images' / 'thin.png'} is 4000x30, and 500x4 once shrunk to dataset.max_long_side 500"
            in capsys.readouterr().err)


def test_a_mask_of_another_size_is_named(tmp_path):
    root = small_folder(tmp_path, ["image,classes", "a.jpg,cat"])
    (root / "masks").mkdir()
    write_label_png(root / "masks" / "a.png", np.zeros((40, 30), dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"mask .*a.png is 30x40 but image .*a.jpg is 40x30"):
        build_index(folder_config(root), str(root))


def test_any_class_name_works_for_a_voc_layout_and_an_unknown_one_says_add_it_there(tmp_path):
    _, dataset = indexed_demo_dataset(tmp_path, ["cat", "person"], seed=0, num_train=4, num_train_extra=0,
                                      num_val=2, min_size=48, max_size=64)
    defaults = validate_config({})["dataset"]
    renamed = build_index({**defaults, **dataset, "classes": ["cat", "person", "rocket"]}, dataset["root"])
    assert renamed.index.classes == ["cat", "person", "rocket"] and not renamed.index.labels()[:, 2].any()
    with pytest.raises(DatasetError, match=r"names class 'person', which is not in dataset.classes.*add it there"):
        build_index({**defaults, **dataset, "classes": ["cat", "rocket"]}, dataset["root"])


def test_an_rgba_png_becomes_rgb_with_its_colours(tmp_path):
    pixels = np.zeros((20, 30, 4), dtype=np.uint8)
    pixels[..., :3], pixels[..., 3] = (10, 200, 30), 255
    Image.fromarray(pixels, "RGBA").save(tmp_path / "a.png")
    photo = load_upright_rgb(tmp_path / "a.png")
    assert photo.mode == "RGBA" and photo.image.mode == "RGB"
    assert (np.asarray(photo.image) == (10, 200, 30)).all()


def test_a_cmyk_jpeg_becomes_rgb_with_its_colours(tmp_path):
    rgb = Image.new("RGB", (32, 24), (220, 40, 60))
    rgb.convert("CMYK").save(tmp_path / "a.jpg", quality=95)
    photo = load_upright_rgb(tmp_path / "a.jpg")
    assert photo.mode == "CMYK" and photo.image.size == (32, 24)
    assert np.abs(np.asarray(photo.image).astype(int) - (220, 40, 60)).max() < 12


def test_an_exif_rotated_jpeg_is_turned_upright_once_and_its_size_is_the_upright_one(tmp_path):
    stored = np.zeros((20, 40, 3), dtype=np.uint8)
    stored[:, :20] = 255  # left half white as stored
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[EXIF_ORIENTATION] = 6  # shown turned 90 degrees clockwise
    image.save(tmp_path / "a.jpg", exif=exif, quality=95)
    photo = load_upright_rgb(tmp_path / "a.jpg")
    assert photo.oriented and photo.size == (40, 20) and photo.image.size == (20, 40)
    upright = np.asarray(photo.image).mean(axis=(1, 2))
    assert upright[:15].mean() > 200 and upright[-15:].mean() < 50  # the stored left half is now on top
    root = small_folder(tmp_path / "data", ["image,classes", "b.jpg,cat"])
    image.save(root / "images" / "b.jpg", exif=exif)
    (root / "masks").mkdir()
    write_label_png(root / "masks" / "b.png", np.zeros((40, 20), dtype=np.uint8))
    frame = build_index(folder_config(root), str(root)).index.frame
    assert frame[["height", "width"]].to_numpy().tolist() == [[40, 20]]


def test_a_large_photo_is_capped_with_its_mask_by_nearest_neighbour_and_the_log_says_so(tmp_path, capsys):
    root = small_folder(tmp_path / "data", ["image,classes", "big.jpg,cat", "small.png,dog"],
                        sizes={"big.jpg": (1200, 900)})
    (root / "masks").mkdir()
    mask = np.zeros((900, 1200), dtype=np.uint8)
    mask[300:600, 400:800], mask[295:300] = 1, 255
    write_label_png(root / "masks" / "big.png", mask)
    config = json.dumps({"dataset": folder_config(root, max_long_side=300)})
    prepared = tmp_path / "prepared"
    assert main(["prepare-images", "--config", config, "--root", str(root), "--out", str(prepared)]) == 0
    assert "1 images shrunk to a long side of 300 px" in capsys.readouterr().out
    assert Image.open(prepared / "images" / "big.png").size == (300, 225)
    assert Image.open(prepared / "images" / "small.png").size == (40, 30)
    capped_mask = read_label_png(prepared / "masks" / "big.png")
    assert capped_mask.shape == (225, 300) and set(np.unique(capped_mask)) == {0, 1, 255}
    index = tmp_path / "index.parquet"
    assert main(["index", "--config", config, "--root", str(prepared), "--out", str(index)]) == 0
    frame = read_index(str(index)).frame.set_index("image_id")
    assert frame.loc["big", ["height", "width"]].tolist() == [225, 300]
    assert frame.loc["big", "mask_path"] == str(prepared / "masks" / "big.png")


def test_the_scikit_image_photos_index_as_a_folder_dataset_with_the_grayscale_one_in_rgb(tmp_path, capsys):
    root = write_photo_folder(tmp_path / "photos")
    config = json.dumps({"dataset": folder_config(root, classes=PHOTO_CLASSES, splits=["train"])})
    assert main(["prepare-images", "--config", config, "--root", str(root), "--out", str(tmp_path / "p")]) == 0
    out = capsys.readouterr()
    assert "converted to RGB: 1 L" in out.out and "1 images have no class" in out.err
    assert sorted(path.name for path in (tmp_path / "p" / "images").iterdir()) == sorted(
        f"{name.rsplit('.', 1)[0]}.png" for name, _ in PHOTOS.values())
    assert Image.open(tmp_path / "p" / "images" / "cameraman.png").mode == "RGB"
