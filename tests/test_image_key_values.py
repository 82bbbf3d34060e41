"""The question encoder projects each distinct image's tokens once per call, gives what projecting them per
question gives, and holds no layer's image keys after the call (tiny demo BLIP)."""

import pytest
import torch

from qaclims.models.demo_blip import write_demo_blip
from qaclims.vqa.answering import load_blip
from qaclims.vqa.cross_attention_mask import text_cross_attentions
from qaclims.vqa.image_key_values import ImageTokenCache, project_image_tokens_once

pytestmark = pytest.mark.usefixtures("one_torch_thread")

OWNERS = [2, 0, 2, 2, 1, 0, 2]  # seven questions about three images, in no order


@pytest.fixture(scope="module")
def text_encoder(tmp_path_factory):
    directory = tmp_path_factory.mktemp("blip") / "blip-vqa"
    write_demo_blip(str(directory), image_size=32, seed=0)
    model, _ = load_blip(str(directory), torch.device("cpu"))
    project_image_tokens_once(model.text_encoder)
    return model.text_encoder


def encoder_inputs(text_encoder):
    generator = torch.Generator().manual_seed(0)
    config = text_encoder.config
    images = torch.randn(3, 17, config.encoder_hidden_size, generator=generator)
    input_ids = torch.randint(config.vocab_size, (len(OWNERS), 6), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 4:] = 0
    return images, torch.tensor(OWNERS), {"input_ids": input_ids, "attention_mask": attention_mask}


def cross_attention_key_projections(text_encoder):
    return [attention.key for attention in text_cross_attentions(text_encoder)]


def test_image_tokens_are_projected_once_per_image_and_give_the_per_question_result(text_encoder):
    images, owners, questions = encoder_inputs(text_encoder)
    each_question_image = images[owners]
    mask = torch.ones(each_question_image.shape[:2], dtype=torch.long)
    projected_rows = []
    hooks = [key.register_forward_hook(lambda module, args, output: projected_rows.append(args[0].shape[0]))
             for key in cross_attention_key_projections(text_encoder)]
    try:
        with torch.no_grad():
            per_question = text_encoder(**questions, encoder_hidden_states=each_question_image,
                                        encoder_attention_mask=mask).last_hidden_state
            layers = len(projected_rows)
            once = text_encoder(**questions, encoder_hidden_states=each_question_image, encoder_attention_mask=mask,
                                cache=ImageTokenCache(text_encoder.config, images, owners)).last_hidden_state
    finally:
        for hook in hooks:
            hook.remove()
    assert layers == text_encoder.config.num_hidden_layers
    assert projected_rows == [len(OWNERS)] * layers + [len(images)] * layers
    torch.testing.assert_close(once, per_question)


def test_no_layer_holds_image_keys_after_the_call(text_encoder):
    images, owners, questions = encoder_inputs(text_encoder)
    cache = ImageTokenCache(text_encoder.config, images, owners)
    with torch.no_grad():
        text_encoder(**questions, encoder_hidden_states=images[owners],
                     encoder_attention_mask=torch.ones(len(OWNERS), images.shape[1], dtype=torch.long), cache=cache)
    slots = cache.cross_attention_cache.layers
    assert len(slots) == text_encoder.config.num_hidden_layers
    assert all(slot.keys is None and slot.values is None for slot in slots)
    assert not any(cache.is_updated.values())


def test_hooking_twice_projects_once(text_encoder):
    project_image_tokens_once(text_encoder)
    attention = text_encoder.encoder.layer[0].crossattention.self
    assert len(attention._forward_pre_hooks) == 1 and len(attention._forward_hooks) == 1
