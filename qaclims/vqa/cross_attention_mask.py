"""Hands BLIP's text cross-attention the padding mask that transformers drops.

In transformers (5.23, 5.24) BlipTextLayer passes the cross-attention mask to BlipTextAttention as
``attention_mask``, which hands it on under that name; BlipTextSelfAttention, given encoder states,
reads ``encoder_attention_mask`` instead, finds None and attends to every key. The answer decoder
then attends to the padding of a padded question and answers something else. A forward pre-hook on
each cross-attention moves the mask to the argument that is read, so questions of any length can
share a decoder call. Where transformers passes ``encoder_attention_mask`` itself, the hook leaves
the call alone.
"""

from collections.abc import Iterator

from torch import nn
from transformers.models.blip.modeling_blip_text import BlipTextLayer


def _move_mask_to_encoder_attention_mask(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    if kwargs.get("encoder_hidden_states") is not None and kwargs.get("encoder_attention_mask") is None:
        kwargs["encoder_attention_mask"] = kwargs.pop("attention_mask", None)
    return args, kwargs


def text_cross_attentions(model: nn.Module) -> Iterator[nn.Module]:
    """The BlipTextSelfAttention of every BLIP text cross-attention in ``model``."""
    for layer in model.modules():
        if isinstance(layer, BlipTextLayer) and hasattr(layer, "crossattention"):
            yield layer.crossattention.self


def mask_cross_attention(model: nn.Module) -> None:
    """Make every BLIP text cross-attention in ``model`` honour its padding mask; calling it again changes nothing."""
    for attention in text_cross_attentions(model):
        if not getattr(attention, "honours_padding_mask", False):
            attention.register_forward_pre_hook(_move_mask_to_encoder_attention_mask, with_kwargs=True)
            attention.honours_padding_mask = True
