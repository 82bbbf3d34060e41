"""Projects each image's tokens to BLIP's question-encoder keys and values once, for all of its questions.

BLIP's text encoder cross-attends from every question to the tokens of its image (901 at 480 px), and
transformers projects those tokens to keys and values for every question anew: 16 questions about one
image project it 16 times, most of the work of answering them. Given an ``ImageTokenCache``, a pre-hook on
each cross-attention projects the distinct images instead, gathers the result for each question into the
layer's slot of the cache and marks it filled, so the attention reads it as it reads any cached keys; a
post-hook empties the slot, so that one layer's keys and values are held at a time, no more than without
the cache. Without an ``ImageTokenCache`` the hooks do nothing.
"""

import torch
from torch import nn
from transformers import DynamicCache, EncoderDecoderCache

from qaclims.vqa.cross_attention_mask import text_cross_attentions


class ImageTokenCache(EncoderDecoderCache):
    """A cache for one text-encoder call: question i cross-attends to ``image_embeds[owners[i]]``."""

    def __init__(self, config, image_embeds: torch.Tensor, owners: torch.Tensor):
        super().__init__(DynamicCache(config=config), DynamicCache(config=config))
        self.image_embeds, self.owners = image_embeds, owners


def _heads(attention: nn.Module, projected: torch.Tensor) -> torch.Tensor:
    return projected.view(*projected.shape[:-1], -1, attention.attention_head_size).transpose(1, 2)


def _fill_with_image_keys(attention: nn.Module, args: tuple, kwargs: dict) -> None:
    cache = kwargs.get("cache")
    if isinstance(cache, ImageTokenCache):
        keys = _heads(attention, attention.key(cache.image_embeds))[cache.owners]
        values = _heads(attention, attention.value(cache.image_embeds))[cache.owners]
        cache.cross_attention_cache.update(keys, values, attention.layer_idx)
        cache.is_updated[attention.layer_idx] = True


def _empty_image_keys(attention: nn.Module, args: tuple, kwargs: dict, output) -> None:
    cache = kwargs.get("cache")
    if isinstance(cache, ImageTokenCache):
        cache.cross_attention_cache.layers[attention.layer_idx].reset()
        cache.is_updated[attention.layer_idx] = False


def project_image_tokens_once(text_encoder: nn.Module) -> None:
    """Hook every cross-attention of ``text_encoder``; calling it again changes nothing."""
    for attention in text_cross_attentions(text_encoder):
        if not getattr(attention, "reads_image_token_cache", False):
            attention.register_forward_pre_hook(_fill_with_image_keys, with_kwargs=True)
            attention.register_forward_hook(_empty_image_keys, with_kwargs=True)
            attention.reads_image_token_cache = True
