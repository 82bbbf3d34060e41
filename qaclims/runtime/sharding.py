"""Split a sorted work list into contiguous shards so that jobs can share it."""

from collections.abc import Sequence

from qaclims.errors import QaclimsError


def shard_items(items: Sequence, shard: int, num_shards: int) -> Sequence:
    """Shard ``shard`` (0-based) of ``num_shards`` near-equal contiguous parts."""
    if not 0 <= shard < num_shards:
        raise QaclimsError(f"shard {shard} is outside 0..{num_shards - 1}; --shard counts from 0")
    start = shard * len(items) // num_shards
    stop = (shard + 1) * len(items) // num_shards
    return items[start:stop]
