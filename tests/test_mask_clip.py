"""The mask-prompt CLIP image tower and foreground adaptive thresholding, on the tiny demo CLIP."""

import os
import re
import warnings

import pytest
import torch
from helpers import OPENAI_TEXT_TOWER, OVSEG_PREFIX, fake_ovseg_state

from qaclims.errors import QaclimsError
from qaclims.models.demo_clip import write_demo_clip
from qaclims.models.mask_clip import (
    MaskPromptCLIP,
    foreground_adaptive_threshold,
    load_ovseg_text_tower,
)
from qaclims.run_layout import DEMO_CLIP_NAME
from qaclims.text.clip_text import load_clip

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# The demo CLIP's vision tower: 64x64 images in 16x16 patches (a 4x4 grid), width 64, 3 blocks.
IMAGE, PATCH, GRID, WIDTH, BLOCKS = 64, 16, 4, 64, 3


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("clip") / "demo-clip")
    write_demo_clip(directory, image_size=IMAGE, seed=0)
    return directory


@pytest.fixture
def clip_model(clip_dir):
    """A fresh demo CLIP per test, since wrapping freezes it and loading a checkpoint changes it."""
    model, _ = load_clip(DEMO_CLIP_NAME, pretrained=os.path.join(clip_dir, f"{DEMO_CLIP_NAME}.pt"),
                         model_config_dir=clip_dir, device=torch.device("cpu"))
    return model


def wrap(model, depth=3, embedding=None):
    """A MaskPromptCLIP without its zero-init warning, optionally with given mask embeddings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapper = MaskPromptCLIP(model, depth=depth)
    if embedding is not None:
        with torch.no_grad():
            wrapper.mask_embedding.copy_(embedding)
    return wrapper


def random_embedding(depth=3, seed=1):
    return torch.randn(depth, GRID * GRID, WIDTH, generator=torch.Generator().manual_seed(seed))


def random_images(n, seed=2):
    return torch.randn(n, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(seed))


def patch_mask(n, patches):
    """[n, 1, H, W] masks with whole patches (row, col) set to 1."""
    masks = torch.zeros(n, 1, IMAGE, IMAGE)
    for row, col in patches:
        masks[:, :, row * PATCH:(row + 1) * PATCH, col * PATCH:(col + 1) * PATCH] = 1
    return masks


def reference_encode(model, images, masks, embedding):
    """The mask prompt put into open_clip's own forward with hooks, patch membership by a loop.

    This shares no code with MaskPromptCLIP: conv1's output is prompted in its [N, width, grid,
    grid] layout (before open_clip adds the CLS token and positions), and the first depth-1
    blocks' outputs in their token layout.
    """
    n, depth = images.shape[0], embedding.shape[0]
    inside = torch.zeros(n, GRID, GRID)
    for k in range(n):
        for row in range(GRID):
            for col in range(GRID):
                block = masks[k, 0, row * PATCH:(row + 1) * PATCH, col * PATCH:(col + 1) * PATCH]
                inside[k, row, col] = float(bool((block != 0).any()))
    grid_inside = inside[:, None]                             # [N, 1, g, g]
    token_inside = inside.reshape(n, GRID * GRID, 1)          # [N, L, 1], row-major patches

    def prompt_conv(module, args, out):
        e0 = embedding[0].T.reshape(WIDTH, GRID, GRID)
        return out * grid_inside + e0 * (1 - grid_inside)

    def prompt_block(d):
        def hook(module, args, out):
            patches = out[:, 1:] * token_inside + embedding[d] * (1 - token_inside)
            return torch.cat([out[:, :1], patches], dim=1)
        return hook

    visual = model.visual
    handles = [visual.conv1.register_forward_hook(prompt_conv)]
    handles += [visual.transformer.resblocks[d - 1].register_forward_hook(prompt_block(d)) for d in range(1, depth)]
    try:
        with torch.no_grad():
            return model.encode_image(images)
    finally:
        for handle in handles:
            handle.remove()


# --- foreground adaptive thresholding -------------------------------------------------------


def test_threshold_is_alpha_times_the_map_maximum_inclusive():
    cams = torch.tensor([[[[0.1, 0.5, 0.2], [1.0, 0.3, 0.6]]]])
    expected = torch.tensor([[[[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]]])  # 0.5 * 1.0 = 0.5 counts as foreground
    result = foreground_adaptive_threshold(cams, alpha=0.5)
    assert result.dtype == torch.float32
    assert torch.equal(result, expected)


def test_threshold_uses_each_maps_own_maximum():
    cams = torch.tensor([[[[0.1, 0.5, 0.2], [1.0, 0.3, 0.6]]],
                         [[[2.0, 4.0, 1.0], [8.0, 3.0, 5.0]]]])
    # With one global maximum (8) the first map would have no foreground at all.
    expected = torch.tensor([[[[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]],
                             [[[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]]])
    assert torch.equal(foreground_adaptive_threshold(cams, alpha=0.5), expected)
    # alpha 0.1 keeps everything at or above a tenth of the peak: 0.1 of map 1, 0.8 of map 2.
    assert torch.equal(foreground_adaptive_threshold(cams, alpha=0.1)[1], torch.ones(1, 2, 3))


def test_threshold_output_is_binary_float_without_gradient():
    cams = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)).requires_grad_()
    result = foreground_adaptive_threshold(cams, alpha=0.3)
    assert result.shape == cams.shape and result.dtype == torch.float32
    assert set(result.unique().tolist()) <= {0.0, 1.0}
    assert not result.requires_grad and result.grad_fn is None
    # Every map keeps at least its peak pixel.
    assert (result.amax(dim=(2, 3)) == 1).all()


# --- the mask prompt --------------------------------------------------------------------------


def test_mask_prompt_matches_an_independent_hooked_forward(clip_model):
    embedding = random_embedding()
    images = random_images(2)
    masks = patch_mask(2, [(0, 0), (1, 1)])
    masks[1, 0, 50, 3] = 1  # one pixel makes patch (3, 0) of image 1 count as inside
    expected = reference_encode(clip_model, images, masks, embedding)
    result = wrap(clip_model, 3, embedding).encode_image(images, masks)
    assert result.shape == (2, clip_model.visual.output_dim)
    assert torch.allclose(result, expected, rtol=1e-5, atol=1e-6)


def test_outside_pixels_do_not_matter_and_inside_pixels_do(clip_model):
    wrapper = wrap(clip_model, 3, random_embedding())
    images = random_images(2)
    masks = patch_mask(2, [(0, 0), (0, 1), (1, 0)])
    base = wrapper.encode_image(images, masks)

    outside_changed = images.clone()
    outside_changed[:, :, 48:64, 48:64] = torch.randn(2, 3, 16, 16)  # patch (3, 3), fully outside
    assert torch.allclose(wrapper.encode_image(outside_changed, masks), base, rtol=0, atol=1e-7)

    inside_changed = images.clone()
    inside_changed[:, :, 5, 5] += 3.0
    assert not torch.allclose(wrapper.encode_image(inside_changed, masks), base, rtol=1e-3, atol=1e-4)


def test_all_ones_mask_gives_the_plain_clip_embedding(clip_model):
    wrapper = wrap(clip_model, 3, random_embedding())
    images = random_images(3)
    with torch.no_grad():
        expected = clip_model.encode_image(images)
    result = wrapper.encode_image(images, torch.ones(3, 1, IMAGE, IMAGE))
    assert torch.allclose(result, expected, rtol=1e-5, atol=1e-6)


def test_one_pixel_makes_its_patch_inside(clip_model):
    wrapper = wrap(clip_model, 3, random_embedding())
    images = random_images(1)
    only_corner = patch_mask(1, [(0, 0)])
    whole_patch = patch_mask(1, [(0, 0), (1, 2)])  # patch (1, 2): rows 16..31, columns 32..47
    one_pixel = only_corner.clone()
    one_pixel[0, 0, 20, 40] = 1
    with_pixel = wrapper.encode_image(images, one_pixel)
    assert torch.allclose(with_pixel, wrapper.encode_image(images, whole_patch), rtol=0, atol=1e-6)
    assert not torch.allclose(with_pixel, wrapper.encode_image(images, only_corner), rtol=1e-3, atol=1e-4)


def test_depth_changes_the_output(clip_model):
    embedding = random_embedding()
    images, masks = random_images(2), patch_mask(2, [(0, 0), (2, 2)])
    depth3 = wrap(clip_model, 3, embedding).encode_image(images, masks)
    depth1 = wrap(clip_model, 1, embedding[:1]).encode_image(images, masks)
    assert not torch.allclose(depth1, depth3, rtol=1e-3, atol=1e-4)
    assert torch.allclose(depth1, reference_encode(clip_model, images, masks, embedding[:1]), rtol=1e-5, atol=1e-6)


def test_depth_zero_is_plain_clip_on_the_masked_image(clip_model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no zero-init warning: there is no mask embedding
        wrapper = MaskPromptCLIP(clip_model, depth=0)
    assert wrapper.mask_embedding is None
    images, masks = random_images(2), patch_mask(2, [(0, 0), (3, 1)])
    masks[0, 0, 33, 33] = 1  # a lone pixel is kept as a pixel, not widened to its patch
    with torch.no_grad():
        expected = clip_model.encode_image(images * masks)
    assert torch.allclose(wrapper.encode_image(images, masks), expected, rtol=1e-5, atol=1e-6)


def test_gradients_reach_the_images_but_no_parameter_is_trainable(clip_model):
    wrapper = wrap(clip_model, 3, random_embedding())
    images = random_images(2).requires_grad_()
    masks = patch_mask(2, [(0, 0), (2, 3)])
    wrapper.encode_image(images, masks).sum().backward()
    assert images.grad.abs().sum() > 0
    assert images.grad[:, :, :PATCH, :PATCH].abs().sum() > 0           # an inside patch
    assert torch.count_nonzero(images.grad[:, :, 48:, :PATCH]) == 0     # patch (3, 0) is replaced
    parameters = list(wrapper.parameters())
    assert parameters and not any(p.requires_grad for p in parameters)
    assert all(p.grad is None for p in parameters)


def test_train_mode_keeps_clip_in_eval(clip_model):
    wrapper = wrap(clip_model, 3).train()
    assert wrapper.training
    assert not any(module.training for module in wrapper.clip_model.modules())


def test_warns_that_mask_embeddings_start_at_zero(clip_model):
    with pytest.warns(UserWarning, match="OV-Seg"):
        wrapper = MaskPromptCLIP(clip_model, depth=3)
    assert wrapper.mask_embedding.shape == (3, GRID * GRID, WIDTH)
    assert torch.count_nonzero(wrapper.mask_embedding) == 0


def test_depth_beyond_the_number_of_blocks_is_refused(clip_model):
    with pytest.raises(ValueError, match="depth"):
        MaskPromptCLIP(clip_model, depth=BLOCKS + 1)


def test_a_batch_equals_its_samples_one_by_one(clip_model):
    wrapper = wrap(clip_model, 3, random_embedding())
    images = random_images(3)
    masks = torch.stack([patch_mask(1, patches)[0] for patches in ([(0, 0)], [(1, 1), (2, 2)], [(3, 3), (0, 3)])])
    batch = wrapper.encode_image(images, masks)
    single = torch.cat([wrapper.encode_image(images[k:k + 1], masks[k:k + 1]) for k in range(3)])
    assert torch.allclose(batch, single, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(batch[0], batch[1], rtol=1e-3, atol=1e-4)


# --- OV-Seg checkpoint ------------------------------------------------------------------------


def test_loads_ovseg_clip_and_mask_embedding(clip_model, tmp_path):
    embedding = random_embedding(seed=4)
    state = fake_ovseg_state(clip_model, embedding)
    path = tmp_path / "ovseg_swinbase_vitL14_ft_mpt.pth"
    torch.save({"model": state}, path)
    wrapper = wrap(clip_model, 3)
    assert not torch.equal(clip_model.visual.conv1.weight, state[OVSEG_PREFIX + "visual.conv1.weight"])

    wrapper.load_ovseg_checkpoint(str(path))
    assert torch.equal(wrapper.mask_embedding, embedding)
    for key in ("visual.conv1.weight", "visual.transformer.resblocks.2.attn.in_proj_weight", "visual.proj",
                "token_embedding.weight"):
        assert torch.equal(clip_model.state_dict()[key], state[OVSEG_PREFIX + key]), key
    assert not any(p.requires_grad for p in wrapper.parameters())


def test_loads_from_a_state_dict_in_memory(clip_model):
    embedding = random_embedding(seed=5)
    wrapper = wrap(clip_model, 3)
    wrapper.load_ovseg_checkpoint({"model": fake_ovseg_state(clip_model, embedding)})
    assert torch.equal(wrapper.mask_embedding, embedding)


@pytest.mark.parametrize("dropped", ["visual.transformer.resblocks.1.attn.in_proj_weight", "visual.mask_embedding"])
def test_a_missing_vision_key_is_an_error_naming_key_and_file(clip_model, tmp_path, dropped):
    state = fake_ovseg_state(clip_model, random_embedding(seed=6))
    del state[OVSEG_PREFIX + dropped]
    path = tmp_path / "ovseg.pth"
    torch.save({"model": state}, path)
    wrapper = wrap(clip_model, 3)
    before = clip_model.visual.conv1.weight.clone()
    with pytest.raises(QaclimsError, match=re.escape(dropped)) as error:
        wrapper.load_ovseg_checkpoint(str(path))
    assert str(path) in str(error.value)
    # Nothing is half-loaded.
    assert torch.equal(clip_model.visual.conv1.weight, before)
    assert torch.count_nonzero(wrapper.mask_embedding) == 0


def test_a_missing_text_key_is_fine(clip_model):
    embedding = random_embedding(seed=7)
    state = fake_ovseg_state(clip_model, embedding)
    del state[OVSEG_PREFIX + "token_embedding.weight"]
    wrapper = wrap(clip_model, 3)
    wrapper.load_ovseg_checkpoint({"model": state})
    assert torch.equal(wrapper.mask_embedding, embedding)


def test_a_misshapen_vision_key_is_an_error_naming_it(clip_model, tmp_path):
    state = fake_ovseg_state(clip_model, random_embedding(depth=2, seed=8))  # a depth-2 prompt for a depth-3 model
    path = tmp_path / "ovseg.pth"
    torch.save({"model": state}, path)
    with pytest.raises(QaclimsError, match=r"visual\.mask_embedding \(checkpoint \(2, 16, 64\)"):
        wrap(clip_model, 3).load_ovseg_checkpoint(str(path))


# --- OV-Seg's text tower ----------------------------------------------------------------------


def text_tower(model) -> dict:
    return {key: value.clone() for key, value in model.state_dict().items() if key.startswith(OPENAI_TEXT_TOWER)}


def test_loads_the_checkpoints_text_tower_and_nothing_else(clip_model, tmp_path):
    state = fake_ovseg_state(clip_model, random_embedding(seed=9))
    path = tmp_path / "ovseg.pth"
    torch.save({"model": state}, path)
    before = {key: value.clone() for key, value in clip_model.state_dict().items()}

    change = load_ovseg_text_tower(clip_model, str(path))
    after = clip_model.state_dict()
    loaded = text_tower(clip_model)
    assert len(loaded) > 10
    for key in loaded:
        assert torch.equal(after[key], state[OVSEG_PREFIX + key]), key
    for key in set(after) - set(loaded):
        assert torch.equal(after[key], before[key]), key  # the vision tower and the logit scale
    assert change == pytest.approx(max((state[OVSEG_PREFIX + key] - before[key]).abs().max().item() for key in loaded))
    assert change > 0


def test_the_same_text_tower_changes_nothing(clip_model):
    state = {OVSEG_PREFIX + key: value.clone() for key, value in clip_model.state_dict().items()}
    assert load_ovseg_text_tower(clip_model, {"model": state}) == 0.0


def test_a_checkpoint_without_text_keys_leaves_the_model_alone(clip_model):
    before = text_tower(clip_model)
    state = fake_ovseg_state(clip_model, random_embedding(seed=10), with_text=False)
    assert OVSEG_PREFIX + "logit_scale" in state
    assert load_ovseg_text_tower(clip_model, {"model": state}) is None
    for key, value in text_tower(clip_model).items():
        assert torch.equal(value, before[key]), key


@pytest.mark.parametrize("broken", ["drop", "reshape"])
def test_a_partial_text_tower_is_an_error_naming_key_and_file(clip_model, tmp_path, broken):
    state = fake_ovseg_state(clip_model, random_embedding(seed=11))
    key = OVSEG_PREFIX + "ln_final.weight"
    if broken == "drop":
        del state[key]
    else:
        state[key] = state[key][:-1]
    path = tmp_path / "ovseg.pth"
    torch.save({"model": state}, path)
    before = text_tower(clip_model)
    with pytest.raises(QaclimsError, match=re.escape("ln_final.weight")) as error:
        load_ovseg_text_tower(clip_model, str(path))
    assert str(path) in str(error.value) and "text tower" in str(error.value)
    for name, value in text_tower(clip_model).items():
        assert torch.equal(value, before[name]), name  # nothing is half-loaded
