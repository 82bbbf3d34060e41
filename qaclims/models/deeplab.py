"""Segmentation networks: DeepLab-v2 (dilated ResNet + ASPP, the reference recipe) and torchvision's DeepLab-v3.

Both map [B, 3, H, W] images to [B, C + 1, h, w] logits (background first); DeepLab-v2 at
stride 8, DeepLab-v3 upsampled to the input. Batch norm is frozen, as in the reference: the
batches are small, so their statistics would be noise.
"""

import torch
import torchvision
from torch import nn

from qaclims.errors import QaclimsError
from qaclims.models.backbone import (
    freeze_batch_norm,
    imagenet_resnet,
    imagenet_state_dict,
)


def _dilate(layer: nn.Sequential, dilation: int) -> None:
    """Turn a ResNet stage's stride into dilation: same receptive field growth, no downsampling."""
    for block in layer:
        convs = [module for module in block.modules() if isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3)]
        for conv in convs:
            conv.stride, conv.dilation, conv.padding = (1, 1), (dilation, dilation), (dilation, dilation)
        for conv in block.modules():
            if isinstance(conv, nn.Conv2d):
                conv.stride = (1, 1)


def dilated_resnet(arch: str, weights: str) -> torchvision.models.ResNet:
    """A ResNet with output stride 8: stages 3 and 4 dilated by 2 and 4 instead of strided."""
    resnet = imagenet_resnet(arch, weights)
    _dilate(resnet.layer3, 2)
    _dilate(resnet.layer4, 4)
    return resnet


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling of DeepLab-v2: parallel dilated 3x3 classifiers, summed."""

    def __init__(self, in_channels: int, num_outputs: int, rates: list[int]):
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(in_channels, num_outputs, 3, padding=rate, dilation=rate, bias=True)
                                      for rate in rates)
        for branch in self.branches:
            nn.init.normal_(branch.weight, std=0.01)
            nn.init.zeros_(branch.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return sum(branch(features) for branch in self.branches)


class DeepLabV2(nn.Module):
    def __init__(self, arch: str, num_outputs: int, weights: str = "none", rates: tuple[int, ...] = (6, 12, 18, 24)):
        super().__init__()
        resnet = dilated_resnet(arch, weights)
        self.backbone = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool,
                                      resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4)
        self.head = ASPP(resnet.fc.in_features, num_outputs, list(rates))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))


class DeepLabV3(nn.Module):
    """torchvision's DeepLab-v3 (ASPP with image pooling), logits at the input size."""

    def __init__(self, arch: str, num_outputs: int, weights: str = "none"):
        super().__init__()
        builders = {"resnet50": torchvision.models.segmentation.deeplabv3_resnet50,
                    "resnet101": torchvision.models.segmentation.deeplabv3_resnet101}
        if arch not in builders:
            raise QaclimsError(f"torchvision's DeepLab-v3 has backbones {sorted(builders)}, not {arch!r}")
        model = builders[arch](weights=None, weights_backbone=None, num_classes=num_outputs, aux_loss=False)
        state = imagenet_state_dict(weights)
        if state is not None:
            missing, unexpected = model.backbone.load_state_dict(state, strict=False)
            if missing or set(unexpected) - {"fc.weight", "fc.bias"}:
                raise QaclimsError(f"backbone weights {weights!r} do not fit {arch}: missing {missing[:5]}, "
                                   f"unexpected {sorted(set(unexpected))[:5]}")
        self.backbone, self.head = model.backbone, model.classifier

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.backbone(images)["out"])
        return nn.functional.interpolate(logits, images.shape[-2:], mode="bilinear", align_corners=False)


class FrozenBatchNorm(nn.Module):
    """Wraps a network: every batch norm keeps its running statistics and its affine parameters."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network
        for layer in network.modules():
            if isinstance(layer, nn.BatchNorm2d):
                layer.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        freeze_batch_norm(self)
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)

    def parameter_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter], list[nn.Parameter]]:
        """(backbone, head weights, head biases): the head trains at 10x and its biases at 20x without decay."""
        head = self.network.head
        biases = [p for name, p in head.named_parameters() if name.endswith("bias") and p.requires_grad]
        weights = [p for p in _trainable(head) if all(p is not bias for bias in biases)]
        return _trainable(self.network.backbone), weights, biases


def _trainable(module: nn.Module) -> list[nn.Parameter]:
    return [parameter for parameter in module.parameters() if parameter.requires_grad]


def segmentation_network(kind: str, arch: str, num_outputs: int, weights: str = "none",
                         rates: tuple[int, ...] = (6, 12, 18, 24)) -> nn.Module:
    if kind == "deeplabv2":
        return FrozenBatchNorm(DeepLabV2(arch, num_outputs, weights, rates))
    return FrozenBatchNorm(DeepLabV3(arch, num_outputs, weights))
