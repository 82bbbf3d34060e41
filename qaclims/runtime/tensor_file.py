"""safetensors files that are the same bytes whenever their tensors and metadata are the same."""

import json

import torch
from safetensors.torch import save

from qaclims.runtime.atomic import atomic_path

HEADER_SIZE_BYTES = 8  # the header's length, a little-endian u64, starts the file
HEADER_ALIGNMENT = 8  # the tensor data starts on a multiple of 8 bytes; the header is padded with spaces


def reproducible_safetensors(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """safetensors' encoding of ``tensors`` with the header's keys in sorted order. The library writes the metadata
    in the order of a randomly seeded hash map, so two writes of the same content would differ. The tensor offsets
    count from the end of the header, so they stay valid when it is rewritten."""
    encoded = save(tensors, metadata=metadata)
    size = int.from_bytes(encoded[:HEADER_SIZE_BYTES], "little")
    header = json.loads(encoded[HEADER_SIZE_BYTES:HEADER_SIZE_BYTES + size])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % HEADER_ALIGNMENT)
    return len(text).to_bytes(HEADER_SIZE_BYTES, "little") + text + encoded[HEADER_SIZE_BYTES + size:]


def write_safetensors(path: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    with atomic_path(path) as partial:
        partial.write_bytes(reproducible_safetensors(tensors, metadata))
