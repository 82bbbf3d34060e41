"""Turn raw VQA answers into the texts that CAM training pulls towards or pushes away."""

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from lemminflect import getAllLemmas

WORD = re.compile(r"[a-z]+")


@lru_cache(maxsize=None)
def noun_lemma(word: str) -> str:
    """The noun lemma of a word the lexicon knows as a noun ("trees" -> "tree"); else the word."""
    lemmas = getAllLemmas(word)
    return lemmas["NOUN"][0] if "NOUN" in lemmas else word


def lemmatise(answer: str) -> str:
    """Lower-case the answer and lemmatise every noun in it, not only one-word answers."""
    return WORD.sub(lambda match: noun_lemma(match.group()), answer.strip().lower())


def names_of(class_name: str, synonyms: dict[str, Sequence[str]]) -> list[str]:
    return [class_name, *synonyms.get(class_name, ())]


def mentions(text: str, names: Iterable[str]) -> bool:
    """Whether any name occurs in the text as whole words ("cat" is not in "catamaran")."""
    return any(re.search(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])", text) for name in names)


def foreground_text(answer: str, class_name: str, synonyms: dict[str, Sequence[str]]) -> str:
    """A foreground answer that names neither the class nor a synonym gets the class appended."""
    if mentions(answer, names_of(class_name, synonyms)):
        return answer
    return f"{answer} {class_name}".strip()


def background_texts(answers: Sequence[str], class_name: str, synonyms: dict[str, Sequence[str]]) -> list[str]:
    """Background answers without the class itself or its synonyms, duplicates removed in order."""
    names = set(names_of(class_name, synonyms))
    return list(dict.fromkeys(answer for answer in answers if answer not in names))
