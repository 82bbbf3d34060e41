"""Reading dataset images."""

import os

from PIL import Image

from qaclims.errors import DatasetError


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """The image at ``path`` as RGB, fully decoded; a missing or corrupt file names the path."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError) as error:
        raise DatasetError(f"image {path} cannot be read ({error}); replace the file or fix the index") from error
