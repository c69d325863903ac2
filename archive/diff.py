"""What changed between two versions of a text: unified and word-level diffs, word counts.

Paragraphs are compared first and words only inside changed paragraphs, which keeps the
comparison fast on long articles and the result readable.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from scraper.models import word_count

_TOKEN = re.compile(r"\S+|\s+")


@dataclass(frozen=True)
class Change:
    """One run of a word diff: op is "equal", "delete" or "insert"."""

    op: str
    text: str


def _paragraphs(text: str) -> list[str]:
    return [paragraph for paragraph in text.split("\n") if paragraph.strip()]


def word_diff(before: str, after: str) -> list[Change]:
    """The texts as runs of equal, deleted and inserted text; paragraphs end with "\\n"."""
    changes: list[Change] = []

    def emit(op: str, text: str) -> None:
        if not text:
            return
        if changes and changes[-1].op == op:
            changes[-1] = Change(op, changes[-1].text + text)
        else:
            changes.append(Change(op, text))

    old, new = _paragraphs(before), _paragraphs(after)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            emit("equal", "".join(paragraph + "\n" for paragraph in old[i1:i2]))
            continue
        if tag in ("insert", "delete"):  # nothing on the other side to match words against
            emit(tag, "".join(paragraph + "\n" for paragraph in (new[j1:j2] if tag == "insert" else old[i1:i2])))
            continue
        # Words compared alone, written back with the space after them, so that the runs put
        # together give the texts again.
        old_tokens = _tokens("\n".join(old[i1:i2]) + "\n" if i2 > i1 else "")
        new_tokens = _tokens("\n".join(new[j1:j2]) + "\n" if j2 > j1 else "")
        old_words = [token.rstrip() for token in old_tokens]
        new_words = [token.rstrip() for token in new_tokens]
        # autojunk off: on long texts it would treat common words as noise and misalign the diff.
        word_opcodes = difflib.SequenceMatcher(None, old_words, new_words, autojunk=False).get_opcodes()
        for word_tag, a1, a2, b1, b2 in word_opcodes:
            if word_tag == "equal":
                emit("equal", "".join(new_tokens[b1:b2]))
                continue
            emit("delete", "".join(old_tokens[a1:a2]))
            emit("insert", "".join(new_tokens[b1:b2]))
    return changes


def counted(changes: list[Change]) -> tuple[int, int]:
    """How many words the changes add, and how many they remove (in Chinese and Japanese, characters)."""
    added = sum(word_count(change.text) for change in changes if change.op == "insert")
    removed = sum(word_count(change.text) for change in changes if change.op == "delete")
    return added, removed


def word_changes(before: str, after: str, *, words_after: int | None = None) -> tuple[int, int]:
    """How many words after adds to before, and how many it removes. words_after, when known,
    spares counting a first version's words again."""
    if not before.strip():
        return (word_count(after) if words_after is None else words_after), 0
    return counted(word_diff(before, after))


def _tokens(text: str) -> list[str]:
    """Each word with the white space after it."""
    tokens: list[str] = []
    for token in _TOKEN.findall(text):
        if token.isspace() and tokens:
            tokens[-1] += token
        else:
            tokens.append(token)
    return tokens


def render_word_diff(changes: list[Change]) -> str:
    """Plain text with deletions as [-...-] and insertions as {+...+}, as git --word-diff does."""
    parts = []
    for number, change in enumerate(changes):
        if change.op == "equal":
            parts.append(change.text)
            continue
        body = change.text.rstrip()
        followed_by_insert = change.op == "delete" and number + 1 < len(changes) and changes[number + 1].op == "insert"
        space = "" if followed_by_insert else change.text[len(body):]  # the insertion brings its own
        parts.append(("[-{}-]" if change.op == "delete" else "{{+{}+}}").format(body) + space)
    return "".join(parts)


def unified_diff(before: str, after: str, *, from_label: str, to_label: str, context: int = 3) -> str:
    """A unified diff of the texts' paragraphs, one paragraph a line."""
    lines = difflib.unified_diff(
        _paragraphs(before), _paragraphs(after), fromfile=from_label, tofile=to_label, n=context, lineterm=""
    )
    return "".join(line + "\n" for line in lines)
