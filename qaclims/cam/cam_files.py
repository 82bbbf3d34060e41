"""Reading the CAM files that make_cam writes (qaclims.cam.inference.save_cams): an npz per image of its class keys and
two maps. The stages that only read them need numpy alone, not torch.
"""

import numpy as np

from qaclims.errors import DatasetError


def load_cams(path: str) -> dict[str, np.ndarray]:
    """The keys and both maps, in the dtype they were saved in; readers convert the maps as they need."""
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in ("keys", "high_res", "strided")}


def checked_cams(path: str, labels: np.ndarray, image_size: tuple[int, int] | None = None) -> dict:
    """The CAMs of ``path``; their classes must be the image's labels and, if given, their size (H, W) the image's."""
    cams = load_cams(path)
    if not np.array_equal(np.sort(cams["keys"]), np.flatnonzero(labels)):
        raise DatasetError(f"CAM file {path} has classes {cams['keys'].tolist()} but the image is labelled "
                           f"{np.flatnonzero(labels).tolist()}; make the CAMs again from the current index")
    if image_size is not None and tuple(cams["high_res"].shape[1:]) != tuple(image_size):
        raise DatasetError(f"CAM file {path} is {cams['high_res'].shape[1]}x{cams['high_res'].shape[2]} but its image "
                           f"is {image_size[0]}x{image_size[1]}; make the CAMs again from the current images")
    return cams
