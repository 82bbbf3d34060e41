"""Random weights in the real formats of every model a preset names, each written as its download is.

- BLIP VQA: a hub-layout folder (``save_pretrained``, model and processor) and the original
  ``model_base_vqa_capfilt_large.pth``; a processor folder with a 30,522-entry WordPiece vocabulary laid out
  as bert-base-uncased's, which, like the hub's, declares neither [DEC] nor [ENC].
- open_clip: the model's state dict as a ``.safetensors`` file.
- OV-Seg: ``clip_adapter.clip_model.*`` with the mask embeddings, under ``"model"``.
- torchvision ResNets: a plain state dict, the residual branches scaled down and the BatchNorm statistics measured
  on images (batch_norm.py).

Each size is a parameter (BLIP's layer sizes, the open_clip model name, the ResNet architecture), so that the
tests write the same formats at a small size.
"""

import copy
import re
import warnings
from collections.abc import Sequence

import open_clip
import torch
from safetensors.torch import save_file
from transformers import (
    BertTokenizer,
    BlipConfig,
    BlipForQuestionAnswering,
    BlipImageProcessor,
    BlipProcessor,
)

from qaclims.models.backbone import ARCHITECTURES
from qaclims.models.demo_blip import ANSWER_WORDS
from qaclims.models.mask_clip import MaskPromptCLIP, write_ovseg_checkpoint
from qaclims.rehearsal.batch_norm import calibrate_batch_norm, scale_residual_branches
from qaclims.runtime.atomic import atomic_directory, atomic_path
from qaclims.vqa.blip_checkpoint import (
    BLIP_VQA_BASE,
    config_path,
    write_original_checkpoint,
)
from qaclims.vqa.questions import BACKGROUND_TEMPLATES, FOREGROUND_TEMPLATES

BERT_VOCAB_SIZE = 30522
# bert-base-uncased's layout: [PAD] 0, [unused0..98] 1-99, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103.
BERT_SPECIAL_IDS = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}
LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
CALIBRATION_BATCH = 4
MASK_EMBEDDING_SPREAD = 0.02  # of the random mask prompt, the spread of CLIP's own embeddings


def wordpiece_vocabulary(class_names: Sequence[str]) -> list[str]:
    """BERT's 30,522 entries: its special tokens at their ids, the words of the questions, the classes and
    plausible answers, every letter and digit alone and as a ``##`` piece (no word is [UNK]), then unused ones."""
    words = set(ANSWER_WORDS) | set(LETTERS)
    for text in (*FOREGROUND_TEMPLATES, *BACKGROUND_TEMPLATES, *class_names):
        words.update(re.findall(r"[a-z0-9]+", text.lower()))
    reserved = [f"[unused{k}]" for k in range(BERT_SPECIAL_IDS["[UNK]"] - 1)]
    tokens = ["[PAD]", *reserved, "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words),
              *(f"##{letter}" for letter in LETTERS), "?", ".", ",", "'", "-"]
    return tokens + [f"[unused{k}]" for k in range(len(reserved), len(reserved) + BERT_VOCAB_SIZE - len(tokens))]


def blip_processor(class_names: Sequence[str], image_size: int) -> BlipProcessor:
    vocabulary = {token: index for index, token in enumerate(wordpiece_vocabulary(class_names))}
    return BlipProcessor(image_processor=BlipImageProcessor(size={"height": image_size, "width": image_size}),
                         tokenizer=BertTokenizer(vocab=vocabulary))


def blip_vqa_config(image_size: int, layers: dict | None) -> BlipConfig:
    """BLIP ViT-B VQA's config (the reference's), its towers resized to ``layers`` where given."""
    sizes = copy.deepcopy(BLIP_VQA_BASE)
    if layers:
        sizes["vision_config"].update(layers)
        sizes["text_config"].update(layers, encoder_hidden_size=layers["hidden_size"])
    sizes["vision_config"]["image_size"] = image_size
    return BlipConfig(**sizes)


def random_blip(image_size: int, layers: dict | None, seed: int) -> BlipForQuestionAnswering:
    torch.manual_seed(seed)
    return BlipForQuestionAnswering(blip_vqa_config(image_size, layers)).eval()


def write_blip_processor(directory: str, processor: BlipProcessor) -> None:
    with atomic_directory(directory) as staging:
        processor.save_pretrained(staging)


def write_blip_original(path: str, model: BlipForQuestionAnswering) -> None:
    """BLIP's own file. The download has no config JSON beside it (the loader reads it as BLIP ViT-B), so one
    is kept only for a model of other layer sizes."""
    write_original_checkpoint(model, path)
    if model.config.vision_config.hidden_size == BLIP_VQA_BASE["vision_config"]["hidden_size"]:
        config_path(path).unlink()


def random_open_clip(model_name: str, model_config_dir: str | None, seed: int) -> torch.nn.Module:
    if model_config_dir:
        open_clip.add_model_config(model_config_dir)
    torch.manual_seed(seed)
    return open_clip.create_model(model_name).eval()


def write_safetensors(path: str, model: torch.nn.Module) -> None:
    state = {key: value.detach().contiguous() for key, value in model.state_dict().items()}
    with atomic_path(path) as partial:
        save_file(state, str(partial))


def write_ovseg(path: str, clip_model: torch.nn.Module, depth: int, seed: int) -> None:
    """OV-Seg's checkpoint of ``clip_model`` with random mask embeddings for ``depth`` places."""
    with warnings.catch_warnings():  # the embeddings start at zero: they are filled right below
        warnings.simplefilter("ignore")
        clip = MaskPromptCLIP(clip_model, depth)
    if clip.mask_embedding is not None:
        generator = torch.Generator().manual_seed(seed)
        clip.mask_embedding.data = torch.randn(clip.mask_embedding.shape, generator=generator) * MASK_EMBEDDING_SPREAD
    write_ovseg_checkpoint(path, clip)


def write_resnet(path: str, arch: str, calibration_images: torch.Tensor, seed: int) -> None:
    """A torchvision ResNet's state dict, its residual branches scaled down and its BatchNorm statistics measured
    on ``calibration_images``."""
    torch.manual_seed(seed)
    resnet = ARCHITECTURES[arch]()
    scale_residual_branches(resnet)
    calibrate_batch_norm(resnet, calibration_images, CALIBRATION_BATCH)
    with atomic_path(path) as partial:
        torch.save(resnet.state_dict(), partial)
