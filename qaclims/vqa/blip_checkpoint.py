"""The original BLIP VQA checkpoint (salesforce/BLIP) in transformers' BlipForQuestionAnswering, at its own size.

The reference loads ``model_base_vqa_capfilt_large.pth`` at 480 px. The hub's Salesforce/blip-vqa-capfilt-large
was converted from that file at 384 px, its position embeddings interpolated down, so asking it at 480 px
interpolates them back up: a lossy round trip. This module reads the original file (a torch file whose
``"model"`` entry is BLIP_VQA's state dict) through one table of key names, and builds the model at the size of
the checkpoint's own position embeddings.
"""

import os
import pickle
import re
from pathlib import Path

import torch
from transformers import BlipConfig, BlipForQuestionAnswering

from qaclims.errors import QaclimsError
from qaclims.runtime.atomic import atomic_path

STATE_KEY = "model"
LAYER = "#"
# (original key prefix, transformers key prefix); "#" stands for a block number. The original names are
# those of salesforce/BLIP models/vit.py (timm's ViT: fused qkv, as in transformers) and models/med.py; the
# BERT text towers have the same names on both sides.
KEY_PREFIXES = (
    ("visual_encoder.cls_token", "vision_model.embeddings.class_embedding"),
    ("visual_encoder.pos_embed", "vision_model.embeddings.position_embedding"),
    ("visual_encoder.patch_embed.proj.", "vision_model.embeddings.patch_embedding."),
    ("visual_encoder.blocks.#.norm1.", "vision_model.encoder.layers.#.layer_norm1."),
    ("visual_encoder.blocks.#.attn.qkv.", "vision_model.encoder.layers.#.self_attn.qkv."),
    ("visual_encoder.blocks.#.attn.proj.", "vision_model.encoder.layers.#.self_attn.projection."),
    ("visual_encoder.blocks.#.norm2.", "vision_model.encoder.layers.#.layer_norm2."),
    ("visual_encoder.blocks.#.mlp.", "vision_model.encoder.layers.#.mlp."),
    ("visual_encoder.norm.", "vision_model.post_layernorm."),
    ("text_encoder.", "text_encoder."),
    ("text_decoder.", "text_decoder."),
)
POSITION_EMBEDDING = "visual_encoder.pos_embed"
PATCH_WEIGHT = "visual_encoder.patch_embed.proj.weight"
# The reference's BLIP_VQA(vit='base'): models/blip.py create_vit (ViT-B/16 whose LayerNorms use eps 1e-6,
# where transformers' default is 1e-5) and configs/med_config.json (BERT-base with cross-attention; the
# vocabulary is bert-base-uncased's 30522 tokens plus [DEC] = 30522 and [ENC] = 30523).
BLIP_VQA_BASE = {
    "vision_config": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                      "num_attention_heads": 12, "layer_norm_eps": 1e-6},
    "text_config": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                    "num_attention_heads": 12, "vocab_size": 30524, "max_position_embeddings": 512,
                    "layer_norm_eps": 1e-12, "bos_token_id": 30522, "sep_token_id": 102, "pad_token_id": 0},
}


def config_path(checkpoint: str) -> Path:
    """Where a BlipConfig JSON for a checkpoint of another architecture than BLIP_VQA_BASE goes."""
    return Path(checkpoint).with_suffix(".json")


def _pattern(prefix: str) -> re.Pattern:
    return re.compile(re.escape(prefix).replace(re.escape(LAYER), r"(\d+)"))


_FORWARD = [(_pattern(old), new) for old, new in KEY_PREFIXES]
_BACKWARD = [(_pattern(new), old) for old, new in KEY_PREFIXES]


def _rename(key: str, table) -> str | None:
    for pattern, target in table:
        found = pattern.match(key)
        if found:
            for number in found.groups():
                target = target.replace(LAYER, number, 1)
            return target + key[found.end():]
    return None


def blip_config(checkpoint: str, state: dict) -> BlipConfig:
    """BLIP_VQA_BASE, or the JSON next to the checkpoint, at the patch and image size of its position embeddings."""
    json_path = config_path(checkpoint)
    config = BlipConfig.from_json_file(str(json_path)) if json_path.exists() else BlipConfig(**BLIP_VQA_BASE)
    if POSITION_EMBEDDING not in state or PATCH_WEIGHT not in state:
        raise QaclimsError(f"{checkpoint}: its {STATE_KEY!r} entry has no {POSITION_EMBEDDING} or {PATCH_WEIGHT}; "
                           "is it a BLIP checkpoint? Set vqa.model to model_base_vqa_capfilt_large.pth")
    patch = state[PATCH_WEIGHT].shape[-1]
    grid = round((state[POSITION_EMBEDDING].shape[1] - 1) ** 0.5)
    if grid * grid + 1 != state[POSITION_EMBEDDING].shape[1]:
        raise QaclimsError(f"{checkpoint}: {POSITION_EMBEDDING} has {state[POSITION_EMBEDDING].shape[1]} positions, "
                           "not a class token plus a square grid of patches")
    config.vision_config.patch_size = patch
    config.vision_config.image_size = grid * patch
    config.name_or_path = checkpoint
    return config


def _read_state(checkpoint: str) -> dict:
    if not os.path.isfile(checkpoint):
        raise QaclimsError(f"vqa.model: no such file {checkpoint}; download BLIP's model_base_vqa_capfilt_large.pth "
                           "or set vqa.model to a hub id or a folder written by save_pretrained")
    try:
        content = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise QaclimsError(f"{checkpoint} is not a readable torch checkpoint ({error})") from error
    if not isinstance(content, dict) or not isinstance(content.get(STATE_KEY), dict):
        raise QaclimsError(f"{checkpoint} has no {STATE_KEY!r} entry holding a state dict, as BLIP's checkpoints do")
    return content[STATE_KEY]


def _listed(title: str, keys) -> str:
    return f"{title} ({len(keys)}): {', '.join(sorted(keys))}" if keys else ""


def _config_source(checkpoint: str) -> str:
    return str(config_path(checkpoint)) if config_path(checkpoint).exists() else "BLIP ViT-B VQA"


def load_original_checkpoint(checkpoint: str) -> BlipForQuestionAnswering:
    """BlipForQuestionAnswering with the weights of an original BLIP VQA checkpoint; every key must map."""
    state = _read_state(checkpoint)
    model = BlipForQuestionAnswering(blip_config(checkpoint, state)).eval()
    weights = model.state_dict()
    # Buffers (position ids) that the original saves and transformers rebuilds from the config.
    expected = {**weights, **dict(model.named_buffers())}
    renamed, unexpected = {}, []
    for key, value in state.items():
        target = _rename(key, _FORWARD)
        if target in expected:
            renamed[target] = value
        else:
            unexpected.append(key)
    missing = [_rename(key, _BACKWARD) for key in weights if key not in renamed]
    wrong_shape = [f"{_rename(key, _BACKWARD)} {tuple(value.shape)} (wants {tuple(expected[key].shape)})"
                   for key, value in renamed.items() if value.shape != expected[key].shape]
    problems = [text for text in (_listed("missing keys", missing), _listed("unexpected keys", unexpected),
                                  _listed("keys of another shape", wrong_shape)) if text]
    if problems:
        raise QaclimsError(f"{checkpoint} does not fit the model of {_config_source(checkpoint)}: "
                           + "; ".join(problems))
    model.load_state_dict({key: renamed[key] for key in weights}, strict=True)
    # transformers ties the decoder's output layer to its word embeddings, so one of two given values is lost
    # if they differ; and a saved buffer must be what transformers rebuilds.
    loaded = {**model.state_dict(), **dict(model.named_buffers())}
    differing = [_rename(key, _BACKWARD) for key, value in renamed.items()
                 if not torch.equal(loaded[key], value.to(loaded[key].dtype))]
    if differing:
        raise QaclimsError(f"{checkpoint}: " + _listed("values that transformers ties or rebuilds differently",
                                                       differing))
    return model


def write_original_checkpoint(model: BlipForQuestionAnswering, checkpoint: str) -> None:
    """The model's weights in the original BLIP layout (buffers included, as BLIP saves them), and its config JSON."""
    state = {**model.state_dict(), **dict(model.named_buffers())}
    original = {_rename(key, _BACKWARD): value.detach().cpu().clone() for key, value in state.items()}
    with atomic_path(config_path(checkpoint)) as partial:
        model.config.to_json_file(str(partial))
    with atomic_path(checkpoint) as partial:
        torch.save({STATE_KEY: original}, partial)
