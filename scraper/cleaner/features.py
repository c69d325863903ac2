"""What the block model sees of each block: its text, its markup and its neighbourhood, as
numbers. The same function serves training (bench/train.py) and cleaning.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from scraper.cleaner.blocks import LANDMARKS, Segmentation

TAGS = ("p", "div", "li", "td", "th", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote",
        "dd", "dt", "figcaption", "caption", "span", "section", "article", "header", "footer", "nav",
        "aside", "form", "summary", "address", "body", "main", "figure", "legend", "center")
_TAG_CODE = {tag: i for i, tag in enumerate(TAGS)}
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[.!?。！？]")
PAGE_KINDS = ("article", "product", "forum", "docs", "listing", "service", "other")

BASE_NAMES = (
    "tag", "words", "chars", "link_density", "ends_sentence", "sentences", "commas_per_word",
    "digit_ratio", "upper_ratio", "mean_word_length", "stop_words", "position", "char_position", "depth",
    "repeats", "title_overlap", "description_overlap", "body_overlap", "page_words", "page_blocks",
    "page_link_density", "page_kind", "is_title", "after_title", "from_longest",
    "in_top_element", "top_distance", "own_siblings", "parent_siblings", "grand_siblings",
    *(f"in_{landmark}" for landmark in LANDMARKS),
    *(f"{level}_{name}" for level in ("own", "parent", "grand", "great") for name in
      ("words", "share", "link_density", "blocks", "long_blocks")),
    *(f"{side}_{name}" for side in ("prev", "next") for name in ("words", "link_density", "same_element", "tag")),
)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


_LANGUAGES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "pl": "Polish", "ru": "Russian", "tr": "Turkish", "cs": "Czech", "sv": "Swedish",
    "da": "Danish", "nb": "Norwegian_Bokmal", "no": "Norwegian_Bokmal", "fi": "Finnish", "hu": "Hungarian",
    "ro": "Romanian", "id": "Indonesian", "uk": "Ukrainian", "el": "Greek", "bg": "Bulgarian", "hr": "Croatian",
    "sk": "Slovak", "sl": "Slovenian", "sr": "Serbian", "ca": "Catalan", "vi": "Vietnamese", "ar": "Arabic",
    "fa": "Persian", "he": "Hebrew", "hi": "Hindi", "ko": "Korean", "ms": "Malay", "lt": "Lithuanian",
    "lv": "Latvian", "et": "Estonian",
}


@functools.cache
def stop_words(language: str | None) -> frozenset[str]:
    """jusText's stop words of the page's language (English when it names none we know):
    prose is full of them, menus and labels are not."""
    import justext

    name = _LANGUAGES.get((language or "en").split("-")[0].lower(), "English")
    return frozenset(word.lower() for word in justext.get_stoplist(name))


def base_features(seg: Segmentation, vocabulary: Sequence[str], *, title: str = "", description: str = "",
                  body_text: str = "", page_kind: str = "other", language: str | None = None) -> np.ndarray:
    """One row per block: BASE_NAMES, then for each vocabulary token whether it names the
    block's element or its two nearest ancestors, then whether it names any ancestor."""
    blocks, elements = seg.blocks, seg.elements
    n = len(blocks)
    vocab_index = {token: i for i, token in enumerate(vocabulary)}
    v = len(vocabulary)
    width = len(BASE_NAMES) + 2 * v
    out = np.zeros((n, width), dtype=np.float32)
    if n == 0:
        return out

    words = [_words(b.text) for b in blocks]
    word_counts = [len(w) for w in words]
    chars = [len(b.text) for b in blocks]
    total_chars = sum(chars) or 1
    total_words = sum(word_counts) or 1
    page_links = sum(b.link_chars for b in blocks) / total_chars

    # Text under each element, summed up its ancestor chain.
    element_words = [0] * len(elements)
    element_links = [0] * len(elements)
    element_chars = [0] * len(elements)
    element_blocks = [0] * len(elements)
    element_long = [0] * len(elements)
    for block, count, length in zip(blocks, word_counts, chars, strict=True):
        long_block = count >= 15 and block.link_chars < 0.3 * length
        e = block.element
        while e >= 0:
            element_words[e] += count
            element_chars[e] += length
            element_links[e] += block.link_chars
            element_blocks[e] += 1
            element_long[e] += long_block
            e = elements[e].parent

    # Class and id tokens: near (the element and two ancestors) and anywhere above.
    near_tokens: list[set[int]] = []
    all_tokens: list[set[int]] = []
    for element in elements:
        own = {vocab_index[t] for t in element.tokens if t in vocab_index}
        parent = element.parent
        near_tokens.append(own)
        all_tokens.append(own | all_tokens[parent] if parent >= 0 else own)
    repeats = Counter(b.text for b in blocks)
    # Elements alike (tag and class) under one parent: posts of a thread, cards of a listing.
    alike = Counter((e.parent, e.tag, e.tokens) for e in elements)
    # The element that holds most paragraph-like text directly (readability's top candidate):
    # main content is usually one subtree.
    credit: dict[int, float] = {}
    for block, count, length in zip(blocks, word_counts, chars, strict=True):
        if count >= 10 and block.link_chars < 0.3 * length:
            parent = block.element
            credit[parent] = credit.get(parent, 0.0) + count
            if (grand := elements[parent].parent) >= 0:
                credit[grand] = credit.get(grand, 0.0) + count / 2
    top = max(credit, key=credit.__getitem__) if credit else -1
    top_chain = set()
    e = top
    while e >= 0:
        top_chain.add(e)
        e = elements[e].parent
    longest = max(range(n), key=word_counts.__getitem__)
    title_key = " ".join(_words(title))
    title_index = next((i for i, b in enumerate(blocks) if title_key and " ".join(words[i]) == title_key), -1)
    stops = stop_words(language)
    title_words = set(_words(title))
    description_words = set(_words(description))
    body_words = set(_words(body_text))

    landmark_index = {name: i for i, name in enumerate(LANDMARKS)}
    page_kind_code = PAGE_KINDS.index(page_kind) if page_kind in PAGE_KINDS else len(PAGE_KINDS)
    other_tag = len(TAGS)
    rows: list[list[float]] = []
    hit_rows: list[int] = []
    hit_columns: list[int] = []
    base = len(BASE_NAMES)
    position = 0
    for i, block in enumerate(blocks):
        count, length = word_counts[i], chars[i]
        element = elements[block.element]
        text = block.text
        overlaps = [0.0, 0.0, -1.0 if not body_words else 0.0]
        if count:
            unique = set(words[i])
            overlaps = [len(unique & title_words) / len(unique), len(unique & description_words) / len(unique),
                        len(unique & body_words) / len(unique) if body_words else -1.0]
        e, steps = block.element, 0
        while e >= 0 and e not in top_chain:
            e = elements[e].parent
            steps += 1
        in_top = e == top
        top_distance = steps + (elements[top].depth - elements[e].depth if e >= 0 and top >= 0 else 50)
        row: list[float] = [
            _TAG_CODE.get(block.tag, other_tag), count, length, block.link_chars / length,
            text[-1] in ".!?。！？:;\"”’)", len(_SENTENCE_END.findall(text)), text.count(",") / (count or 1),
            sum(map(str.isdigit, text)) / length, sum(map(str.isupper, text)) / length,
            (sum(map(len, words[i])) / count) if count else 0,
            (sum(w in stops for w in words[i]) / count) if count else 0, i / n, position / total_chars, element.depth,
            repeats[text], *overlaps, math.log1p(total_words), n, page_links, page_kind_code,
            i == title_index, (i - title_index) / n if title_index >= 0 else -2, (i - longest) / n,
            in_top, top_distance,
        ]
        position += length
        e = block.element
        for _level in range(3):
            if e >= 0:
                row.append(alike[(elements[e].parent, elements[e].tag, elements[e].tokens)])
                e = elements[e].parent
            else:
                row.append(0)
        landmarks = [0.0] * len(LANDMARKS)
        for landmark in element.landmarks:
            landmarks[landmark_index[landmark]] = 1
        row.extend(landmarks)
        e = block.element
        for _level in range(4):
            if e >= 0:
                row += (element_words[e], element_words[e] / total_words, element_links[e] / (element_chars[e] or 1),
                        element_blocks[e], element_long[e])
                e = elements[e].parent
            else:
                row += (-1, -1, -1, -1, -1)
        for j in (i - 1, i + 1):
            if 0 <= j < n:
                other = blocks[j]
                row += (word_counts[j], other.link_chars / chars[j], other.element == block.element,
                        _TAG_CODE.get(other.tag, other_tag))
            else:
                row += (-1, -1, -1, -1)
        rows.append(row)
        e = block.element
        near: set[int] = set()
        for _level in range(3):
            if e < 0:
                break
            near |= near_tokens[e]
            e = elements[e].parent
        for t in near:
            hit_rows.append(i)
            hit_columns.append(base + t)
        for t in all_tokens[block.element]:
            hit_rows.append(i)
            hit_columns.append(base + v + t)
    out[:, :base] = np.array(rows, dtype=np.float32)
    out[hit_rows, hit_columns] = 1
    return out
