"""What a page's new version stores that needs nothing of the archive but its trained dictionary:
the HTML's hash and its form compressed against the article's text, the Markdown compressed
against the text, and the title and text as the search index is given them.

The archive packs a page this way when it saves one; a run packs each page where it is cleaned
(a Ray task), so that its single writer only checks the pack and writes it (Archive.save's
`packed`). One function, so one way to pack.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from archive import compression, fts
from scraper.models import Article

TEXT_METHODS = ("zstd-text", "zstd-dict-text")
"""Blobs compressed with a version's text as dictionary (the trained dictionary before it, or not)."""


@dataclass(frozen=True)
class Blob:
    """One way of storing a page's HTML, as a row of blobs has it (the text methods also name
    the version whose text they were compressed with, known only when it is written)."""

    content: bytes
    method: str
    base: str | None = None
    """The blob it is a delta of (method "zstd")."""
    dictionary_id: int | None = None
    """The trained dictionary before the text (method "zstd-dict-text")."""


@dataclass(frozen=True)
class Dictionary:
    """An archive's trained zstd dictionary as packing needs it: its id and content."""

    id: int | None
    content: bytes


NO_DICTIONARY = Dictionary(None, b"")
"""An archive's before it has trained one."""


@dataclass(frozen=True)
class Packed:
    """A page's new version, packed (see the module's docstring)."""

    html_sha256: str
    blob: Blob | None
    """The HTML against the article's text (plain zstd for a page without text); None when the
    archive holds that HTML already."""
    markdown_zstd: bytes
    title_indexed: str | None
    text_indexed: str | None


def pack(content: bytes, article: Article, dictionary: Dictionary = NO_DICTIONARY, *,
         stored: Callable[[str], bool] = lambda sha256: False) -> Packed:
    """The page's HTML `content` and its article packed, with the archive's trained dictionary
    if it has one; the HTML is not compressed when stored(its sha256)."""
    html_sha256 = hashlib.sha256(content).hexdigest()
    return Packed(
        html_sha256, None if stored(html_sha256) else _text_form(content, article.text, dictionary),
        compression.pack_markdown(article.markdown, article.text),
        # The text itself when it has no CJK (re.sub gives back its input): pickled with the article, no copy.
        fts.indexed(article.title), fts.indexed(article.text),
    )


def _text_form(content: bytes, text: str, dictionary: Dictionary) -> Blob:
    """zstd with the article's text as dictionary, as the page holds it nearly word for word,
    preceded by the trained dictionary if there is one. zstd alone only for a page without text:
    it is smaller than the text form on few pages and by little (0.8% over the storage
    benchmark), and a third compression of every page would cost ~1.5 ms a page."""
    if not text:
        return Blob(compression.compress(content), "zstd")
    method = "zstd-dict-text" if dictionary.id is not None else "zstd-text"
    return Blob(compression.compress(content, like=dictionary.content + text.encode()), method,
                dictionary_id=dictionary.id)


def unpack_text_form(blob: Blob, text: str, trained: bytes) -> bytes:
    """The HTML of a blob that _text_form made, given the article's text and the trained
    dictionary it names (b"" for none). Raises zstandard.ZstdError when it does not decompress."""
    if blob.method == "zstd":
        return compression.decompress(blob.content)
    return compression.decompress(blob.content, like=trained + text.encode())
