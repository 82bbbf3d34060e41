"""Multi-scale, flip-augmented class activation maps, as IRNet and QA-CLIMS make them.

Per scale, the image and its mirror go through the network together; the ReLU of the CAM
logits of the mirror is flipped back and added. Two maps are kept per image: a stride-4
one for the random walk and a full-resolution one, each summed over scales, restricted to
the image's labelled classes and divided by its own maximum.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from qaclims.data.images import imagenet_normalise, load_rgb
from qaclims.runtime.atomic import atomic_path

NETWORK_STRIDE = 16
STRIDED_STRIDE = 4


def scaled_inputs(image: Image.Image, scales: list[float]) -> list[torch.Tensor]:
    """ImageNet-normalised [3, h, w] tensors of the image at each scale (bicubic, as the reference)."""
    inputs = []
    for scale in scales:
        size = (round(image.width * scale), round(image.height * scale))
        resized = image if scale == 1 else image.resize(size, Image.Resampling.BICUBIC)
        inputs.append(torch.from_numpy(imagenet_normalise(resized).transpose(2, 0, 1).copy()))
    return inputs


@dataclass
class ImageCams:
    keys: np.ndarray  # [K] 0-based class indices of the image's labels
    high_res: torch.Tensor  # [K, H, W]
    strided: torch.Tensor  # [K, ceil(H/4), ceil(W/4)]


def normalise_by_max(cams: torch.Tensor) -> torch.Tensor:
    return cams / (cams.amax(dim=(1, 2), keepdim=True) + 1e-5)


@torch.no_grad()
def multiscale_cams(cam_logits, inputs: list[torch.Tensor], height: int, width: int,
                    keys: np.ndarray, device: torch.device) -> ImageCams:
    """CAMs of one image from its scaled inputs; ``cam_logits`` maps [B, 3, h, w] to [B, C, h', w']."""
    strided_size = (math.ceil(height / STRIDED_STRIDE), math.ceil(width / STRIDED_STRIDE))
    padded_size = (math.ceil(height / NETWORK_STRIDE) * NETWORK_STRIDE, math.ceil(width / NETWORK_STRIDE) * NETWORK_STRIDE)
    keys_on_device = torch.as_tensor(keys, device=device)
    strided = high_res = 0
    for scaled in inputs:
        pair = torch.stack([scaled, scaled.flip(-1)]).to(device)
        activation = F.relu(cam_logits(pair)[:, keys_on_device].float())
        combined = (activation[0] + activation[1].flip(-1)).unsqueeze(0)
        strided = strided + F.interpolate(combined, strided_size, mode="bilinear", align_corners=False)[0]
        high_res = high_res + F.interpolate(combined, padded_size, mode="bilinear", align_corners=False)[0]
    high_res = high_res[:, :height, :width]
    return ImageCams(keys, normalise_by_max(high_res).cpu(), normalise_by_max(strided).cpu())


def save_cams(path: str, cams: ImageCams, dtype: str) -> None:
    """An npz of the keys and both maps, the maps stored as ``dtype`` (float16 or float32)."""
    with atomic_path(path) as partial:
        with open(partial, "wb") as handle:
            np.savez(handle, keys=cams.keys.astype(np.int64), high_res=cams.high_res.numpy().astype(dtype),
                     strided=cams.strided.numpy().astype(dtype))


class ScaledImages(torch.utils.data.Dataset):
    def __init__(self, paths: list[str], scales: list[float]):
        self.paths, self.scales = paths, scales

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, position: int):
        image = load_rgb(self.paths[position])
        return position, image.height, image.width, scaled_inputs(image, self.scales)
