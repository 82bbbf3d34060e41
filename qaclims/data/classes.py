"""Class names of the supported datasets."""

# In label order (mask value k is VOC_CLASSES[k-1]), written with spaces as the
# QA-CLIMS question templates use them.
VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "dining table", "dog", "horse", "motorbike", "person", "potted plant", "sheep", "sofa",
    "train", "tv monitor",
)

# Split sizes of the real datasets; other counts only draw a warning.
EXPECTED_SPLIT_COUNTS = {
    "voc12": {"train": 1464, "val": 1449, "train_aug": 10582},
    "coco14": {"train": 82081, "val": 40137},
}


def voc_xml_name(class_name: str) -> str:
    """The name a VOC annotation uses: "dining table" is written "diningtable"."""
    return class_name.replace(" ", "")
