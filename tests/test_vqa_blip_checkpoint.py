"""An original BLIP VQA checkpoint (salesforce/BLIP's key layout) loads into transformers' BLIP at its own size."""

import json
import shutil

import pytest
import torch
from test_vqa_answering import make_images

from qaclims.errors import QaclimsError
from qaclims.models.demo_blip import (
    TINY_INITIALIZER_RANGE,
    TINY_LAYERS,
    build_random_blip,
)
from qaclims.vqa.answering import BlipAnswerer, GenerationSettings, load_blip
from qaclims.vqa.blip_checkpoint import (
    STATE_KEY,
    blip_config,
    config_path,
    write_original_checkpoint,
)
from qaclims.vqa.questions import questions_for_classes

# Not a multiple of the demo's 64 px, so a model built at the config's size instead of the checkpoint's
# would show.
NATIVE_SIZE = 80

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The same random tiny BLIP twice: with save_pretrained, and as an original BLIP checkpoint."""
    base = tmp_path_factory.mktemp("blip_checkpoint")
    model, processor = build_random_blip(TINY_LAYERS, NATIVE_SIZE, seed=3, initializer_range=TINY_INITIALIZER_RANGE)
    model.save_pretrained(base / "hf")
    processor.save_pretrained(base / "hf")
    checkpoint = base / "original" / "tiny_vqa.pth"
    checkpoint.parent.mkdir()
    write_original_checkpoint(model, str(checkpoint))
    return {"base": base, "hf": str(base / "hf"), "checkpoint": checkpoint}


def questions():
    texts = [q.text for q in questions_for_classes(["cat", "dog"])]
    return texts * 2, [0] * len(texts) + [1] * len(texts)


def answers_of(model, processor) -> list[str]:
    texts, owners = questions()
    answerer = BlipAnswerer(model, processor, GenerationSettings(image_size=NATIVE_SIZE))
    assert answerer.interpolate is False
    return answerer.answer(make_images()[:2], texts, owners, batch_size=16)


def edited_checkpoint(saved, tmp_path, edit):
    """A copy of the tiny checkpoint (and its config JSON) with ``edit`` applied to its state dict."""
    state = torch.load(saved["checkpoint"], weights_only=True)[STATE_KEY]
    edit(state)
    path = tmp_path / "edited.pth"
    torch.save({STATE_KEY: state}, path)
    shutil.copy(config_path(str(saved["checkpoint"])), config_path(str(path)))
    return path


def test_the_checkpoint_is_written_in_blips_own_key_layout(saved):
    state = torch.load(saved["checkpoint"], weights_only=True)[STATE_KEY]
    assert not [key for key in state if key.startswith("vision_model.")]
    grid = NATIVE_SIZE // 16
    assert state["visual_encoder.pos_embed"].shape == (1, grid * grid + 1, TINY_LAYERS["hidden_size"])
    for key in ("visual_encoder.cls_token", "visual_encoder.patch_embed.proj.weight",
                "visual_encoder.blocks.1.attn.qkv.weight", "visual_encoder.blocks.1.attn.proj.bias",
                "visual_encoder.blocks.0.norm2.weight", "visual_encoder.norm.bias",
                "text_encoder.encoder.layer.1.crossattention.self.key.weight",
                "text_decoder.cls.predictions.decoder.weight", "text_encoder.embeddings.position_ids"):
        assert key in state, key


def test_original_checkpoint_answers_equal_those_of_the_transformers_way(saved):
    model, processor = load_blip(str(saved["checkpoint"]), torch.device("cpu"), processor_source=saved["hf"])
    hub_model, hub_processor = load_blip(saved["hf"], torch.device("cpu"))
    original = model.state_dict()
    assert all(torch.equal(value, original[key]) for key, value in hub_model.state_dict().items())
    answers = answers_of(model, processor)
    assert len(set(answers)) > 3
    assert answers == answers_of(hub_model, hub_processor)


def test_the_image_size_follows_the_checkpoint_not_its_config_json(saved, tmp_path):
    path = edited_checkpoint(saved, tmp_path, lambda state: None)
    config = json.loads(config_path(str(path)).read_text())
    config["vision_config"]["image_size"] = 64
    config_path(str(path)).write_text(json.dumps(config))
    model, _ = load_blip(str(path), torch.device("cpu"), processor_source=saved["hf"])
    assert model.config.vision_config.image_size == NATIVE_SIZE
    written = torch.load(path, weights_only=True)[STATE_KEY]["visual_encoder.pos_embed"]
    assert torch.equal(model.vision_model.embeddings.position_embedding.detach(), written)


def test_without_a_config_json_the_checkpoint_is_built_as_blip_vit_b_at_its_own_size():
    # The reference's BLIP_VQA(vit='base') at 480 px: 30 x 30 patches of 16 px and a class token.
    state = {"visual_encoder.pos_embed": torch.zeros(1, 30 * 30 + 1, 768),
             "visual_encoder.patch_embed.proj.weight": torch.zeros(768, 3, 16, 16)}
    config = blip_config("/nowhere/model_base_vqa_capfilt_large.pth", state)
    vision, text = config.vision_config, config.text_config
    assert (vision.image_size, vision.patch_size, vision.layer_norm_eps) == (480, 16, 1e-6)
    assert (text.vocab_size, text.bos_token_id, text.num_attention_heads, text.encoder_hidden_size) == (
        30524, 30522, 12, 768)


def test_position_embeddings_that_are_no_square_grid_are_an_error():
    state = {"visual_encoder.pos_embed": torch.zeros(1, 30 * 30, 768),
             "visual_encoder.patch_embed.proj.weight": torch.zeros(768, 3, 16, 16)}
    with pytest.raises(QaclimsError, match="square grid"):
        blip_config("/nowhere/odd.pth", state)


def test_a_missing_key_is_an_error_listing_it(saved, tmp_path):
    dropped = ["visual_encoder.blocks.1.attn.qkv.bias", "text_decoder.cls.predictions.bias"]
    path = edited_checkpoint(saved, tmp_path, lambda state: [state.pop(key) for key in dropped])
    with pytest.raises(QaclimsError, match="missing keys \\(2\\)") as caught:
        load_blip(str(path), torch.device("cpu"), processor_source=saved["hf"])
    assert all(key in str(caught.value) for key in dropped) and str(path) in str(caught.value)


def test_an_unexpected_key_is_an_error_listing_it(saved, tmp_path):
    extra = ["visual_encoder.head.weight", "text_encoder_m.embeddings.word_embeddings.weight"]
    path = edited_checkpoint(saved, tmp_path, lambda state: state.update({key: torch.zeros(2) for key in extra}))
    with pytest.raises(QaclimsError, match="unexpected keys \\(2\\)") as caught:
        load_blip(str(path), torch.device("cpu"), processor_source=saved["hf"])
    assert all(key in str(caught.value) for key in extra)


def test_a_key_of_another_shape_is_an_error_listing_it(saved, tmp_path):
    path = edited_checkpoint(saved, tmp_path, lambda state: state.update(
        {"visual_encoder.blocks.0.mlp.fc1.bias": torch.zeros(3)}))
    with pytest.raises(QaclimsError, match="another shape \\(1\\): visual_encoder.blocks.0.mlp.fc1.bias"):
        load_blip(str(path), torch.device("cpu"), processor_source=saved["hf"])


def test_a_decoder_output_layer_unlike_its_tied_word_embeddings_is_an_error(saved, tmp_path):
    key = "text_decoder.cls.predictions.decoder.weight"
    path = edited_checkpoint(saved, tmp_path, lambda state: state.update({key: state[key] + 1}))
    with pytest.raises(QaclimsError, match="ties or rebuilds differently") as caught:
        load_blip(str(path), torch.device("cpu"), processor_source=saved["hf"])
    assert "text_decoder." in str(caught.value)


def test_a_file_without_a_model_entry_is_an_error_naming_it(saved, tmp_path):
    path = tmp_path / "bare.pth"
    torch.save(torch.load(saved["checkpoint"], weights_only=True)[STATE_KEY], path)
    with pytest.raises(QaclimsError, match="no 'model' entry") as caught:
        load_blip(str(path), torch.device("cpu"), processor_source=saved["hf"])
    assert str(path) in str(caught.value)


def test_a_missing_checkpoint_file_is_an_error_naming_it(saved, tmp_path):
    path = tmp_path / "model_base_vqa_capfilt_large.pth"
    with pytest.raises(QaclimsError, match="no such file") as caught:
        load_blip(str(path), torch.device("cpu"), processor_source=saved["hf"])
    assert str(path) in str(caught.value)
