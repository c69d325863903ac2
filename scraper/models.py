"""The two values that flow through the pipeline. No I/O here."""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

# Scripts written without spaces between words: each character counts as a word.
CJK = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff"
"""Kana and CJK ideographs, as a regex character range."""
_WORD = re.compile(rf"[{CJK}]|[^\s{CJK}]+")


# What a page may hold but an article must not: C0 controls but tab and newline, DEL and C1
# controls (the terminal escapes ESC[2J, OSC, CSI), bidi embeddings, overrides and isolates
# (they reorder how what follows them is shown), and the two characters XML forbids; and lone
# surrogates, which no encoding writes (JSON-LD may escape one), as U+FFFD.
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f"
"""C0 controls but tab and newline (ESC starts terminal escapes), DEL and C1 controls (CSI,
OSC), as a regex character range."""
_CONTROL = re.compile(f"[{_CONTROLS}]")
_UNSAFE = re.compile(f"[{_CONTROLS}\u202a-\u202e\u2066-\u2069\ufffe\uffff\ud800-\udfff]")


def strip_controls(text: str) -> str:
    """text without control characters (tab and newline stay): no terminal escape survives."""
    return _CONTROL.sub("", text)


def _replacement(match: re.Match[str]) -> str:
    return "\ufffd" if "\ud800" <= match.group() <= "\udfff" else ""


def safe_text(text: str) -> str:
    """text without control characters and with no lone surrogate: safe to show on a
    terminal, to hash, to store and to put in an XML tree."""
    return _UNSAFE.sub(_replacement, text)


def make_fields_safe(instance: Any) -> None:
    """Apply safe_text, in place, to each field of a dataclass instance (frozen or not) that
    is a string or a tuple of strings; a string it empties becomes None where that is the
    field's default (a title of control characters only is no title)."""
    for item in fields(instance):
        value = getattr(instance, item.name)
        if isinstance(value, str):
            safe = safe_text(value)
            object.__setattr__(instance, item.name, None if not safe and item.default is None else safe)
        elif isinstance(value, tuple):
            safe_items = (safe_text(part) if isinstance(part, str) else part for part in value)
            object.__setattr__(instance, item.name, tuple(part for part in safe_items if part))


def word_count(text: str) -> int:
    """Words of text; in Chinese and Japanese, characters."""
    return len(_WORD.findall(text))


def has_words(text: str, least: int) -> bool:
    """Whether text has at least so many words (as word_count counts them), read only as far
    as that."""
    return least <= 0 or next(itertools.islice(_WORD.finditer(text), least - 1, None), None) is not None


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, the one time format of the archive."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Page:
    """A fetched (or locally read) web page, before cleaning."""

    url: str
    """The address as requested."""
    final_url: str
    """The address after redirects."""
    content: bytes
    """The body exactly as received (after transfer decompression)."""
    html: str
    """The body decoded to text."""
    status: int | None = None
    """HTTP status; None for a page read from a file or stdin."""
    headers: dict[str, str] = field(default_factory=dict)
    encoding: str = "utf-8"
    fetched_at: datetime = field(default_factory=utc_now)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass(frozen=True)
class Article:
    """The cleaned article: its text and what is known about it."""

    text: str
    """Paragraphs separated by blank lines; a line break of the page (<br>) a newline within one."""
    markdown: str = ""
    """The same article as Markdown: headings, lists, quotes and links kept."""
    title: str | None = None
    authors: tuple[str, ...] = ()
    published: str | None = None
    """Publication date, ISO 8601 (YYYY-MM-DD or a full timestamp)."""
    modified: str | None = None
    language: str | None = None
    site_name: str | None = None
    description: str | None = None
    canonical_url: str | None = None
    image: str | None = None
    cleaner: str | None = field(default=None, compare=False)
    """Which cleaner made it (scraper.cleaner.CLEANER_ID), stored with its version. Not
    compared: two articles alike are equal whichever cleaner made them."""

    def __post_init__(self) -> None:
        # Every field comes from the page: none may carry a terminal escape or fail to encode.
        make_fields_safe(self)

    @property
    def author(self) -> str | None:
        """The authors as one string, "A; B"."""
        return "; ".join(self.authors) or None

    # Cached: the archive reads both several times a save. (A frozen dataclass allows it:
    # cached_property writes the instance's __dict__ directly.)
    @cached_property
    def word_count(self) -> int:
        return word_count(self.text)

    @cached_property
    def content_hash(self) -> str:
        """Identifies the cleaned content: a new version only when this changes."""
        digest = hashlib.sha256()
        digest.update((self.title or "").encode())
        digest.update(b"\0")
        digest.update(self.text.encode())
        return digest.hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "authors": list(self.authors), "author": self.author,
                "word_count": self.word_count}
