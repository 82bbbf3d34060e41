"""The QA-CLIMS question templates (method.md §1) and how they are filled and ordered."""

import pytest

from qaclims.vqa.questions import (
    BACKGROUND,
    BACKGROUND_TEMPLATES,
    FOREGROUND,
    FOREGROUND_TEMPLATES,
    Question,
    questions_for_classes,
)

# Written from method.md §1, word for word.
SPEC_FOREGROUND = [
    "What kind of {} is in the photo?",
    "What type of {} is in the photo?",
    "What is this {} also called?",
    "What is this {} usually called?",
    "What is another word for this {}?",
    "What is another name for this {}?",
]
SPEC_BACKGROUND = [
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
]


def test_templates_are_the_reference_ones_word_for_word():
    assert list(FOREGROUND_TEMPLATES) == SPEC_FOREGROUND
    assert list(BACKGROUND_TEMPLATES) == SPEC_BACKGROUND
    assert FOREGROUND == "fg" and BACKGROUND == "bg"


@pytest.mark.parametrize("class_name", ["dining table", "tv monitor", "potted plant"])
def test_multi_word_class_names_are_inserted_verbatim(class_name):
    questions = questions_for_classes([class_name])
    texts = [q.text for q in questions]
    expected = [t.replace("{}", class_name) for t in SPEC_FOREGROUND + SPEC_BACKGROUND]
    assert texts == expected
    assert texts[0] == f"What kind of {class_name} is in the photo?"
    assert texts[6 + 5] == f"what is the left side of {class_name}?"
    assert texts[-1] == f"what place is the {class_name} in?"
    # The name keeps its space: no underscore or joined form anywhere.
    joined = class_name.replace(" ", "")
    assert all(class_name in t and joined not in t and "_" not in t for t in texts)


def test_questions_for_classes_order_kinds_and_indices():
    classes = ["aeroplane", "dining table", "tv monitor"]
    questions = questions_for_classes(classes)
    assert len(questions) == len(classes) * 16
    assert all(isinstance(q, Question) for q in questions)
    expected = []
    for name in classes:
        expected += [(name, "fg", k, SPEC_FOREGROUND[k]) for k in range(6)]
        expected += [(name, "bg", k, SPEC_BACKGROUND[k]) for k in range(10)]
    assert [(q.class_name, q.kind, q.template_index, q.template) for q in questions] == expected
    assert [q.text for q in questions] == [t.format(name) for name, _, _, t in expected]


def test_no_classes_gives_no_questions():
    assert questions_for_classes([]) == []


def test_custom_template_lists_are_honoured():
    foreground = ["Is this a {}?", "Name the {}."]
    background = ["where is the {}?"]
    questions = questions_for_classes(["cat", "potted plant"], foreground, background)
    assert [(q.class_name, q.kind, q.template_index, q.text) for q in questions] == [
        ("cat", "fg", 0, "Is this a cat?"),
        ("cat", "fg", 1, "Name the cat."),
        ("cat", "bg", 0, "where is the cat?"),
        ("potted plant", "fg", 0, "Is this a potted plant?"),
        ("potted plant", "fg", 1, "Name the potted plant."),
        ("potted plant", "bg", 0, "where is the potted plant?"),
    ]
