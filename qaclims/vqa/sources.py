"""Which kind of BLIP source vqa.model names; free of torch, so that the workflow can import it."""

CHECKPOINT_SUFFIXES = (".pth", ".pt")


def is_original_checkpoint(source: str) -> bool:
    """An original BLIP checkpoint file (salesforce/BLIP's torch format), not a hub id or a save_pretrained folder."""
    return source.endswith(CHECKPOINT_SUFFIXES)
