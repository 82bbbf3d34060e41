"""IRNet (Ahn et al., CVPR 2019) on a frozen ResNet: a class-boundary branch and an optional displacement branch.

Only the branches train. Each reads the backbone's five levels (strides 4, 4, 8, 16, 16)
through 1x1 convolutions with group norm and brings them to stride 4. The semantic pseudo
labels use the boundary map alone; the displacement field serves instance segmentation,
so it is off unless asked for.
"""

import torch
import torch.nn.functional as F
from torch import nn

from qaclims.models.backbone import output_stride_16_resnet

LEVEL_STRIDES = (4, 4, 8, 16, 16)
BOUNDARY_WIDTH = 32


def _width(module: nn.Module) -> int:
    """Channels a backbone stage puts out: those of its last batch norm."""
    return [layer for layer in module.modules() if isinstance(layer, nn.BatchNorm2d)][-1].num_features


def _projection(in_channels: int, out_channels: int, groups: int, upsample: int = 1) -> nn.Sequential:
    layers = [nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.GroupNorm(groups, out_channels)]
    if upsample > 1:
        layers.append(nn.Upsample(scale_factor=upsample, mode="bilinear", align_corners=False))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _crop_cat(tensors: list[torch.Tensor], size: torch.Size) -> torch.Tensor:
    return torch.cat([tensor[..., :size[0], :size[1]] for tensor in tensors], dim=1)


class BoundaryBranch(nn.Module):
    def __init__(self, widths: list[int]):
        super().__init__()
        self.levels = nn.ModuleList(_projection(width, BOUNDARY_WIDTH, 4, stride // LEVEL_STRIDES[0])
                                    for width, stride in zip(widths, LEVEL_STRIDES))
        self.head = nn.Conv2d(BOUNDARY_WIDTH * len(widths), 1, 1, bias=True)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        size = features[0].shape[-2:]
        return self.head(_crop_cat([level(feature) for level, feature in zip(self.levels, features)], size))


class DisplacementBranch(nn.Module):
    def __init__(self, widths: list[int]):
        super().__init__()
        self.stride4 = nn.ModuleList([_projection(widths[0], 64, 8), _projection(widths[1], 128, 16)])
        self.stride8 = nn.ModuleList([_projection(widths[2], 256, 16), _projection(widths[3], 256, 16, upsample=2),
                                      _projection(widths[4], 256, 16, upsample=2)])
        self.merge8 = _projection(3 * 256, 256, 16, upsample=2)
        self.head = nn.Sequential(_projection(64 + 128 + 256, 256, 16), nn.Conv2d(256, 2, 1, bias=False))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        fine = [level(feature) for level, feature in zip(self.stride4, features[:2])]
        coarse = [level(feature) for level, feature in zip(self.stride8, features[2:])]
        merged = self.merge8(_crop_cat(coarse, coarse[0].shape[-2:]))
        return self.head(_crop_cat([*fine, merged], fine[0].shape[-2:]))


class IRNetwork(nn.Module):
    def __init__(self, arch: str, weights: str = "none", displacement: bool = False):
        super().__init__()
        resnet = output_stride_16_resnet(arch, weights)
        self.backbone = nn.ModuleList([nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool),
                                       resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4])
        self.backbone.requires_grad_(False)
        widths = [_width(stage) for stage in self.backbone]
        self.boundary = BoundaryBranch(widths)
        self.displacement = DisplacementBranch(widths) if displacement else None

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()  # frozen: ImageNet batch-norm statistics
        return self

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Boundary logits [B, 1, h, w] and displacement [B, 2, h, w] (or None) at stride 4."""
        features = []
        with torch.no_grad():
            level = images
            for stage in self.backbone:
                level = stage(level)
                features.append(level)
        displacement = self.displacement(features) if self.displacement is not None else None
        return self.boundary(features), displacement

    def parameter_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(boundary, displacement) parameters; the displacement branch trains at 10x the learning rate."""
        displacement = list(self.displacement.parameters()) if self.displacement is not None else []
        return list(self.boundary.parameters()), displacement

    @torch.no_grad()
    def boundary_map(self, image: torch.Tensor, pad_to: int | None = None) -> torch.Tensor:
        """[ceil(H/4), ceil(W/4)] boundary probability of a [3, H, W] image, averaged with its mirror.

        QA-CLIMS (like CLIMS) runs the network on the image as it is. IRNet first zero-pads it at the
        bottom and right to the training crop; ``pad_to`` does that, so that group norm sees inputs
        shaped like its training crops. Padding changes the map everywhere: group norm pools its
        statistics over the whole input.
        """
        height, width = image.shape[-2:]
        pair = torch.stack([image, image.flip(-1)])
        if pad_to is not None:
            pair = F.pad(pair, (0, max(0, pad_to - width), 0, max(0, pad_to - height)))
        logits = self(pair)[0][:, 0, :(height - 1) // 4 + 1, :(width - 1) // 4 + 1]
        return torch.sigmoid(logits[0] / 2 + logits[1].flip(-1) / 2)
