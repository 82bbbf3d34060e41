"""The QA-CLIMS question templates, word for word as the reference asks them."""

from collections.abc import Sequence
from dataclasses import dataclass

# Asked about the object itself; their answers name what kind of thing it is.
FOREGROUND_TEMPLATES = (
    "What kind of {} is in the photo?",
    "What type of {} is in the photo?",
    "What is this {} also called?",
    "What is this {} usually called?",
    "What is another word for this {}?",
    "What is another name for this {}?",
)

# Asked about the object's surroundings; their answers describe the background.
BACKGROUND_TEMPLATES = (
    "what is above the {}?",
    "what is under the {}?",
    "what is behind the {}?",
    "what is around the {}?",
    "what is next to the {}?",
    "what is the left side of {}?",
    "what is the right side of {}?",
    "what scene is the {} in?",
    "what environment is the {} in?",
    "what place is the {} in?",
)

FOREGROUND, BACKGROUND = "fg", "bg"


@dataclass(frozen=True)
class Question:
    class_name: str
    kind: str  # FOREGROUND or BACKGROUND
    template_index: int
    template: str

    @property
    def text(self) -> str:
        return self.template.format(self.class_name)


def questions_for_classes(
    class_names: Sequence[str],
    foreground: Sequence[str] = FOREGROUND_TEMPLATES,
    background: Sequence[str] = BACKGROUND_TEMPLATES,
) -> list[Question]:
    """Every question about every class: per class, the foreground then the background ones."""
    return [
        Question(name, kind, index, template)
        for name in class_names
        for kind, templates in ((FOREGROUND, foreground), (BACKGROUND, background))
        for index, template in enumerate(templates)
    ]
