"""zstd with another text as dictionary: how the archive stores what mostly repeats something
it already holds (an edited page's HTML against the page's earlier HTML, a page's first HTML
against its article's plain text, an article's Markdown against that text) for little more
than the difference."""

from __future__ import annotations

import zstandard

LEVEL = 6


def raw_dict(content: bytes) -> zstandard.ZstdCompressionDict:
    """content as a zstd dictionary as is: the compressor refers back into it like earlier input."""
    return zstandard.ZstdCompressionDict(content, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


def compress(content: bytes, *, like: bytes | None = None) -> bytes:
    if like is None:
        return bytes(zstandard.ZstdCompressor(level=LEVEL).compress(content))
    return bytes(zstandard.ZstdCompressor(level=LEVEL, dict_data=raw_dict(like)).compress(content))


def decompress(content: bytes, *, like: bytes | None = None) -> bytes:
    if like is None:
        return bytes(zstandard.ZstdDecompressor().decompress(content))
    return bytes(zstandard.ZstdDecompressor(dict_data=raw_dict(like)).decompress(content))


def pack_markdown(markdown: str, text: str) -> bytes:
    """The Markdown of an article, compressed against its text: a few hundred bytes where the
    Markdown alone would take as much room as the text again."""
    return compress(markdown.encode(), like=text.encode())


def unpack_markdown(packed: bytes | None, text: str) -> str:
    return decompress(packed, like=text.encode()).decode() if packed else ""
