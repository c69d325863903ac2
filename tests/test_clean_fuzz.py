"""Fuzzing clean(): a few hundred fixture pages, cut short and mutated, each cleaned or refused
with a typed error, never lost to an unexpected one.

Deterministic (a fixed seed), and kept to small pages so that it runs in well under a minute:
pages are cut to at most _MAX_BYTES before mutation.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import fields
from functools import lru_cache
from pathlib import Path

import pytest
import zstandard

from scraper import Article, ExtractionError
from scraper.cleaner import DEFAULT_MODEL, clean
from tests.conftest import CORPUS, SEEDS
from tests.server import FIXTURES

_SEED = 20241204
_CASES = 500
_BATCHES = 10
_MAX_BYTES = 40_000
_GATE_PAGES = 40
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


@lru_cache(maxsize=1)
def _pages() -> list[bytes]:
    """The seed and corpus pages, and every fifth page of the quality gate's."""
    pages = [path.read_bytes() for path in sorted([*SEEDS.glob("*.html"), *CORPUS.glob("*.html")])]
    raw = zstandard.ZstdDecompressor().decompress((FIXTURES / "gate" / "pages.jsonl.zst").read_bytes(),
                                                  max_output_size=1 << 30)
    lines = list(filter(None, raw.decode("utf-8", errors="surrogateescape").split("\n")))
    for line in lines[::len(lines) // _GATE_PAGES]:
        pages.append(json.loads(line)["html"].encode("utf-8", errors="surrogateescape"))
    return pages


_TAGS = "div p span a article main section aside nav table tr td ul li ol h1 h2 b i script style form " \
        "iframe svg template noscript figure figcaption blockquote pre code select option textarea".split()
_ATTRIBUTES = ['class="comments"', 'id="main"', "hidden", 'aria-hidden="true"', 'style="display:none"',
               'role="navigation"', 'type="application/ld+json"', 'href="http://[bad"', 'lang="\x00"',
               'class="article-body"', 'style="visibility:hidden"', "aria-modal=true", 'href="javascript:x"']


def _tag_soup(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randrange(1, 40)):
        tag = rng.choice(_TAGS)
        kind = rng.random()
        if kind < 0.5:
            attributes = " ".join(rng.sample(_ATTRIBUTES, rng.randrange(0, 3)))
            parts.append(f"<{tag} {attributes}>")
        elif kind < 0.8:
            parts.append(f"</{tag}>")
        else:
            parts.append(rng.choice(["Some words of text here. ", "&amp;", "&#x1b;", "<", ">", "<!--", "]]>",
                                     "&#xd800;", "&#0;", "&#x110000;", "<![CDATA[", "\u202e", "\x1b[2J"]))
    return "".join(parts)


def _deep(rng: random.Random) -> str:
    depth = rng.randrange(50, 400)
    tag = rng.choice(["div", "ul><li", "blockquote", "table><tr><td", "b", "span", "section", "ol><li><p"])
    closing = "".join(f"</{part}>" for part in reversed(tag.split("><")))
    return f"<{tag}>Nested text. " * depth + (closing * depth if rng.random() < 0.5 else "")


def _deep_json_ld(rng: random.Random) -> str:
    depth = rng.choice([10, 500, 1000, 5000])
    opening, closing = rng.choice([("[", "]"), ('{"@graph":', "}"), ('{"author":', "}")])
    inner = opening * depth + '{"@type":"NewsArticle","headline":"Deep"}' + closing * rng.choice([0, depth])
    return f'<script type="application/ld+json">{inner}</script>'


_SNIPPETS: list[Callable[[random.Random], str]] = [
    lambda rng: "<html hidden>",
    lambda rng: '<html aria-hidden="true">',
    lambda rng: '<body style="display:none">',
    lambda rng: "<body hidden>",
    lambda rng: '<link rel="canonical" href="http://[bad">',
    lambda rng: '<meta property="og:image" content="http://[::1">',
    lambda rng: '<script type="application/ld+json">{"@type":"Article","headline":"H\\ud800",'
                '"author":"A\\udfff","description":"\\u001b[2J"}</script>',
    lambda rng: "<p>Lead \x11 with \x1b]0;title\x07 control \x9b characters \x00 and DEL \x7f.</p>",
    lambda rng: f'<meta name="description" content="{"x" * rng.randrange(1, 200)}\x11">',
    lambda rng: f'<div class="{"a" * rng.randrange(10_000, 60_000)}">',
    lambda rng: f'<a href="/{"%" * rng.randrange(1000, 20_000)}">link</a>',
    lambda rng: "\x00" * rng.randrange(1, 20),
    lambda rng: rng.choice(["<div>", "<p>", "<table>", "<script>", "<style>", "<!--", "<textarea>", "<title>",
                            "<svg><foreignObject>", "<select>", "<math>", "<plaintext>"]),
    lambda rng: rng.choice(['<meta charset="utf-16">', '<meta charset="shift_jis">', "<meta charset=x-bogus>",
                            '<meta charset="utf-8">', '<meta charset="iso-8859-1">']),
    _tag_soup,
    _deep,
    _deep_json_ld,
]


def _cut(rng: random.Random, page: bytes) -> bytes:
    """A shorter page: cut off at a random point, or with a stretch of its middle taken out."""
    if rng.random() < 0.5:
        return page[:rng.randrange(0, min(len(page), _MAX_BYTES) + 1)]
    start = rng.randrange(0, min(len(page), _MAX_BYTES // 2) + 1)
    end = max(start, len(page) - rng.randrange(0, _MAX_BYTES // 2 + 1))
    return page[:start] + page[end:]


def _mutate(rng: random.Random, page: bytes) -> bytes:
    data = bytearray(_cut(rng, page))
    for _ in range(rng.randrange(1, 5)):
        kind = rng.random()
        position = rng.randrange(0, len(data) + 1)
        if kind < 0.25:
            for _ in range(rng.randrange(1, 30)):
                if data:
                    data[rng.randrange(len(data))] ^= rng.randrange(1, 256)
        elif kind < 0.35:
            data[position:position] = rng.choice([b"\xed\xa0\x80", b"\xff\xfe", b"\xc3", b"\xef\xbb\xbf",
                                                  b"\x1b[2J", b"\x1b]8;;http://x/\x1b\\"])
        else:
            snippet = rng.choice(_SNIPPETS)(rng)
            data[position:position] = snippet.encode("utf-8", errors="surrogatepass")
    return bytes(data)


def _cases(batch: int) -> list[tuple[str | bytes, str | None]]:
    rng = random.Random(_SEED + batch)
    pages = _pages()
    cases: list[tuple[str | bytes, str | None]] = []
    for _ in range(_CASES // _BATCHES):
        mutated = _mutate(rng, rng.choice(pages))
        # Some pages come as text, where a bad byte becomes a lone surrogate.
        html = mutated.decode("utf-8", errors="surrogateescape") if rng.random() < 0.3 else mutated
        url = rng.choice([None, "https://example.org/news/2024/01/02/story", "http://[bad",
                          "https://example.org/\x1b[2J/", "not a url"])
        cases.append((html, url))
    return cases


def _assert_safe(article: Article) -> None:
    for field in fields(article):
        value = getattr(article, field.name)
        for text in value if isinstance(value, tuple) else [value]:
            if isinstance(text, str):
                assert not _UNSAFE.search(text), f"{field.name}: {text[:200]!r}"
                text.encode("utf-8")
    assert len(article.content_hash) == 64


@pytest.mark.parametrize("model", [None, DEFAULT_MODEL], ids=["rules", "block-model"])
@pytest.mark.parametrize("batch", range(_BATCHES))
def test_mutated_pages_are_cleaned_or_refused_with_a_typed_error(batch: int, model: Path | None) -> None:
    for number, (html, url) in enumerate(_cases(batch)):
        try:
            article = clean(html, url, model=model)
        except ExtractionError:  # NoContent is one
            continue
        except Exception as exc:
            pytest.fail(f"case {batch}/{number} ({type(html).__name__}, url {url!r}): {type(exc).__name__}: {exc}")
        _assert_safe(article)
