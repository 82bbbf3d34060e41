"""The stand-in for ImageNet: the CAM backbone trained to classify objects of the VOC classes outside the demo's.

Like ImageNet weights it knows shapes, colours and textures before it ever sees a demo class. It is
written as a plain torchvision state dict, which cam.backbone_weights and seg.backbone_weights load
as they load a real one (its classifier keeps 1000 outputs, so the real loader loads it strictly).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from qaclims.data.images import imagenet_normalise
from qaclims.demo.knowledge import measure
from qaclims.demo.world import PRETRAINING_DRAWING, other_classes, world_images
from qaclims.errors import ConfigError
from qaclims.models.backbone import imagenet_resnet
from qaclims.runtime.atomic import atomic_path

WORLD_STREAM = 3  # see qaclims.demo.pretrain_clip
HELD_OUT_STREAM = 4
HELD_OUT_IMAGES = 400
DRAWING = {**PRETRAINING_DRAWING, "max_objects": 1, "object_size": (0.18, 0.34)}  # one object: its class is the label


@dataclass(frozen=True)
class BackbonePretraining:
    architecture: str
    image_size: int
    images: int
    steps: int
    batch_size: int
    lr: float
    seed: int


def classification_tensors(classes: Sequence[str], seed: Sequence[int], count: int,
                           size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """([N, 3, S, S] ImageNet-normalised images of one object each, [N] its class index)."""
    world = world_images(seed, count, classes, None, **DRAWING)
    pixels = np.stack([imagenet_normalise(Image.fromarray(sample.image).resize((size, size), Image.Resampling.BILINEAR))
                       for sample in world]).transpose(0, 3, 1, 2)
    return torch.from_numpy(pixels.copy()), torch.tensor([sample.objects[0].class_index for sample in world])


def pretrain_backbone(path: str, demo_classes: Sequence[str], settings: BackbonePretraining) -> dict:
    """Train the stand-in, write its state dict and return its held-out top-1 accuracy (a knowledge.measure row)."""
    classes = other_classes(demo_classes)
    if len(classes) < 2:
        raise ConfigError(f"the stand-in backbone learns the VOC classes outside dataset.classes; only {classes} "
                          "are left: leave some VOC classes out of the demo")
    images, targets = classification_tensors(classes, [settings.seed, WORLD_STREAM], settings.images,
                                             settings.image_size)
    torch.manual_seed(settings.seed)
    network = imagenet_resnet(settings.architecture, "none")
    optimizer = torch.optim.SGD(network.parameters(), lr=settings.lr, momentum=0.9, weight_decay=1e-4, nesterov=True)
    rng = np.random.default_rng([settings.seed, WORLD_STREAM])
    network.train()
    for step in range(settings.steps):
        for group in optimizer.param_groups:
            group["lr"] = settings.lr * (1 - step / settings.steps) ** 0.9
        picks = torch.from_numpy(rng.integers(len(images), size=settings.batch_size))
        batch = images[picks].flip(-1) if rng.random() < 0.5 else images[picks]
        loss = F.cross_entropy(network(batch), targets[picks])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % 50 == 0 or step + 1 == settings.steps:
            print(f"backbone step {step + 1}/{settings.steps} loss {loss.item():.3f}", flush=True)
    network.eval()
    held_images, held_targets = classification_tensors(classes, [settings.seed, HELD_OUT_STREAM], HELD_OUT_IMAGES,
                                                        settings.image_size)
    with torch.no_grad():
        right = (network(held_images).argmax(1) == held_targets).tolist()
    with atomic_path(path) as partial:
        torch.save(network.state_dict(), partial)
    return measure(f"backbone: held-out top-1 among the {len(classes)} VOC classes outside the demo's", right)
