"""Tiny random vision-language models of every answerer family, saved as the hub saves the real ones.

Each is a two-layer vision tower and a two-layer language model of the family's own classes, with a
byte-level BPE tokenizer trained here by the ``tokenizers`` library and the family's processor, written with
``save_pretrained`` so that the answerer reads it through the loader that reads the real checkpoint. The
tests and benchmarks/answerer_throughput.py use them; they answer at random, in words.
"""

from collections.abc import Callable

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForImageTextToText,
    Blip2Config,
    Blip2Processor,
    BlipImageProcessor,
    CLIPImageProcessor,
    CLIPVisionConfig,
    InstructBlipConfig,
    InstructBlipProcessor,
    LlavaConfig,
    LlavaNextConfig,
    LlavaNextImageProcessor,
    LlavaNextProcessor,
    LlavaProcessor,
    PaliGemmaConfig,
    PaliGemmaProcessor,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLProcessor,
    Qwen2VLConfig,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
    SiglipImageProcessor,
)

from qaclims.runtime.atomic import atomic_directory
from qaclims.vqa.questions import BACKGROUND_TEMPLATES, FOREGROUND_TEMPLATES

IMAGE_SIZE = 32
PATCH_SIZE = 8
WIDTH = 32
QUERY_TOKENS = 4
# Far wider than a trained model's 0.02, so that a two-layer language model's replies depend on the image and the
# question rather than repeating its most likely token.
TEXT_INITIALIZER_RANGE = 1.0
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "<image>", "<|im_start|>", "<|im_end|>",
                  "<|vision_start|>", "<|vision_end|>", "<|image_pad|>"]
WORDS = ("a the of in on at is it there what where which who how many colour color sky grass road room water "
         "field wall tree table person cat dog car bus red green blue white black answer question user assistant "
         "system short word phrase one yes no . , ? : \n")
# The chat templates of llava-hf/llava-1.5-7b-hf and Qwen/Qwen2-VL-2B-Instruct, reduced to a user turn of
# images and text and the assistant's opening.
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>\n{% endif %}{% endfor %}"
    "{% for item in message['content'] %}{% if item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}"
    " {% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _trained_tokenizer(**special) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    texts = [WORDS, *FOREGROUND_TEMPLATES, *BACKGROUND_TEMPLATES]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>", **special)


def _vision(**extra) -> dict:
    return {"hidden_size": WIDTH, "intermediate_size": 2 * WIDTH, "num_hidden_layers": 2, "num_attention_heads": 2,
            "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE, **extra}


def _text(model_type: str, tokenizer, **extra) -> dict:
    return {"model_type": model_type, "vocab_size": len(tokenizer), "hidden_size": WIDTH,
            "intermediate_size": 2 * WIDTH, "num_hidden_layers": 2, "num_attention_heads": 2,
            "pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id, "initializer_range": TEXT_INITIALIZER_RANGE, **extra}


def _qformer(tokenizer) -> dict:
    return {"hidden_size": WIDTH, "intermediate_size": 2 * WIDTH, "num_hidden_layers": 2, "num_attention_heads": 2,
            "encoder_hidden_size": WIDTH, "vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id}


def _blip_image_processor() -> BlipImageProcessor:
    return BlipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})


def _blip2():
    tokenizer = _trained_tokenizer(bos_token="</s>", eos_token="\n")
    processor = Blip2Processor(_blip_image_processor(), tokenizer, num_query_tokens=QUERY_TOKENS)
    config = Blip2Config(vision_config=_vision(), qformer_config=_qformer(tokenizer),
                         text_config=_text("opt", tokenizer, ffn_dim=2 * WIDTH, word_embed_proj_dim=WIDTH,
                                           max_position_embeddings=256),
                         num_query_tokens=QUERY_TOKENS, image_token_id=tokenizer.convert_tokens_to_ids("<image>"))
    return config, processor


def _instructblip():
    tokenizer = _trained_tokenizer(bos_token="<s>", eos_token="</s>")
    qformer_tokenizer = _trained_tokenizer(bos_token="<s>", eos_token="</s>")
    processor = InstructBlipProcessor(_blip_image_processor(), tokenizer, qformer_tokenizer,
                                      num_query_tokens=QUERY_TOKENS)
    config = InstructBlipConfig(vision_config=_vision(), qformer_config=_qformer(qformer_tokenizer),
                                text_config=_text("llama", tokenizer), num_query_tokens=QUERY_TOKENS,
                                image_token_id=tokenizer.convert_tokens_to_ids("<image>"))
    return config, processor


def _llava():
    tokenizer = _trained_tokenizer(bos_token="<s>", eos_token="</s>")
    image_processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                         crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor = LlavaProcessor(image_processor, tokenizer, patch_size=PATCH_SIZE, num_additional_image_tokens=1,
                               vision_feature_select_strategy="default", chat_template=LLAVA_CHAT_TEMPLATE)
    config = LlavaConfig(vision_config=CLIPVisionConfig(**_vision(projection_dim=WIDTH)),
                         text_config=_text("llama", tokenizer), image_token_id=processor.image_token_id,
                         vision_feature_layer=-1, vision_feature_select_strategy="default")
    return config, processor


def _llava_next():
    tokenizer = _trained_tokenizer(bos_token="<s>", eos_token="</s>")
    # Any resolution: an image is cut into tiles of these sizes, each encoded beside the whole image.
    grid = [[IMAGE_SIZE, IMAGE_SIZE], [IMAGE_SIZE, 2 * IMAGE_SIZE], [2 * IMAGE_SIZE, IMAGE_SIZE]]
    image_processor = LlavaNextImageProcessor(size={"shortest_edge": IMAGE_SIZE}, image_grid_pinpoints=grid,
                                              crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor = LlavaNextProcessor(image_processor, tokenizer, patch_size=PATCH_SIZE, num_additional_image_tokens=1,
                                   vision_feature_select_strategy="default", chat_template=LLAVA_CHAT_TEMPLATE)
    config = LlavaNextConfig(vision_config=CLIPVisionConfig(**_vision(projection_dim=WIDTH)),
                             text_config=_text("llama", tokenizer), image_token_id=processor.image_token_id,
                             image_grid_pinpoints=grid, vision_feature_layer=-1,
                             vision_feature_select_strategy="default")
    return config, processor


def _qwen_processor(processor_class):
    tokenizer = _trained_tokenizer(bos_token=None, eos_token="<|im_end|>")
    image_pixels = (2 * 2 * 14) ** 2  # 2 x 2 merged patches of 14 px, so four image tokens
    image_processor = Qwen2VLImageProcessor(min_pixels=image_pixels, max_pixels=image_pixels)
    processor = processor_class(image_processor, tokenizer, Qwen2VLVideoProcessor(), chat_template=QWEN_CHAT_TEMPLATE)
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in
           [("image_token_id", "<|image_pad|>"), ("vision_start_token_id", "<|vision_start|>"),
            ("vision_end_token_id", "<|vision_end|>")]}
    text = _text("qwen2_vl", tokenizer, num_key_value_heads=1,
                 rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]})
    return processor, text, ids


def _qwen2_vl():
    processor, text, ids = _qwen_processor(Qwen2VLProcessor)
    vision = {"depth": 2, "embed_dim": WIDTH, "hidden_size": WIDTH, "num_heads": 2, "mlp_ratio": 2}
    return Qwen2VLConfig(text_config=text, vision_config=vision, **ids), processor


def _qwen2_5_vl():
    processor, text, ids = _qwen_processor(Qwen2_5_VLProcessor)
    vision = {"depth": 2, "hidden_size": WIDTH, "intermediate_size": 2 * WIDTH, "num_heads": 2,
              "out_hidden_size": WIDTH, "fullatt_block_indexes": [1]}
    return Qwen2_5_VLConfig(text_config={**text, "model_type": "qwen2_5_vl_text"}, vision_config=vision,
                            **ids), processor


def _paligemma():
    tokenizer = _trained_tokenizer(bos_token="<s>", eos_token="</s>")
    image_processor = SiglipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    image_processor.image_seq_length = (IMAGE_SIZE // PATCH_SIZE) ** 2
    processor = PaliGemmaProcessor(image_processor, tokenizer)
    config = PaliGemmaConfig(vision_config={"model_type": "siglip_vision_model", **_vision()},
                             text_config=_text("gemma", tokenizer, num_key_value_heads=1, head_dim=16),
                             projection_dim=WIDTH, image_token_id=processor.image_token_id)
    return config, processor


TINY_ANSWERERS: dict[str, Callable] = {"blip-2": _blip2, "instructblip": _instructblip, "llava": _llava,
                                       "llava_next": _llava_next, "qwen2_vl": _qwen2_vl, "qwen2_5_vl": _qwen2_5_vl,
                                       "paligemma": _paligemma}


def write_tiny_answerer(model_type: str, path: str, seed: int = 0) -> str:
    """A tiny random ``model_type`` answerer (a key of TINY_ANSWERERS) saved at ``path``; returns ``path``."""
    config, processor = TINY_ANSWERERS[model_type]()
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config)
    with atomic_directory(path) as folder:
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
    return path
