"""Label PNGs: the VOC colour map, palette writing, reading palette and grey index images."""

import numpy as np
import pytest
from PIL import Image

from qaclims.data.labels import (
    IGNORE_INDEX,
    VOC_PALETTE,
    read_label_png,
    voc_colormap,
    write_label_png,
)
from qaclims.errors import DatasetError


@pytest.mark.parametrize("index, colour", [
    (0, (0, 0, 0)),
    (1, (128, 0, 0)),
    (2, (0, 128, 0)),
    (3, (128, 128, 0)),
    (4, (0, 0, 128)),
    (8, (64, 0, 0)),       # bit 3 is the second bit of red
    (15, (192, 128, 128)),
    (255, (224, 224, 192)),
])
def test_voc_colormap_known_entries(index, colour):
    colours = voc_colormap()
    assert colours.shape == (256, 3)
    assert colours.dtype == np.uint8
    assert tuple(int(c) for c in colours[index]) == colour


def test_voc_colormap_size_and_module_palette():
    small = voc_colormap(16)
    assert small.shape == (16, 3)
    np.testing.assert_array_equal(small, VOC_PALETTE[:16])
    # Every entry of the full palette is a different colour.
    assert len({tuple(row) for row in VOC_PALETTE.tolist()}) == 256
    assert IGNORE_INDEX == 255


def test_write_label_png_writes_a_voc_palette_png_that_round_trips(tmp_path):
    label = np.array([[0, 1, 2, 255],
                      [20, 0, 255, 3],
                      [7, 7, 0, 1]], dtype=np.uint8)
    path = tmp_path / "sub" / "mask.png"
    write_label_png(path, label)

    assert sorted(p.name for p in path.parent.iterdir()) == ["mask.png"]  # no partial file left
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.mode == "P"
        assert image.size == (4, 3)
        palette = np.array(image.getpalette()[:768], dtype=np.uint8).reshape(-1, 3)
    assert palette.shape == (256, 3)
    np.testing.assert_array_equal(palette, voc_colormap())
    assert tuple(palette[15]) == (192, 128, 128)

    read = read_label_png(path)
    assert read.dtype == np.uint8
    assert read.shape == (3, 4)
    np.testing.assert_array_equal(read, label)
    assert read[0, 3] == 255


def test_write_label_png_accepts_a_str_path(tmp_path):
    label = np.full((2, 2), 255, dtype=np.uint8)
    write_label_png(str(tmp_path / "m.png"), label)
    np.testing.assert_array_equal(read_label_png(str(tmp_path / "m.png")), label)


def test_read_label_png_reads_a_grey_index_image(tmp_path):
    label = np.array([[0, 5], [255, 19]], dtype=np.uint8)
    path = tmp_path / "grey.png"
    Image.fromarray(label, mode="L").save(path)
    with Image.open(path) as image:
        assert image.mode == "L"
    np.testing.assert_array_equal(read_label_png(path), label)


def test_read_label_png_rejects_colour_masks_naming_the_file(tmp_path):
    path = tmp_path / "colour_mask.png"
    Image.fromarray(np.zeros((3, 3, 3), dtype=np.uint8), mode="RGB").save(path)
    with pytest.raises(DatasetError, match="colour_mask.png") as error:
        read_label_png(path)
    assert "'RGB'" in str(error.value)
    assert str(path) in str(error.value)


def test_read_label_png_missing_or_broken_file_is_a_dataset_error(tmp_path):
    missing = tmp_path / "missing.png"
    with pytest.raises(DatasetError, match="missing.png"):
        read_label_png(missing)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a png")
    with pytest.raises(DatasetError, match="broken.png"):
        read_label_png(broken)


@pytest.mark.parametrize("label", [
    np.zeros((2, 2), dtype=np.int64),
    np.zeros((2, 2), dtype=np.uint16),
    np.zeros((2, 2, 3), dtype=np.uint8),
    np.zeros(4, dtype=np.uint8),
], ids=["int64", "uint16", "3d", "1d"])
def test_write_label_png_rejects_non_uint8_or_non_2d(tmp_path, label):
    path = tmp_path / "bad.png"
    with pytest.raises(ValueError, match="2-D uint8"):
        write_label_png(path, label)
    assert list(tmp_path.iterdir()) == []
