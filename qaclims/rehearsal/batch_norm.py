"""BatchNorm running statistics measured on images, for random ResNets that the stages run with frozen BatchNorm.

A random ResNet keeps BatchNorm's initial statistics (mean 0, variance 1), which do not normalise anything: the
activations of a random ResNet-101 reach a standard deviation of about 3e4 after layer3, and DeepLab's loss turns
NaN at the preset's learning rate. Statistics measured on images give every layer the scale that ImageNet
weights give it.
"""

import math

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet


def scale_residual_branches(resnet: ResNet) -> None:
    """Scale each residual branch's last BatchNorm by 1/sqrt(blocks).

    Measured statistics make every branch's output unit-variance, and the residual stream sums them: after the
    33 blocks of a ResNet-101 its spread would be several times a trained network's, and DeepLab's loss at the
    preset's learning rate reaches 1e4. Scaled so, the stream keeps about unit variance, as in a trained ResNet,
    whose branches add small corrections.
    """
    blocks = [block for layer in (resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4) for block in layer]
    with torch.no_grad():
        for block in blocks:
            last = block.bn3 if isinstance(block, Bottleneck) else block.bn2
            last.weight.fill_(1 / math.sqrt(len(blocks)))


@torch.no_grad()
def calibrate_batch_norm(model: nn.Module, images: torch.Tensor, batch_size: int) -> None:
    """Replace every BatchNorm's running statistics by their averages over ``images`` [N, 3, H, W]."""
    norms = [layer for layer in model.modules() if isinstance(layer, nn.modules.batchnorm._BatchNorm)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over the batches, not an exponential one
    model.train()
    for batch in images.split(batch_size):
        model(batch)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
    model.eval()
