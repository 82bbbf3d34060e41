"""torchvision ResNets with output stride 16, as the CAM networks of IRNet and QA-CLIMS use them."""

import os

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from qaclims.errors import QaclimsError

# resnet10 (one block per stage) is the demo's backbone: fast enough for the CPU demo.
ARCHITECTURES = {
    "resnet10": lambda: ResNet(BasicBlock, [1, 1, 1, 1]),
    "resnet18": torchvision.models.resnet18,
    "resnet50": torchvision.models.resnet50,
    "resnet101": torchvision.models.resnet101,
}


def imagenet_state_dict(weights: str) -> dict | None:
    """ImageNet weights from a torchvision enum name (``ResNet50_Weights.IMAGENET1K_V1``) or a path.

    ``none`` means random initialisation (the demo). A path must hold a plain state dict.
    """
    if weights == "none":
        return None
    if os.path.isfile(weights):
        return torch.load(weights, map_location="cpu", weights_only=True)
    enum_name, _, member = weights.partition(".")
    try:
        enum = getattr(torchvision.models, enum_name)
        return getattr(enum, member).get_state_dict(progress=False)
    except AttributeError as error:
        raise QaclimsError(
            f"backbone weights {weights!r} are neither a file nor a torchvision weight enum such as "
            "'ResNet50_Weights.IMAGENET1K_V1'; use 'none' for random weights"
        ) from error


def imagenet_resnet(arch: str, weights: str) -> ResNet:
    """A torchvision ResNet with the given ImageNet weights (see imagenet_state_dict)."""
    if arch not in ARCHITECTURES:
        raise QaclimsError(f"unknown backbone {arch!r}; choose one of {sorted(ARCHITECTURES)}")
    resnet = ARCHITECTURES[arch]()
    state = imagenet_state_dict(weights)
    if state is not None:
        resnet.load_state_dict(state)
    return resnet


def output_stride_16_resnet(arch: str, weights: str) -> ResNet:
    """A ResNet whose last stage keeps stride 1 (strides 2, 2, 2, 1), without dilation."""
    resnet = imagenet_resnet(arch, weights)
    first = resnet.layer4[0]
    strided_conv = first.conv2 if arch in ("resnet50", "resnet101") else first.conv1
    strided_conv.stride = (1, 1)
    first.downsample[0].stride = (1, 1)
    return resnet


def freeze_batch_norm(module: nn.Module) -> None:
    """Keep every BatchNorm in eval mode (running statistics fixed) whatever train() says."""
    for layer in module.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.eval()
