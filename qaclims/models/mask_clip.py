"""The frozen CLIP image tower with OV-Seg's mask prompt, and foreground adaptive thresholding.

QA-CLIMS encodes CAM-weighted images, which are mostly zeros. OV-Seg's mask prompt swaps the
tokens of patches outside the mask for learned embeddings, so that CLIP sees "nothing here"
the way OV-Seg taught it to rather than as a patch of black pixels.
"""

import pickle
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from qaclims.errors import QaclimsError
from qaclims.runtime.atomic import atomic_path

OVSEG_PREFIX = "clip_adapter.clip_model."
VISION_PREFIX = "visual."
MASK_EMBEDDING_KEY = VISION_PREFIX + "mask_embedding"
# CLIP's logit scale (and SigLIP's bias) score image-text pairs; neither tower computes with them.
LOGIT_KEYS = ("logit_scale", "logit_bias")
# Enough missing keys to see the pattern (a wrong prefix, a different model) without a wall of text.
MAX_KEYS_LISTED = 20


@torch.no_grad()
def foreground_adaptive_threshold(cams: torch.Tensor, alpha: float) -> torch.Tensor:
    """Binary masks ``cam >= alpha * max(cam)``, one threshold per [H, W] map.

    The threshold follows each map's own peak, so that a weakly activated class still gets a
    foreground. The masks carry no gradient: the reference builds them with torch.where, and
    the CAM network is trained only through the pixel product CAM x image.
    """
    peaks = cams.amax(dim=(-2, -1), keepdim=True)
    return (cams >= alpha * peaks).to(cams.dtype if cams.is_floating_point() else torch.float32)


class MaskPromptCLIP(nn.Module):
    """An open_clip CLIP whose ViT image tower takes a binary mask as a prompt (OV-Seg).

    ``depth`` is how many places get the prompt: the patch embedding, then the output of
    the first ``depth - 1`` transformer blocks. Depth 0 is the ablation without the prompt.
    """

    def __init__(self, open_clip_model: nn.Module, depth: int = 3):
        super().__init__()
        visual = open_clip_model.visual
        blocks = len(visual.transformer.resblocks)
        if not 0 <= depth <= blocks:
            raise ValueError(f"mask prompt depth {depth} is outside 0..{blocks} (the number of vision blocks)")
        # The prompt is defined on OpenAI-style towers: one CLS token read out after ln_post.
        if getattr(visual, "attn_pool", None) is not None or getattr(visual, "pool_type", "tok") != "tok":
            raise ValueError("the mask prompt needs a CLIP ViT that pools its CLS token")
        self.clip_model = open_clip_model
        self.depth = depth
        # Neither CLIP nor the prompt is trained in QA-CLIMS; gradients only pass through to the images.
        self.clip_model.requires_grad_(False)
        self.clip_model.eval()
        if depth:
            num_patches = visual.grid_size[0] * visual.grid_size[1]
            width = visual.conv1.out_channels
            self.mask_embedding = nn.Parameter(torch.zeros(depth, num_patches, width), requires_grad=False)
            warnings.warn(
                "MaskPromptCLIP: the mask embeddings start at zero; call load_ovseg_checkpoint with "
                "OV-Seg's ovseg_swinbase_vitL14_ft_mpt.pth to use the trained mask prompt",
                stacklevel=2,
            )
        else:
            self.register_parameter("mask_embedding", None)

    def train(self, mode: bool = True):
        # The surrounding CAM network switches to training mode each epoch; CLIP must not follow,
        # or dropout and patch dropout would perturb the targets and misalign the prompt positions.
        super().train(mode)
        self.clip_model.eval()
        return self

    def encode_image(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """[N, D] image features (not normalised) of ``images`` [N,3,H,W] under binary ``masks`` [N,1,H,W]."""
        visual = self.clip_model.visual
        if images.shape[-2:] != tuple(visual.image_size):
            raise ValueError(f"images are {tuple(images.shape[-2:])}, the CLIP tower takes {tuple(visual.image_size)}")
        if masks.shape[0] != images.shape[0] or masks.shape[1] != 1 or masks.shape[-2:] != images.shape[-2:]:
            raise ValueError(f"masks {tuple(masks.shape)} do not fit images {tuple(images.shape)}; "
                             "expected [N, 1, H, W]")
        if not self.depth:
            return self.clip_model.encode_image(images * masks)

        x = visual.conv1(images).flatten(2).transpose(1, 2)  # [N, L, width]
        inside = self._patch_mask(masks, visual.patch_size).to(x.dtype)  # [N, L, 1]
        prompt = self.mask_embedding.to(x.dtype)
        x = x * inside + prompt[0] * (1 - inside)
        cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype)
        # patch_dropout is skipped: it is the identity in eval mode, and the prompt needs every position.
        x = visual.ln_pre(x)

        for index, block in enumerate(visual.transformer.resblocks):
            x = _run_block(block, x, visual.transformer)
            if index + 1 < self.depth:
                patches = x[:, 1:] * inside + prompt[index + 1] * (1 - inside)
                x = torch.cat([x[:, :1], patches], dim=1)

        # ln_post acts per token, so pooling the CLS token first or last gives the same result.
        pooled = visual.ln_post(x[:, 0])
        return pooled @ visual.proj if visual.proj is not None else pooled

    @staticmethod
    def _patch_mask(masks: torch.Tensor, patch_size) -> torch.Tensor:
        """[N, L, 1]: 1 for patches with any mask pixel set (OV-Seg's avg-pool then ceil)."""
        pooled = F.max_pool2d(masks.detach(), kernel_size=patch_size, stride=patch_size)
        return (pooled > 0).flatten(2).transpose(1, 2)

    def load_ovseg_checkpoint(self, path_or_state_dict) -> None:
        """Load CLIP and the mask embedding from OV-Seg's checkpoint, requiring every vision key.

        OV-Seg's own code loads this file with strict=False, so a renamed key would silently
        leave the mask embedding at zero or the vision tower at its OpenAI values. Here a
        missing or misshapen vision key is an error. Text keys are loaded when they fit but
        are optional, and the many non-CLIP keys of OV-Seg (the segmentation head) are ignored.
        """
        source, weights = read_ovseg_clip(path_or_state_dict)
        targets = dict(self.clip_model.state_dict())
        if self.mask_embedding is not None:
            targets[MASK_EMBEDDING_KEY] = self.mask_embedding
        _check_fit(source, split_towers(weights)[0], split_towers(targets)[0], "the CLIP vision tower")
        with torch.no_grad():
            for key, target in targets.items():
                value = weights.get(key)
                if value is not None and tuple(value.shape) == tuple(target.shape):
                    target.copy_(value)


def read_ovseg_clip(path_or_state_dict) -> tuple[str, dict[str, torch.Tensor]]:
    """(a name for error messages, the CLIP weights of an OV-Seg checkpoint under open_clip's names).

    OV-Seg's model holds OpenAI's CLIP at ``clip_adapter.clip_model``, whose parameter names
    open_clip's CLIP class keeps, so the mapping is the prefix alone.
    """
    source, checkpoint = _read_checkpoint(path_or_state_dict)
    return source, {key[len(OVSEG_PREFIX):]: value for key, value in checkpoint.items()
                    if isinstance(key, str) and key.startswith(OVSEG_PREFIX)}


def split_towers(weights: dict) -> tuple[dict, dict]:
    """(vision, text) parts of open_clip-named CLIP weights; the logit scale and bias belong to neither."""
    vision = {key: value for key, value in weights.items() if key.startswith(VISION_PREFIX)}
    text = {key: value for key, value in weights.items()
            if not key.startswith(VISION_PREFIX) and key not in LOGIT_KEYS}
    return vision, text


def load_ovseg_text_tower(model: nn.Module, path_or_state_dict) -> float | None:
    """Load the text tower of an OV-Seg checkpoint into the open_clip CLIP ``model``.

    Returns the largest absolute change this made to a weight (0 when the checkpoint's tower is
    the model's own), or None when the checkpoint holds no text-tower keys and ``model`` is
    unchanged. A checkpoint holding some text keys must hold every one of the model's, in its
    shapes: a partial tower would mix two encoders without a word.
    """
    source, weights = read_ovseg_clip(path_or_state_dict)
    _, text = split_towers(weights)
    if not text:
        return None
    _, targets = split_towers(dict(model.state_dict()))
    _check_fit(source, text, targets, "the CLIP text tower")
    change = 0.0
    with torch.no_grad():
        for key, target in targets.items():
            value = text[key].to(target.dtype)
            change = max(change, (value - target).abs().max().item())
            target.copy_(value)
    return change


def _check_fit(source: str, available: dict, targets: dict, tower: str) -> None:
    """An error naming the checkpoint and the keys of ``targets`` that ``available`` lacks or misshapes."""
    missing = [key for key in targets if key not in available]
    mismatched = [f"{key} (checkpoint {tuple(available[key].shape)}, model {tuple(target.shape)})"
                  for key, target in targets.items()
                  if key in available and tuple(available[key].shape) != tuple(target.shape)]
    if not missing and not mismatched:
        return
    problems = []
    if missing:
        listed = ", ".join(missing[:MAX_KEYS_LISTED]) + (" ..." if len(missing) > MAX_KEYS_LISTED else "")
        problems.append(f"{len(missing)} missing keys: {listed}")
    if mismatched:
        problems.append(f"{len(mismatched)} keys with the wrong shape: {', '.join(mismatched)}")
    raise QaclimsError(
        f"the OV-Seg checkpoint {source} does not fit {tower} (keys under {OVSEG_PREFIX!r}): {'; '.join(problems)}"
    )


def _run_block(block: nn.Module, x: torch.Tensor, transformer: nn.Module) -> torch.Tensor:
    """One block on batch-first tokens, whatever layout the open_clip version's blocks expect."""
    # open_clip 3.x vision blocks are batch-first; older versions (and OpenAI's CLIP) are
    # sequence-first. The vision tower uses no attention mask in either.
    if getattr(transformer, "batch_first", False):
        return block(x)
    return block(x.transpose(0, 1)).transpose(0, 1)


def _read_checkpoint(path_or_state_dict) -> tuple[str, dict]:
    """(a name for error messages, the flat state dict) from a path, ``{'model': ...}`` or a state dict."""
    if isinstance(path_or_state_dict, dict):
        source, loaded = "(state dict given in memory)", path_or_state_dict
    else:
        source = str(path_or_state_dict)
        try:
            loaded = torch.load(source, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, pickle.UnpicklingError) as error:
            raise QaclimsError(f"cannot read the OV-Seg checkpoint {source}: {error}") from error
    if isinstance(loaded, dict) and isinstance(loaded.get("model"), dict):
        loaded = loaded["model"]
    if not isinstance(loaded, dict):
        raise QaclimsError(f"the OV-Seg checkpoint {source} holds no state dict")
    return source, loaded


def ovseg_state(clip: MaskPromptCLIP) -> dict:
    """The CLIP weights and mask embeddings under OV-Seg's names, as its checkpoints hold them."""
    state = {OVSEG_PREFIX + key: value for key, value in clip.clip_model.state_dict().items()}
    if clip.mask_embedding is not None:
        state[OVSEG_PREFIX + MASK_EMBEDDING_KEY] = clip.mask_embedding.detach().clone()
    return {"model": state}


def write_ovseg_checkpoint(path: str, clip: MaskPromptCLIP) -> None:
    with atomic_path(path) as partial:
        torch.save(ovseg_state(clip), partial)
