"""What a dataset reader returns for each image, before its files are checked."""

from dataclasses import dataclass, field


@dataclass
class ImageRecord:
    image_id: str
    image_path: str
    labels: frozenset[int]  # 0-based class indices present in the image
    splits: set[str] = field(default_factory=set)
    mask_path: str | None = None
    height: int = 0
    width: int = 0
