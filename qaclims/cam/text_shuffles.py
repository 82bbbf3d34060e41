"""The negative controls of the RITC texts: each training pair takes another pair's texts, under a fixed derangement.

``ritc.background_texts: shuffled`` gives each pair the background answers of a pair of another image;
``ritc.foreground_texts: shuffled`` gives it the foreground answers of another image of its own class. Either way
every pair's texts go to exactly one other pair, so the texts the objective sees as a whole stay the same, and only
their tie to the image is cut.
"""

import numpy as np

from qaclims.errors import QaclimsError


def derangement_across_groups(groups: np.ndarray, seed: int) -> np.ndarray | None:
    """``source`` with ``source[i]`` the item whose texts item ``i`` takes, a permutation in which no item takes one
    of its own group (its image); None where no such shift exists (fewer items than twice the largest group).

    The groups are put in an order drawn from ``seed`` and their items listed group by group; each item takes the
    one as many places on, cyclically, as the largest group has items, which always lies in another group.
    """
    _, group_of, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    if len(groups) < 2 or len(groups) < 2 * sizes.max():
        return None
    shift = int(sizes.max())
    group_rank = np.random.default_rng(seed).permutation(len(sizes))
    listed = np.lexsort((np.arange(len(groups)), group_rank[group_of]))
    source = np.empty(len(groups), dtype=np.int64)
    source[listed] = listed[(np.arange(len(groups)) + shift) % len(groups)]
    return source


def background_sources(image_ids: np.ndarray, seed: int) -> np.ndarray:
    """For each training pair (its image in ``image_ids``), the pair of another image whose background texts it takes."""
    source = derangement_across_groups(image_ids, seed)
    if source is None:
        raise QaclimsError(f"ritc.background_texts shuffled: the {len(image_ids)} training pairs cannot each take "
                           "the background texts of another image's pair (too few images); use more training "
                           "images or another ritc.background_texts")
    return source


def foreground_sources(image_ids: np.ndarray, class_indices: np.ndarray, seed: int) -> np.ndarray:
    """For each training pair, the pair of the same class and another image whose foreground texts it takes."""
    source = np.arange(len(image_ids))
    for class_index in np.unique(class_indices):
        members = np.flatnonzero(class_indices == class_index)
        within = derangement_across_groups(image_ids[members], seed)
        if within is None:
            raise QaclimsError(f"ritc.foreground_texts shuffled: class {class_index} has {len(members)} training "
                               "image(s), and a pair can only take the foreground texts of another image of its "
                               "class; use more training images or another ritc.foreground_texts")
        source[members] = members[within]
    return source
