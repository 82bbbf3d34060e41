"""The text corpus: cleaned foreground and background texts per (image, class) pair.

Each pair gets its foreground texts in template order (duplicates kept, as the mean over
them weighs each question equally) and its background texts deduplicated. Every distinct
string is encoded once; pairs refer to feature rows. Class labels are encoded apart from the
answers (``class_index`` rows), since the reference encodes them with another text tower.
"""

from collections.abc import Sequence

import pandas as pd
import torch

from qaclims.text.cleanup import (
    CleanupSettings,
    background_texts,
    foreground_text,
    lemmatise,
)
from qaclims.vqa.questions import BACKGROUND, FOREGROUND

CORPUS_COLUMNS = ["image_id", "class", "class_index", "foreground_texts", "background_texts",
                  "has_background", "foreground_rows", "background_rows"]


def build_corpus(answers: pd.DataFrame, classes: Sequence[str],
                 cleanup: CleanupSettings) -> tuple[pd.DataFrame, list[str]]:
    """The corpus table, and the sorted distinct strings that its ``*_rows`` columns index."""
    lemma_of = {raw: lemmatise(raw, cleanup.lemmatise) for raw in answers["answer"].unique()}
    ordered = answers.assign(lemma=answers["answer"].map(lemma_of)).sort_values(
        ["image_id", "class", "kind", "template_index"]
    )
    pairs = []
    for (image_id, class_name), group in ordered.groupby(["image_id", "class"], sort=True):
        foreground = [foreground_text(text, class_name, cleanup.synonyms, cleanup.label_match)
                      for text in group.loc[group["kind"] == FOREGROUND, "lemma"]]
        background = background_texts(list(group.loc[group["kind"] == BACKGROUND, "lemma"]), class_name,
                                      cleanup.synonyms, cleanup.background_removal)
        pairs.append((image_id, class_name, foreground, background))
    strings = sorted({text for *_, foreground, background in pairs for text in (*foreground, *background)})
    row_of = {text: row for row, text in enumerate(strings)}
    corpus = pd.DataFrame(
        [(image_id, name, classes.index(name), foreground, background, bool(background),
          [row_of[text] for text in foreground], [row_of[text] for text in background])
         for image_id, name, foreground, background in pairs],
        columns=CORPUS_COLUMNS,
    )
    return corpus, strings


def foreground_features(label_features: torch.Tensor, label_rows: torch.Tensor, answer_features: torch.Tensor,
                        answer_rows: torch.Tensor, label_weight: float) -> torch.Tensor:
    """t_fg = w * t_label + (1 - w) * mean_i t_answer_i for every pair.

    ``label_rows`` [P] index ``label_features``, ``answer_rows`` [P, F] index ``answer_features``.

    As in the reference, the result is not renormalised: its norm is below 1, which
    changes its effective temperature in the contrastive losses.
    """
    return label_weight * label_features[label_rows] + (1 - label_weight) * answer_features[answer_rows].mean(dim=1)
