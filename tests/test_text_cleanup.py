"""Answer cleanup: noun lemmas, whole-word mentions, label appending, background filtering."""

import pytest

from qaclims.config import validate_config
from qaclims.text.cleanup import background_texts, foreground_text, lemmatise, mentions, names_of

SYNONYMS = {"dining table": ["table"], "tv monitor": ["monitor", "tv"], "potted plant": ["plant"]}


def test_default_synonyms_are_the_reference_ones():
    assert validate_config({})["corpus"]["synonyms"] == SYNONYMS


@pytest.mark.parametrize("answer, expected", [
    ("wooden tables", "wooden table"),
    ("trees", "tree"),
    ("Trees", "tree"),
    ("GRASS", "grass"),
    ("dogs and cats", "dog and cat"),
    ("two men", "two man"),
    ("  kites ", "kite"),
    ("is", "is"),
    ("it is sunny", "it is sunny"),
    ("wooden", "wooden"),
    ("sky", "sky"),
    ("dining tables", "dining table"),
    ("tv monitors", "tv monitor"),
    ("", ""),
])
def test_lemmatise(answer, expected):
    assert lemmatise(answer) == expected


def test_names_of():
    assert names_of("tv monitor", SYNONYMS) == ["tv monitor", "monitor", "tv"]
    assert names_of("cat", SYNONYMS) == ["cat"]


@pytest.mark.parametrize("text, names, expected", [
    ("catamaran", ["cat"], False),
    ("black cat", ["cat"], True),
    ("cat", ["cat"], True),
    ("cat toy", ["cat"], True),
    ("bobcat", ["cat"], False),
    ("cats", ["cat"], False),
    ("dining table", ["table"], True),
    ("dining table", ["dining table"], True),
    ("tablecloth", ["table"], False),
    ("the tv", ["monitor", "tv"], True),
    ("tvs2", ["tv"], False),
    ("", ["cat"], False),
    ("black cat", [], False),
])
def test_mentions_is_whole_word(text, names, expected):
    assert mentions(text, names) is expected


@pytest.mark.parametrize("answer, class_name, expected", [
    ("catamaran", "cat", "catamaran cat"),
    ("black cat", "cat", "black cat"),
    ("wooden table", "dining table", "wooden table"),
    ("dining table", "dining table", "dining table"),
    ("desk", "dining table", "desk dining table"),
    ("tv", "tv monitor", "tv"),
    ("computer monitor", "tv monitor", "computer monitor"),
    ("screen", "tv monitor", "screen tv monitor"),
    ("plant", "potted plant", "plant"),
    ("flower", "potted plant", "flower potted plant"),
    ("boeing 747", "aeroplane", "boeing 747 aeroplane"),
    ("man", "person", "man person"),
    ("", "dog", "dog"),
])
def test_foreground_text_appends_the_class_when_not_named(answer, class_name, expected):
    assert foreground_text(answer, class_name, SYNONYMS) == expected


def test_foreground_text_without_synonyms_appends_to_a_synonym():
    assert foreground_text("table", "dining table", {}) == "table dining table"


def test_background_texts_drop_the_class_and_synonyms_exactly():
    answers = ["table", "wall", "dining table", "floor", "wall", "wooden table", "floor", "room"]
    # "wooden table" only contains a synonym: it is kept; duplicates keep the first position.
    assert background_texts(answers, "dining table", SYNONYMS) == ["wall", "floor", "wooden table", "room"]


def test_background_texts_other_classes_and_synonyms():
    answers = ["tv", "monitor", "tv monitor", "desk", "tv stand", "desk"]
    assert background_texts(answers, "tv monitor", SYNONYMS) == ["desk", "tv stand"]
    # Synonyms of another class do not count for this one.
    assert background_texts(["table", "cat", "grass"], "cat", SYNONYMS) == ["table", "grass"]


def test_background_texts_keep_first_seen_order():
    answers = ["sky", "grass", "sky", "road", "grass", "tree"]
    assert background_texts(answers, "dog", SYNONYMS) == ["sky", "grass", "road", "tree"]


def test_background_texts_can_be_empty():
    assert background_texts(["plant", "potted plant", "plant"], "potted plant", SYNONYMS) == []
    assert background_texts(["cat"] * 10, "cat", SYNONYMS) == []
    assert background_texts([], "cat", SYNONYMS) == []
