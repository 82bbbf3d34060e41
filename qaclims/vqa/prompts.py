"""The prompt each family is asked with, and the short answer cut from a generative model's reply."""

import re
from collections.abc import Sequence

from qaclims.vqa.families import Family

# The first sentence ends at '.', '!' or '?' followed by a space or the end of the reply.
SENTENCE_END = re.compile(r"[.!?](?:\s|$)")


def prompt_texts(family: Family, questions: Sequence[str], template: str | None) -> list[str]:
    """The text of each question as the family is asked: ``template`` (vqa.prompt_template) or the family's."""
    return [(template or family.prompt).format(question=question) for question in questions]


def chat_messages(text: str) -> list[dict]:
    """One user turn: the image, then ``text``, as the processor's chat template reads them."""
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]


def short_answer(reply: str) -> str:
    """A generative model's reply cut to its first line and, within it, to its first sentence, without the
    sentence's closing mark; surrounding white space dropped."""
    line = reply.strip().split("\n", 1)[0]
    end = SENTENCE_END.search(line)
    return (line[:end.start()] if end else line).strip()


def kept_answers(family: Family, replies: Sequence[str]) -> list[str]:
    """The answers kept from a family's replies: cut to short answers unless the family answers in a word."""
    return [short_answer(reply) for reply in replies] if family.cut_to_short_answer else list(replies)
