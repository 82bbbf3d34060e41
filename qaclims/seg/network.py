"""The segmentation network a config describes, built the same way for training and for inference."""

import torch

from qaclims.models.deeplab import segmentation_network


def network_from_config(settings: dict, num_classes: int, weights: str) -> torch.nn.Module:
    """``settings`` is the ``seg`` section; the network predicts background and ``num_classes`` classes."""
    return segmentation_network(settings["model"], settings["backbone"], num_classes + 1, weights,
                                tuple(settings["aspp_rates"]))
