"""The answerer that vqa.model names, built with the vqa section's settings, whatever its family."""

from collections.abc import Mapping

import torch

from qaclims.config import settings_from
from qaclims.vqa.answering import BlipAnswerer, GenerationSettings, load_blip
from qaclims.vqa.families import family_of
from qaclims.vqa.generative import (
    Blip2Answerer,
    Decoding,
    VlmAnswerer,
    load_vlm,
    model_dtype,
)


def load_answerer(source: str, section: Mapping, device: torch.device, precision: str):
    """The answerer of ``source`` (vqa.model), its family and a line saying how it asks and decodes.

    ``section`` is the vqa config section; ``precision`` is BLIP's autocast, the other families run in vqa.dtype.
    """
    model_type, family = family_of(source)
    num_beams = section["num_beams"] or family.num_beams
    max_new_tokens = section["max_new_tokens"] or family.max_new_tokens
    decoding = f"{num_beams} beams, at most {max_new_tokens} new tokens"
    if model_type == "blip":
        model, processor = load_blip(source, device, section["processor"])
        generation = settings_from(GenerationSettings, section, num_beams=num_beams, max_new_tokens=max_new_tokens)
        return (BlipAnswerer(model, processor, generation, precision), family,
                f"{family.name} {source}: {decoding}, {precision} on {device}")
    dtype = model_dtype(section["dtype"], device)
    model, processor = load_vlm(source, device, dtype, section["device_map"])
    answerer_class = Blip2Answerer if model_type == "blip-2" else VlmAnswerer
    answerer = answerer_class(model, processor, family, Decoding(num_beams, max_new_tokens, section["prompt_template"]))
    placement = f"device_map {section['device_map']}" if section["device_map"] else str(device)
    return answerer, family, (f"{family.name} {source}: prompt {answerer.prompts(['{question}'])[0]!r}, {decoding}, "
                      f"{str(dtype).removeprefix('torch.')} on {placement}")

