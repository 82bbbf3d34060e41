"""Answer cleanup: noun lemmas, label mentions, label appending, background filtering, each also the reference's way."""

import pytest

from qaclims.config import validate_config
from qaclims.text.cleanup import (
    CleanupSettings,
    background_texts,
    foreground_text,
    lemmatise,
    mentions,
    names_of,
)

SYNONYMS = {"dining table": ["table"], "tv monitor": ["monitor", "tv"], "potted plant": ["plant"]}


def test_default_synonyms_are_the_reference_ones():
    assert validate_config({})["corpus"]["synonyms"] == SYNONYMS


def test_cleanup_defaults_are_qaclims_rules():
    cleanup = CleanupSettings.from_config(validate_config({})["corpus"])
    assert cleanup == CleanupSettings(SYNONYMS, "nouns", "whole_words", "class_and_synonyms")


# whole_answer is the reference's scope: a multi-word answer is no dictionary entry, so it stays as it is.
@pytest.mark.parametrize("answer, by_nouns, by_whole_answer", [
    ("wooden tables", "wooden table", "wooden tables"),
    ("trees", "tree", "tree"),
    ("Trees", "tree", "tree"),
    ("GRASS", "grass", "grass"),
    ("dogs and cats", "dog and cat", "dogs and cats"),
    ("two men", "two man", "two men"),
    ("  kites ", "kite", "kite"),
    ("televisions", "television", "television"),
    ("is", "is", "is"),
    ("it is sunny", "it is sunny", "it is sunny"),
    ("wooden", "wooden", "wooden"),
    ("sky", "sky", "sky"),
    ("dining tables", "dining table", "dining tables"),
    ("Tv Monitors", "tv monitor", "tv monitors"),
    ("", "", ""),
])
def test_lemmatise_every_noun_or_one_word_answers_only(answer, by_nouns, by_whole_answer):
    assert lemmatise(answer, "nouns") == by_nouns
    assert lemmatise(answer, "whole_answer") == by_whole_answer


def test_names_of():
    assert names_of("tv monitor", SYNONYMS) == ["tv monitor", "monitor", "tv"]
    assert names_of("cat", SYNONYMS) == ["cat"]


@pytest.mark.parametrize("text, names, as_whole_words, as_substring", [
    ("catamaran", ["cat"], False, True),
    ("black cat", ["cat"], True, True),
    ("cat", ["cat"], True, True),
    ("cat toy", ["cat"], True, True),
    ("bobcat", ["cat"], False, True),
    ("cats", ["cat"], False, True),
    ("dining table", ["table"], True, True),
    ("dining table", ["dining table"], True, True),
    ("tablecloth", ["table"], False, True),
    ("the tv", ["monitor", "tv"], True, True),
    ("tvs2", ["tv"], False, True),
    ("dog", ["cat"], False, False),
    ("screen", ["monitor", "tv monitor"], False, False),
    ("", ["cat"], False, False),
    ("black cat", [], False, False),
])
def test_mentions_as_whole_words_or_as_substring(text, names, as_whole_words, as_substring):
    assert mentions(text, names, "whole_words") is as_whole_words
    assert mentions(text, names, "substring") is as_substring


# The substring test keeps an answer that merely contains a name ("catamaran", "wooden tables").
@pytest.mark.parametrize("answer, class_name, by_whole_words, by_substring", [
    ("catamaran", "cat", "catamaran cat", "catamaran"),
    ("bobcat", "cat", "bobcat cat", "bobcat"),
    ("black cat", "cat", "black cat", "black cat"),
    ("wooden table", "dining table", "wooden table", "wooden table"),
    ("wooden tables", "dining table", "wooden tables dining table", "wooden tables"),
    ("dining table", "dining table", "dining table", "dining table"),
    ("desk", "dining table", "desk dining table", "desk dining table"),
    ("tv", "tv monitor", "tv", "tv"),
    ("computer monitor", "tv monitor", "computer monitor", "computer monitor"),
    ("screen", "tv monitor", "screen tv monitor", "screen tv monitor"),
    ("plant", "potted plant", "plant", "plant"),
    ("flower", "potted plant", "flower potted plant", "flower potted plant"),
    ("boeing 747", "aeroplane", "boeing 747 aeroplane", "boeing 747 aeroplane"),
    ("man", "person", "man person", "man person"),
    ("", "dog", "dog", "dog"),
])
def test_foreground_text_appends_the_class_when_not_named(answer, class_name, by_whole_words, by_substring):
    assert foreground_text(answer, class_name, SYNONYMS, "whole_words") == by_whole_words
    assert foreground_text(answer, class_name, SYNONYMS, "substring") == by_substring


def test_foreground_text_without_synonyms_appends_to_a_synonym():
    assert foreground_text("table", "dining table", {}, "whole_words") == "table dining table"


def test_background_texts_drop_the_class_and_synonyms_exactly():
    answers = ["table", "wall", "dining table", "floor", "wall", "wooden table", "floor", "room"]
    # "wooden table" only contains a synonym: it is kept; duplicates keep the first position.
    assert background_texts(answers, "dining table", SYNONYMS, "class_and_synonyms") == [
        "wall", "floor", "wooden table", "room"]


def test_background_texts_other_classes_and_synonyms():
    answers = ["tv", "monitor", "tv monitor", "desk", "tv stand", "desk"]
    assert background_texts(answers, "tv monitor", SYNONYMS, "class_and_synonyms") == ["desk", "tv stand"]
    # Synonyms of another class do not count for this one.
    assert background_texts(["table", "cat", "grass"], "cat", SYNONYMS, "class_and_synonyms") == ["table", "grass"]


def test_background_texts_keep_first_seen_order():
    answers = ["sky", "grass", "sky", "road", "grass", "tree"]
    assert background_texts(answers, "dog", SYNONYMS, "class_and_synonyms") == ["sky", "grass", "road", "tree"]


def test_background_texts_can_be_empty():
    assert background_texts(["plant", "potted plant", "plant"], "potted plant", SYNONYMS, "class_and_synonyms") == []
    assert background_texts(["cat"] * 10, "cat", SYNONYMS, "class_name") == []
    assert background_texts([], "cat", SYNONYMS, "class_name") == []


def test_background_texts_by_class_name_drop_only_the_class_name_itself():
    answers = ["table", "wall", "dining table", "floor", "wall", "wooden table", "dining table"]
    assert background_texts(answers, "dining table", SYNONYMS, "class_name") == [
        "table", "wall", "floor", "wooden table"]
    answers = ["tv", "monitor", "tv monitor", "desk", "monitor"]
    assert background_texts(answers, "tv monitor", SYNONYMS, "class_name") == ["tv", "monitor", "desk"]
