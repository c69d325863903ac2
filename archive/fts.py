"""Full-text search text that finds Chinese, Japanese and Korean words.

SQLite's unicode61 tokenizer reads a run of CJK characters as one token, so a word inside a
sentence (智慧农业 in 在益阳一个智慧农业园区里) could not be found. The index is given the text
with every CJK character as a token of its own (a space put either side), and a query's CJK
runs become phrases of their characters, so 智慧农业 matches exactly that substring. Other
scripts give the index the same tokens as before. The spaced text is not the stored text, so
the index holds no content and snippets are cut here from the version's own text.
"""

from __future__ import annotations

import re
import unicodedata

from scraper.models import CJK

CJK_CHARACTERS = CJK + "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
"""Kana, Han ideographs and Hangul, as a regex character range."""
_ONE_CJK = re.compile(f"([{CJK_CHARACTERS}])")
_CJK_RUN = re.compile(f"[{CJK_CHARACTERS}]+")
_QUOTED = re.compile(r'("(?:[^"]|"")*"?)')
# A token as unicode61 sees one, a CJK character standing alone.
_TOKEN = re.compile(rf"[{CJK_CHARACTERS}]|[^\W_{CJK_CHARACTERS}]+")
_OPERATORS = {"AND", "OR", "NOT", "NEAR"}
_SENTENCE_END = re.compile(r"[.!?。！？]|\n")


def indexed(text: str | None) -> str | None:
    """text as the index is given it: every CJK character a token of its own."""
    return None if text is None else _ONE_CJK.sub(r" \1 ", text)


def match_expression(query: str, *, syntax: bool) -> str:
    """An FTS5 MATCH expression for query: words that must all appear and "quoted phrases", or
    with syntax=True FTS5 syntax as given. CJK runs become phrases of their characters."""
    if not syntax:
        return _plain_words(query)
    parts = _QUOTED.split(query)
    return "".join(
        indexed(part) or "" if number % 2 else _CJK_RUN.sub(lambda run: f' "{indexed(run.group())}" ', part)
        for number, part in enumerate(parts)
    )


def _plain_words(query: str) -> str:
    """Each word and "quoted phrase" of query as a quoted FTS5 string (as sqlite-utils' quote_fts)."""
    if query.count('"') % 2:
        query += '"'
    bits = [bit for bit in re.split(r'\s+|(".*?")', query) if bit and bit != '""']
    return " ".join(indexed(bit if bit.startswith('"') else f'"{bit}"') or "" for bit in bits)


def _normal(token: str) -> str:
    """A token compared as the index compares it: case and diacritics removed."""
    decomposed = unicodedata.normalize("NFKD", token.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def phrases(query: str, *, syntax: bool) -> list[tuple[list[str], bool]]:
    """The phrases of a query to mark in a snippet: (tokens, whether the last is a prefix)."""
    found: list[tuple[list[str], bool]] = []
    for number, part in enumerate(_QUOTED.split(query)):
        if number % 2:
            bits = [part.strip('"').replace('""', '"')]
        else:
            bits = [bit for bit in re.split(r"[\s()]+", part)
                    if bit and not (syntax and (bit in _OPERATORS or bit.endswith(":")))]
        for bit in bits:
            if syntax and ":" in bit:
                bit = bit.split(":", 1)[1]  # a column filter
            tokens = [_normal(token) for token in _TOKEN.findall(bit)]
            if tokens:
                found.append((tokens, syntax and bit.endswith("*")))
    return found


def snippet(text: str, query: str, *, syntax: bool, tokens: int = 16) -> str:
    """About `tokens` tokens of text around its best run of matches, each match [bracketed],
    with … where text was cut (what FTS5's snippet() gave for an index holding the text)."""
    spans = [(match.start(), match.end()) for match in _TOKEN.finditer(text)]
    if not spans:
        return ""
    words = [_normal(text[start:end]) for start, end in spans]
    hits: list[tuple[int, int, int]] = []  # first and last token of each match, and its phrase
    wanted = phrases(query, syntax=syntax)
    for first in range(len(words)):
        for number, (phrase, prefix) in enumerate(wanted):
            last = first + len(phrase) - 1
            if last < len(words) and words[first:last] == phrase[:-1] and (
                    words[last].startswith(phrase[-1]) if prefix else words[last] == phrase[-1]):
                hits.append((first, last, number))
                break

    def sentence_starts_at(token: int) -> bool:
        return token == 0 or bool(_SENTENCE_END.search(text[spans[token - 1][1]:spans[token][0]]))

    def score(start: int) -> tuple[int, bool]:
        """As FTS5 scores a window: each phrase found counts 100, each further match of it 1."""
        inside = [number for first, last, number in hits if start <= first and last < start + tokens]
        return 100 * len(set(inside)) + len(inside) - len(set(inside)), sentence_starts_at(start)

    start = 0
    for first, last, _ in hits:  # a window around each match, from a sentence's start if near
        around = max(0, first - (tokens - (last - first + 1)) // 2)
        begins = [token for token in range(max(0, first - tokens // 2), first + 1) if sentence_starts_at(token)]
        candidate = begins[-1] if begins else around
        if score(candidate) > score(start) or not any(start <= hit[0] < start + tokens for hit in hits):
            start = candidate
    end = min(len(spans), start + tokens)
    pieces = ["…" if start else ""]
    at = spans[start][0] if start else 0
    for first, last, _ in hits:
        if first < start or last >= end or spans[first][0] < at:
            continue
        pieces += [text[at:spans[first][0]], "[", text[spans[first][0]:spans[last][1]], "]"]
        at = spans[last][1]
    pieces.append(text[at:spans[end - 1][1]] + "…" if end < len(spans) else text[at:])
    return "".join(pieces)
