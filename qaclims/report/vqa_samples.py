"""A few images with the questions asked about them, the answers (the main answerer's, then each of vqa.answerers')
and the main answerer's cleaned corpus texts."""

from collections.abc import Mapping
from html import escape

import pandas as pd

from qaclims.evaluation.pictures import evenly_spaced
from qaclims.report.html import note, table
from qaclims.vqa.questions import BACKGROUND, FOREGROUND

KIND_NAMES = {FOREGROUND: "foreground", BACKGROUND: "background"}
QUESTION_KEY = ["image_id", "class", "kind", "template_index"]


def pick_images(answers: pd.DataFrame, count: int) -> list[str]:
    """Up to ``count`` answered images, spread over all of them in id order."""
    answered = pd.DataFrame({"image_id": sorted(answers["image_id"].unique())})
    return evenly_spaced(answered, count)["image_id"].tolist()


def with_answerers(answers: pd.DataFrame, answerer_answers: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """``answers`` with a column ``answer (NAME)`` per answerer of ``answerer_answers``: its answer to the same
    question about the same image."""
    for name, other in answerer_answers.items():
        column = other.set_index(QUESTION_KEY)["answer"].rename(f"answer ({name})")
        answers = answers.join(column, on=QUESTION_KEY)
    return answers


def pair_table(answers: pd.DataFrame, foreground_texts: list[str]) -> pd.DataFrame:
    """The answers of one (image, class) pair, foreground questions first, each next to its corpus text.

    Foreground texts follow the template order one for one; background texts are
    deduplicated, so they are listed apart.
    """
    ordered = answers.assign(order=answers["kind"].map({FOREGROUND: 0, BACKGROUND: 1})).sort_values(
        ["order", "template_index"])
    foreground = int((ordered["kind"] == FOREGROUND).sum())
    if foreground != len(foreground_texts):
        raise ValueError(f"{foreground} foreground answers but {len(foreground_texts)} foreground corpus texts")
    return pd.DataFrame({"kind": ordered["kind"].map(KIND_NAMES).to_numpy(), "question": ordered["question"].to_numpy(),
                         "answer": ordered["answer"].to_numpy(),
                         **{column: ordered[column].to_numpy() for column in ordered if column.startswith("answer (")},
                         "corpus text": [*foreground_texts, *[""] * (len(ordered) - foreground)]})


def vqa_samples_html(answers: pd.DataFrame, corpus: pd.DataFrame, thumbnails: Mapping[str, str]) -> str:
    """A section per image of ``thumbnails`` (image id -> picture URI), a table per class it is labelled with."""
    pairs = corpus.set_index(["image_id", "class"])
    sections = []
    for image_id, uri in thumbnails.items():
        parts = [f'<section><img class="thumbnail" src="{uri}" alt="{escape(image_id)}"><h2>{escape(image_id)}</h2>']
        for class_name, group in answers[answers["image_id"] == image_id].groupby("class", sort=True):
            if (image_id, class_name) not in pairs.index:
                raise ValueError(f"the corpus has no row for image {image_id}, class {class_name}")
            pair = pairs.loc[(image_id, class_name)]
            kept = "; ".join(pair["background_texts"]) or "none: training skips this pair"
            parts += [f"<h3>{escape(class_name)}</h3>", table(pair_table(group, list(pair["foreground_texts"]))),
                      note(f"Background texts kept: {kept}")]
        sections.append("".join(parts) + "</section>")
    return "\n".join(sections)
