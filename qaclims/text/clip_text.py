"""The CLIP text tower from open_clip: a model name plus a pretrained tag or checkpoint path."""

import open_clip
import torch

from qaclims.errors import QaclimsError
from qaclims.runtime.device import autocast


def load_clip(model_name: str, pretrained: str | None, model_config_dir: str | None,
              device: torch.device) -> tuple[torch.nn.Module, object]:
    """An open_clip model and its tokenizer; ``model_config_dir`` registers extra model configs."""
    if model_config_dir:
        open_clip.add_model_config(model_config_dir)
    try:
        model = open_clip.create_model(model_name, pretrained=pretrained or None, device=device)
    except (RuntimeError, OSError) as error:
        raise QaclimsError(
            f"cannot load the CLIP model {model_name!r} with pretrained {pretrained!r} ({error}); set "
            "clip.pretrained to a local checkpoint path, or use a machine that can download the weights"
        ) from error
    return model.eval(), open_clip.get_tokenizer(model_name)


class ClipTextEncoder:
    def __init__(self, model: torch.nn.Module, tokenizer, prompt: str, precision: str = "fp32"):
        self.model, self.tokenizer, self.prompt, self.precision = model, tokenizer, prompt, precision
        self.device = next(model.parameters()).device

    @torch.inference_mode()
    def encode(self, texts: list[str], batch_size: int) -> torch.Tensor:
        """[N, D] float32 unit-norm features of ``prompt.format(text)`` for every text."""
        chunks = []
        for start in range(0, len(texts), batch_size):
            prompts = [self.prompt.format(text) for text in texts[start:start + batch_size]]
            with autocast(self.device, self.precision):
                features = self.model.encode_text(self.tokenizer(prompts).to(self.device))
            chunks.append(torch.nn.functional.normalize(features.float(), dim=-1).cpu())
        if not chunks:
            return torch.zeros((0, self.model.text_projection.shape[-1]))
        return torch.cat(chunks)
