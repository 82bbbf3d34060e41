"""The weight files of a rehearsal: where they live in the cache folder, how they are built once, and the check of
each by the loader that the stages use."""

import os
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from qaclims.data.images import imagenet_normalise
from qaclims.demo.world import world_images
from qaclims.models.backbone import imagenet_resnet
from qaclims.models.demo_blip import save_blip
from qaclims.models.mask_clip import MaskPromptCLIP, load_ovseg_text_tower
from qaclims.rehearsal import weights
from qaclims.text.clip_text import load_clip
from qaclims.vqa.answering import load_blip, question_start_id

HUB_IMAGE_SIZE = 384  # the hub's conversion of BLIP's VQA model
ORIGINAL_IMAGE_SIZE = 480  # BLIP's own model_base_vqa_capfilt_large.pth
CALIBRATION_IMAGES = 8
CALIBRATION_SIZE = 320
CALIBRATION_STREAM = 7  # the world images of the calibration: apart from every demo world (qaclims.demo)


@dataclass(frozen=True)
class ModelFiles:
    blip_folder: str
    blip_processor: str
    blip_original: str
    clip_checkpoint: str
    ovseg_checkpoint: str
    resnets: dict[str, str]

    def site_keys(self, config: dict) -> dict:
        """The site-file keys that point the preset at these files."""
        return {"vqa": {"model": self.blip_folder},
                "clip": {"pretrained": self.clip_checkpoint},
                "ritc": {"ovseg_checkpoint": self.ovseg_checkpoint},
                "cam": {"backbone_weights": self.resnets[config["cam"]["backbone"]]},
                "seg": {"backbone_weights": self.resnets[config["seg"]["backbone"]]}}


def model_files(cache: str, config: dict) -> ModelFiles:
    clip_name = config["clip"]["model"]
    # The processors' vocabularies hold the words of the dataset's class names, as BERT's holds most of them.
    kind = config["dataset"]["kind"]
    return ModelFiles(
        blip_folder=os.path.join(cache, f"blip-vqa-base-{HUB_IMAGE_SIZE}-{kind}"),
        blip_processor=os.path.join(cache, f"blip-processor-{kind}"),
        blip_original=os.path.join(cache, "model_base_vqa_capfilt_large.pth"),
        clip_checkpoint=os.path.join(cache, f"{clip_name}.safetensors"),
        ovseg_checkpoint=os.path.join(cache, f"ovseg-{clip_name}-depth{config['ritc']['mask_prompt_depth']}.pth"),
        resnets={arch: os.path.join(cache, f"{arch}.pth")
                 for arch in (config["cam"]["backbone"], config["seg"]["backbone"])},
    )


def calibration_images(classes, seed: int, count: int = CALIBRATION_IMAGES,
                       size: int = CALIBRATION_SIZE) -> torch.Tensor:
    """[count, 3, size, size] world images of ``classes``, normalised as the CAM and DeepLab networks see them."""
    drawn = world_images([seed, CALIBRATION_STREAM], count, classes, None, min_size=size, max_size=size,
                         max_objects=3, object_size=(0.15, 0.3))
    pixels = np.stack([imagenet_normalise(Image.fromarray(sample.image)) for sample in drawn])
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()


def build_model_files(files: ModelFiles, config: dict, seed: int, blip_layers: dict | None = None,
                      clip_config_dir: str | None = None, calibration: torch.Tensor | None = None) -> list[str]:
    """Write every file that is not there yet (each appears whole or not at all); return those written.

    ``blip_layers`` None is BLIP ViT-B's size; ``clip_config_dir`` registers the open_clip config of a model
    name that open_clip does not know.
    """
    written = []
    classes = config["dataset"]["classes"]
    processor = weights.blip_processor(classes, HUB_IMAGE_SIZE)
    if not os.path.isdir(files.blip_processor):
        weights.write_blip_processor(files.blip_processor, processor)
        written.append(files.blip_processor)
    # The hub's layout (the model with its processor, at the hub's 384 px) and BLIP's own file (480 px).
    blip_writers = ((files.blip_folder, HUB_IMAGE_SIZE, lambda path, model: save_blip(path, model, processor)),
                    (files.blip_original, ORIGINAL_IMAGE_SIZE, weights.write_blip_original))
    for path, image_size, write in blip_writers:
        if not os.path.exists(path):
            write(path, weights.random_blip(image_size, blip_layers, seed))
            written.append(path)
    if not (os.path.exists(files.clip_checkpoint) and os.path.exists(files.ovseg_checkpoint)):
        clip_model = weights.random_open_clip(config["clip"]["model"], clip_config_dir, seed)
        weights.write_safetensors(files.clip_checkpoint, clip_model)
        weights.write_ovseg(files.ovseg_checkpoint, clip_model, config["ritc"]["mask_prompt_depth"], seed)
        written += [files.clip_checkpoint, files.ovseg_checkpoint]
    for arch, path in files.resnets.items():
        if not os.path.exists(path):
            images = calibration if calibration is not None else calibration_images(classes, seed)
            weights.write_resnet(path, arch, images, seed)
            written.append(path)
    return written


def check_model_files(files: ModelFiles, config: dict, clip_config_dir: str | None = None) -> dict[str, str]:
    """Load every file with the stages' loaders; return what each check found, by file."""
    found, cpu = {}, torch.device("cpu")
    start = config["vqa"]["question_start_token"]
    for source, processor in ((files.blip_folder, None), (files.blip_original, files.blip_processor)):
        model, loaded = load_blip(source, cpu, processor)
        image_size = model.config.vision_config.image_size
        first = question_start_id(loaded.tokenizer, model.config.text_config, start, source)
        found[source] = f"BLIP VQA at {image_size} px, questions start with id {first}"
        del model
    clip_model, _ = load_clip(config["clip"]["model"], files.clip_checkpoint, clip_config_dir, cpu)
    found[files.clip_checkpoint] = f"open_clip {config['clip']['model']}"
    load_ovseg_text_tower(clip_model, files.ovseg_checkpoint)
    with warnings.catch_warnings():  # zero mask embeddings until the checkpoint's are loaded
        warnings.simplefilter("ignore")
        clip = MaskPromptCLIP(clip_model, config["ritc"]["mask_prompt_depth"])
    clip.load_ovseg_checkpoint(files.ovseg_checkpoint)
    shape = list(clip.mask_embedding.shape) if clip.mask_embedding is not None else []
    found[files.ovseg_checkpoint] = f"OV-Seg CLIP, mask embeddings {shape}"
    for arch, path in files.resnets.items():
        imagenet_resnet(arch, path)
        found[path] = f"torchvision {arch}"
    return found
