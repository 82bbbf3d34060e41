"""Turn raw VQA answers into the texts that CAM training pulls towards or pushes away.

Each rule has a corpus.* key that chooses between qaclims's rule and the reference's.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from lemminflect import getAllLemmas

from qaclims.config import settings_from

WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class CleanupSettings:
    """The corpus.* keys that decide how answers become texts (see the schema for each value)."""

    synonyms: Mapping[str, Sequence[str]]
    lemmatise: str  # nouns | whole_answer
    label_match: str  # whole_words | substring
    background_removal: str  # class_and_synonyms | class_name

    @classmethod
    def from_config(cls, section: dict) -> "CleanupSettings":
        return settings_from(cls, section)


@lru_cache(maxsize=None)
def noun_lemma(word: str) -> str:
    """The noun lemma of a word the lexicon knows as a noun ("trees" -> "tree"); else the word."""
    lemmas = getAllLemmas(word)
    return lemmas["NOUN"][0] if "NOUN" in lemmas else word


def lemmatise(answer: str, scope: str) -> str:
    """Lower-case the answer and lemmatise its nouns.

    ``nouns`` lemmatises every noun in the answer. ``whole_answer`` looks the whole answer up
    as one noun, as the reference's WordNet lemmatiser does: a multi-word answer is no
    dictionary entry, so only one-word answers change.
    """
    text = answer.strip().lower()
    if scope == "nouns":
        return WORD.sub(lambda match: noun_lemma(match.group()), text)
    return noun_lemma(text) if len(text.split()) == 1 else text


def names_of(class_name: str, synonyms: Mapping[str, Sequence[str]]) -> list[str]:
    return [class_name, *synonyms.get(class_name, ())]


def mentions(text: str, names: Iterable[str], match: str) -> bool:
    """Whether any name occurs in the text: as whole words, or anywhere (``substring``: "cat" is in "catamaran")."""
    if match == "substring":
        return any(name in text for name in names)
    return any(re.search(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])", text) for name in names)


def foreground_text(answer: str, class_name: str, synonyms: Mapping[str, Sequence[str]], match: str) -> str:
    """A foreground answer that names neither the class nor a synonym gets the class appended."""
    if mentions(answer, names_of(class_name, synonyms), match):
        return answer
    return f"{answer} {class_name}".strip()


def background_texts(answers: Sequence[str], class_name: str, synonyms: Mapping[str, Sequence[str]],
                     removal: str) -> list[str]:
    """Background answers without the class itself, duplicates removed in order.

    ``class_and_synonyms`` also drops an answer that is one of the class's synonyms; ``class_name``
    drops only the class name.
    """
    names = set(names_of(class_name, synonyms)) if removal == "class_and_synonyms" else {class_name}
    return list(dict.fromkeys(answer for answer in answers if answer not in names))
