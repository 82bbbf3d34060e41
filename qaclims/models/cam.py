"""The CAM networks: the baseline multi-label classifier and the QA-CLIMS network.

Both share their parameter names (stage1..stage4, classifier), so the baseline's weights
load strictly into the QA-CLIMS network that is initialised from them.
"""

import torch
from torch import nn

from qaclims.models.backbone import freeze_batch_norm, output_stride_16_resnet


class CAMNetwork(nn.Module):
    def __init__(self, arch: str, num_classes: int, weights: str = "none"):
        super().__init__()
        resnet = output_stride_16_resnet(arch, weights)
        self.stage1 = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool, resnet.layer1)
        self.stage2, self.stage3, self.stage4 = resnet.layer2, resnet.layer3, resnet.layer4
        self.classifier = nn.Conv2d(resnet.fc.in_features, num_classes, kernel_size=1, bias=False)
        # conv1 and bn1 keep their ImageNet parameters, as in IRNet. bn1's running statistics still
        # follow the subclass's batch norm mode: fixed in the baseline, live in the QA-CLIMS network.
        for parameter in (*resnet.conv1.parameters(), *resnet.bn1.parameters()):
            parameter.requires_grad_(False)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.stage4(self.stage3(self.stage2(self.stage1(images))))

    def cam_logits(self, images: torch.Tensor) -> torch.Tensor:
        """[B, C, H/16, W/16] class activation logits."""
        return self.classifier(self.features(images))

    def parameter_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(backbone, head) trainable parameters; the head trains at 10x the learning rate."""
        head = list(self.classifier.parameters())
        backbone = [p for name, p in self.named_parameters() if p.requires_grad and not name.startswith("classifier")]
        return backbone, head


class BaselineCAMNetwork(CAMNetwork):
    """Global average pooling and a bias-free 1x1 classifier; batch norm frozen (IRNet's recipe)."""

    def train(self, mode: bool = True):
        super().train(mode)
        freeze_batch_norm(self)
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = self.features(images).mean(dim=(2, 3), keepdim=True)
        return self.classifier(pooled).flatten(1)


class QACLIMSNetwork(CAMNetwork):
    """Per-pixel sigmoid CAMs; batch norm is live (SyncBatchNorm under DDP), as in the reference.

    bn1 included: its parameters are frozen, but its running statistics update in train mode, as in
    the reference's net/resnet50_v2.py.
    """

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.cam_logits(images))
