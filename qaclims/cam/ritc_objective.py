"""QA-CLIMS's region image-text contrastive objective for one batch, vectorised over pairs.

For every positive (image, class) pair the CAM-masked foreground image is pulled towards the
pair's foreground text and pushed from its background texts; the background image the other
way round. An area term keeps the CAMs from covering everything.

The reference trains on 2 GPUs x 4 images: each rank sums the pair losses over its own 4 images
and DDP averages the ranks' gradients. Here the contrastive losses are the mean over the images a
process sees of their per-image pair sums, times that per-rank batch (``contrastive_batch``). With
equal per-process batches, DDP's average then gives one gradient for a global batch however it is
split over processes, and on 2 x 4 each process's loss is the reference's per-rank pair sum.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

from qaclims.cam.ritc_losses import (
    area_loss,
    background_region_contrastive_loss,
    foreground_region_contrastive_loss,
)
from qaclims.cam.text_shuffles import background_sources, foreground_sources
from qaclims.data.images import IMAGENET_MEAN, IMAGENET_STD
from qaclims.errors import QaclimsError
from qaclims.models.mask_clip import foreground_adaptive_threshold
from qaclims.runtime.device import autocast


@dataclass
class PairTexts:
    """Text features of the training pairs, looked up by (training sample, class)."""

    pair_of: torch.Tensor  # [N, C] long: corpus row of (sample, class), -1 where the class is absent
    foreground: torch.Tensor  # [P, D] t_fg of each corpus row
    background_rows: torch.Tensor  # [P, M] long rows into text_features, padded with 0
    background_valid: torch.Tensor  # [P, M] bool
    text_features: torch.Tensor  # [T, D] the background texts that background_rows index

    def to(self, device: torch.device) -> "PairTexts":
        return PairTexts(*(getattr(self, name).to(device) for name in self.__dataclass_fields__))


def pair_texts(corpus: pd.DataFrame, features: dict[str, torch.Tensor], image_ids: list[str], labels: np.ndarray,
               foreground_texts: str, background_texts: str, shuffle_seed: int) -> PairTexts:
    """Index the corpus by training sample; every labelled (sample, class) must have a corpus row.

    ``foreground_texts``, ``background_texts`` and ``shuffle_seed`` are the ``ritc`` keys of the same names:
    they choose which of the corpus stage's ``features`` each pair contrasts with. A shuffled choice deranges
    the texts among the training pairs alone (qaclims.cam.text_shuffles).
    """
    sample_of = {image_id: sample for sample, image_id in enumerate(image_ids)}
    pair_of = np.full(labels.shape, -1, dtype=np.int64)
    in_training = corpus["image_id"].map(sample_of)
    known = in_training.notna().to_numpy()
    pair_of[in_training[known].astype(int).to_numpy(), corpus["class_index"].to_numpy()[known]] = np.flatnonzero(known)
    missing = np.argwhere((labels > 0) & (pair_of < 0))
    if len(missing):
        sample, class_index = missing[0]
        raise QaclimsError(
            f"{len(missing)} labelled (image, class) pairs have no corpus entry, first: "
            f"({image_ids[sample]}, class {class_index}); run the vqa and corpus stages on the training split"
        )
    training = _TrainingPairs(np.flatnonzero(known), corpus, shuffle_seed)
    foreground = _foreground_texts(corpus, features, foreground_texts, training)
    rows, valid, table = _background_texts(corpus, features, background_texts, training)
    return PairTexts(torch.from_numpy(pair_of), foreground.float(), rows, valid, table.float())


@dataclass(frozen=True)
class _TrainingPairs:
    """The corpus rows of the training split, among which the shuffled choices derange the texts."""

    rows: np.ndarray
    corpus: pd.DataFrame
    seed: int

    def sources(self, deranged: np.ndarray) -> torch.Tensor:
        """[P] the corpus row whose texts each row takes: ``deranged`` indexes the training rows among
        themselves; other rows keep their own texts, which training never reads."""
        source = np.arange(len(self.corpus))
        source[self.rows] = self.rows[deranged]
        return torch.from_numpy(source)

    def image_ids(self) -> np.ndarray:
        return self.corpus["image_id"].to_numpy()[self.rows]


def _foreground_texts(corpus: pd.DataFrame, features: dict[str, torch.Tensor], choice: str,
                      training: _TrainingPairs) -> torch.Tensor:
    """[P, D] t_fg of every corpus row."""
    if choice == "answers":
        return features["pair_foreground"]
    if choice == "label":
        # The class prompt's feature as it is, not scaled by corpus.label_weight: the reference's
        # foreground-answers ablation (label_weight_init = 1) gives exactly this unit-norm t_fg.
        return features["label_features"][torch.tensor(corpus["class_index"].to_numpy())]
    if choice == "shuffled":
        # The source pair has the same class, so its t_fg is this pair's label part plus the other image's answers.
        classes = corpus["class_index"].to_numpy()[training.rows]
        return features["pair_foreground"][training.sources(foreground_sources(training.image_ids(), classes,
                                                                               training.seed))]
    raise ValueError(f"ritc.foreground_texts is {choice!r}, not answers, label or shuffled")


def _background_texts(corpus: pd.DataFrame, features: dict[str, torch.Tensor], choice: str,
                      training: _TrainingPairs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """([P, M] rows, [P, M] valid, [T, D] table) of every corpus row's background texts."""
    if choice == "fixed":
        # CLIMS: one word list for every pair, so no pair lacks background text and none is skipped.
        table = features["fixed_background_features"]
        rows = torch.arange(len(table)).expand(len(corpus), -1)
        return rows, torch.ones(rows.shape, dtype=torch.bool), table
    if choice == "shuffled":
        rows, valid, table = _answer_background_texts(corpus, features)
        source = training.sources(background_sources(training.image_ids(), training.seed))
        return rows[source], valid[source], table
    if choice != "answers":
        raise ValueError(f"ritc.background_texts is {choice!r}, not answers, fixed or shuffled")
    return _answer_background_texts(corpus, features)


def _answer_background_texts(corpus: pd.DataFrame,
                             features: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each corpus row's own cleaned background answers, padded to the widest."""
    widest = max(1, int(corpus["background_rows"].map(len).max()) if len(corpus) else 1)
    rows = np.zeros((len(corpus), widest), dtype=np.int64)
    valid = np.zeros((len(corpus), widest), dtype=bool)
    for row, background in enumerate(corpus["background_rows"]):
        rows[row, :len(background)] = background
        valid[row, :len(background)] = True
    return torch.from_numpy(rows), torch.from_numpy(valid), features["text_features"]


@dataclass(frozen=True)
class ObjectiveSettings:
    alpha: float
    temperature: float
    foreground_weight: float
    background_weight: float
    area_weight: float
    contrastive_batch: int  # the reference's per-GPU batch, over which it sums the pair losses
    clip_input_size: int
    clip_normalization: str  # "imagenet" (the reference) or "clip"
    precision: str


def clip_pixels(images: torch.Tensor, normalization: str) -> torch.Tensor:
    """The reference feeds CLIP the ImageNet-normalised image; optionally use CLIP's statistics."""
    if normalization == "imagenet":
        return images
    shape = (1, 3, 1, 1)
    raw = images * images.new_tensor(IMAGENET_STD).view(shape) + images.new_tensor(IMAGENET_MEAN).view(shape)
    return (raw - images.new_tensor(OPENAI_DATASET_MEAN).view(shape)) / images.new_tensor(OPENAI_DATASET_STD).view(shape)


def ritc_losses(cams: torch.Tensor, images: torch.Tensor, labels: torch.Tensor, samples: torch.Tensor,
                clip, texts: PairTexts, settings: ObjectiveSettings) -> dict[str, torch.Tensor]:
    """Named losses of one batch: sigmoid CAMs [B, C, h, w], images [B, 3, H, W], labels [B, C].

    "foreground" and "background" are ``contrastive_batch / B`` times their sums over the batch's
    pairs (see the module docstring); "area" is the mean CAM value.
    """
    size = (settings.clip_input_size, settings.clip_input_size)
    cams_resized = F.interpolate(cams, size=size, mode="bilinear", align_corners=True)
    pixels = clip_pixels(F.interpolate(images, size=size, mode="bilinear", align_corners=True),
                         settings.clip_normalization)
    batch_index, class_index = torch.nonzero(labels > 0, as_tuple=True)
    pair_cams = cams_resized[batch_index, class_index].unsqueeze(1)  # [P, 1, S, S]
    masks = foreground_adaptive_threshold(pair_cams, settings.alpha)
    pair_pixels = pixels[batch_index]
    regions = torch.cat([pair_cams * pair_pixels, (1 - pair_cams) * pair_pixels])
    with autocast(images.device, settings.precision):
        # Back from autocast's half precision to the CAMs' own.
        region_features = clip.encode_image(regions, torch.cat([masks, 1 - masks])).to(cams.dtype)
    foreground_features, background_features = region_features.chunk(2)

    rows = texts.pair_of[samples.to(texts.pair_of.device)[batch_index], class_index]
    foreground_text = texts.foreground[rows]
    background_text = texts.text_features[texts.background_rows[rows]]
    background_valid = texts.background_valid[rows]
    per_image_scale = settings.contrastive_batch / cams.shape[0]
    losses = {
        "foreground": per_image_scale * foreground_region_contrastive_loss(
            foreground_features, foreground_text, background_text, background_valid, settings.temperature),
        "background": per_image_scale * background_region_contrastive_loss(
            background_features, foreground_text, background_text, background_valid, settings.temperature),
        "area": area_loss(cams),
    }
    losses["total"] = (settings.foreground_weight * losses["foreground"]
                       + settings.background_weight * losses["background"] + settings.area_weight * losses["area"])
    return losses
