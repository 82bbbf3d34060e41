"""Tiny random-weight BLIP VQA models for the tests, and the architecture of the demo's stand-in BLIP, saved in the real
format: loaded with ``from_pretrained``, through exactly the code that loads the real BLIP weights.
"""

import re

import torch
from transformers import (
    BertTokenizer,
    BlipConfig,
    BlipForQuestionAnswering,
    BlipImageProcessor,
    BlipProcessor,
)

from qaclims.data.classes import VOC_CLASSES
from qaclims.runtime.atomic import atomic_directory
from qaclims.vqa.questions import BACKGROUND_TEMPLATES, FOREGROUND_TEMPLATES

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "[ENC]"]
# Words the tiny decoder can answer with, so that its random answers read like answers.
ANSWER_WORDS = (
    "sky cloud grass field wall brick sand beach water sea road street room floor tree house "
    "table bed car plane boat kite man woman child pet animal red green blue white black brown "
    "wooden metal large small old and with on of a"
).split()
# A larger initial spread than BLIP's 0.02 makes the tiny model's answers depend on the
# image and the question, which the tests need to tell batched from unbatched decoding.
# At base width it would make the network chaotic (float rounding flips answers), so
# base-size models keep BLIP's own initial spread.
TINY_INITIALIZER_RANGE = 0.2
BLIP_INITIALIZER_RANGE = 0.02


def demo_vocabulary(answer_words: tuple[str, ...] = ANSWER_WORDS) -> list[str]:
    """WordPiece vocabulary: special tokens, the question words, VOC class words, answer words."""
    words = set(answer_words)
    for text in (*FOREGROUND_TEMPLATES, *BACKGROUND_TEMPLATES, *VOC_CLASSES):
        words.update(re.findall(r"[a-z]+", text.lower()))
    return SPECIAL_TOKENS + sorted(words) + ["?", ".", ",", "##s"]


TINY_LAYERS = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
# The layer sizes of BLIP's ViT-B vision tower and BERT-base text tower.
BASE_LAYERS = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12}


def build_random_blip(layers: dict, image_size: int, seed: int, initializer_range: float,
                      vocab_size: int | None = None,
                      answer_words: tuple[str, ...] = ANSWER_WORDS) -> tuple[BlipForQuestionAnswering, BlipProcessor]:
    """A random-weight BLIP VQA model and its processor; ``vocab_size`` pads the demo vocabulary."""
    tokens = demo_vocabulary(answer_words)
    tokens += [f"[unused{k}]" for k in range(max(0, (vocab_size or 0) - len(tokens)))]
    vocabulary = {token: index for index, token in enumerate(tokens)}
    tokenizer = BertTokenizer(vocab=vocabulary, bos_token="[DEC]", additional_special_tokens=["[ENC]"])
    spread = {**layers, "initializer_range": initializer_range}
    config = BlipConfig(
        vision_config={**spread, "image_size": image_size, "patch_size": 16},
        text_config={**spread, "vocab_size": len(vocabulary), "max_position_embeddings": 64,
                     "encoder_hidden_size": layers["hidden_size"], "bos_token_id": vocabulary["[DEC]"],
                     "sep_token_id": vocabulary["[SEP]"], "pad_token_id": vocabulary["[PAD]"]},
        initializer_range=initializer_range,
    )
    torch.manual_seed(seed)
    model = BlipForQuestionAnswering(config).eval()
    processor = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": image_size, "width": image_size}), tokenizer=tokenizer
    )
    return model, processor


def save_blip(directory: str, model: BlipForQuestionAnswering, processor: BlipProcessor) -> None:
    """The model and its processor in one folder, as save_pretrained writes them."""
    with atomic_directory(directory) as staging:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)


def write_demo_blip(directory: str, image_size: int, seed: int) -> None:
    save_blip(directory, *build_random_blip(TINY_LAYERS, image_size, seed, TINY_INITIALIZER_RANGE))
