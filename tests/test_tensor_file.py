"""The corpus's features file is the same bytes whenever its tensors and metadata are, and loads as written."""

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from qaclims.runtime.tensor_file import write_safetensors

METADATA = {"clip_model": "ViT-B-16", "clip_pretrained": "openai", "prompt": "a photo of {}.", "label_weight": "0.5",
            "texts": "3", "label_text_tower": "clip.*", "fixed_background_words": '["sky"]'}


def test_writes_of_the_same_tensors_and_metadata_are_the_same_bytes_and_load_back(tmp_path):
    tensors = {"text_features": torch.randn(3, 4), "pair_foreground": torch.arange(6.0).reshape(2, 3),
               "label_features": torch.ones(5, dtype=torch.float16)}
    written = set()
    for attempt in range(5):  # safetensors orders the metadata of each write by a newly seeded hash map
        path = tmp_path / f"features-{attempt}.safetensors"
        write_safetensors(str(path), tensors, METADATA)
        written.add(path.read_bytes())
    assert len(written) == 1
    loaded = load_file(str(path))
    assert loaded.keys() == tensors.keys() and all(torch.equal(loaded[name], tensors[name]) for name in tensors)
    with safe_open(str(path), "pt") as handle:
        assert handle.metadata() == METADATA
