"""What the block model sees of each block: its text, its markup and its neighbourhood, as
numbers. The same function serves training (bench/train.py) and cleaning.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

import numpy as np

from scraper.cleaner.blocks import LANDMARKS, Segmentation
from scraper.cleaner.words import lower_words

TAGS = ("p", "div", "li", "td", "th", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote",
        "dd", "dt", "figcaption", "caption", "span", "section", "article", "header", "footer", "nav",
        "aside", "form", "summary", "address", "body", "main", "figure", "legend", "center")
_TAG_CODE = {tag: i for i, tag in enumerate(TAGS)}
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


_LANDMARK_INDEX = {name: i for i, name in enumerate(LANDMARKS)}


@functools.lru_cache(maxsize=1024)  # a page's elements share a few sets of landmarks
def _landmark_columns(landmarks: frozenset[str]) -> tuple[int, ...]:
    return tuple(_LANDMARK_INDEX[landmark] for landmark in landmarks)


_SENTENCE_ENDS = ".!?。！？"
_FINAL_MARKS = _SENTENCE_ENDS + ":;\"”’)"
"""The last characters of a block that ends as a sentence (or a quote, a label) does."""
_DIGIT, _CAPITAL, _SENTENCE_END, _COMMA, _FINAL_MARK = 1, 2, 4, 8, 16


def _flags(character: str) -> int:
    """What a block's columns count of a character, as bits."""
    return (_DIGIT * character.isdigit() | _CAPITAL * character.isupper()
            | _SENTENCE_END * (character in _SENTENCE_ENDS) | _COMMA * (character == ",")
            | _FINAL_MARK * (character in _FINAL_MARKS))


_ASCII_FLAGS = np.array([_flags(chr(code)) for code in range(128)] + [0], dtype=np.uint8)
"""Each ASCII character's flags; the last entry stands for any other character."""


def _character_columns(texts: list[str], lengths: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per block: whether it ends as a sentence does, its sentence ends, its commas, digits and
    capitals (str.isdigit, str.isupper), read from all blocks' characters at once."""
    codes = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    ends = np.cumsum(lengths)
    flags = _ASCII_FLAGS[np.minimum(codes, 128)]
    wide = np.flatnonzero(codes > 127)
    if len(wide):  # the others, by what Python says of each character the page has
        unique, which = np.unique(codes[wide], return_inverse=True)
        flags[wide] = np.array([_flags(chr(code)) for code in unique.tolist()], dtype=np.uint8)[which]
    # Few characters have a flag: each is counted to the block whose span holds it.
    at = np.flatnonzero(flags)
    block, marks = np.searchsorted(ends, at, side="right"), flags[at]
    sentences, commas, digits, capitals = (np.bincount(block[(marks & flag) != 0], minlength=len(texts))
                                           for flag in (_SENTENCE_END, _COMMA, _DIGIT, _CAPITAL))
    ends_sentence = ((flags[np.maximum(ends - 1, 0)] & _FINAL_MARK) != 0) & (lengths > 0)
    return ends_sentence, sentences, commas, digits, capitals


def _top_columns(holder: np.ndarray, meets: np.ndarray, steps: np.ndarray, depths: np.ndarray,
                 top: int) -> tuple[np.ndarray, np.ndarray]:
    """Whether a block is in the top element, and how far it is from it: the steps up to
    the top's chain of ancestors, then down to the top (50 when the page has no top)."""
    meet = meets[holder]
    up = steps[holder]
    if top < 0:
        return meet == top, up + 50
    return meet == top, up + np.where(meet >= 0, depths[top] - depths[np.maximum(meet, 0)], 50)


@functools.lru_cache(maxsize=4)  # a model's vocabulary, asked for page after page
def _vocabulary_index(vocabulary: tuple[str, ...]) -> dict[str, int]:
    return {token: i for i, token in enumerate(vocabulary)}


def base_features(seg: Segmentation, vocabulary: Sequence[str], *, title: str = "", description: str = "",
                  body_text: str = "", page_kind: str = "other", language: str | None = None,
                  page_type: np.ndarray | None = None) -> np.ndarray:
    """One row per block: BASE_NAMES, then for each vocabulary token whether it names the
    block's element or its two nearest ancestors, then whether it names any ancestor, then
    page_type if given (the same on every row; here, so that a large page's matrix is not
    copied to add it)."""
    blocks, elements = seg.blocks, seg.elements
    n = len(blocks)
    vocab_index = _vocabulary_index(tuple(vocabulary))
    v = len(vocabulary)
    base = len(BASE_NAMES)
    extra = 0 if page_type is None else len(page_type)
    out = np.zeros((n, base + 2 * v + extra), dtype=np.float32)
    if n == 0:
        return out
    if page_type is not None:
        out[:, base + 2 * v:] = page_type

    # Pages repeat their labels, buttons and cards: each distinct text is read once.
    repeats = seg.repeats
    words_of = {text: lower_words(text) for text in repeats}
    words = [words_of[b.text] for b in blocks]
    word_counts = [len(w) for w in words]
    chars = [len(b.text) for b in blocks]
    links = [b.link_chars for b in blocks]
    total_chars = sum(chars) or 1
    total_words = sum(word_counts) or 1
    holder = np.array([block.element for block in blocks])
    counts, lengths, link_chars = (np.array(values, dtype=np.float64) for values in (word_counts, chars, links))

    # The elements depth by depth (a parent is one level above its children), for the passes
    # that carry something up or down the tree a level at a time.
    ne = len(elements)
    parent = [element.parent for element in elements]
    parents = np.array(parent)
    depths = np.array([element.depth for element in elements])
    by_depth = np.argsort(depths, kind="stable")
    level_starts = np.searchsorted(depths[by_depth], np.arange(1, int(depths.max()) + 2))
    levels_down = [by_depth[start:end] for start, end in itertools.pairwise(level_starts)]  # depth 1, 2, ...

    # Text under each element: each block's counts on its own element, then carried up to the
    # parents, deepest level first. Columns: words, chars, link chars, blocks, long blocks.
    long_blocks = (counts >= 15) & (link_chars < 0.3 * lengths)
    per_block = np.column_stack((counts, lengths, link_chars, np.ones(n), long_blocks))
    under = np.zeros((ne, 5))
    np.add.at(under, holder, per_block)
    for level in reversed(levels_down):
        np.add.at(under, parents[level], under[level])
    element_words, element_chars, element_links, element_blocks, element_long = under.T

    # Class and id tokens, as one row of vocabulary columns per element; an element's own
    # tokens, then those of its ancestors too (a parent precedes its children, so depth by
    # depth, each element takes its parent's finished row). Elements repeat their class
    # names: each set of them is looked up once.
    token_sets: dict[frozenset[str], int] = {}
    element_sets = [token_sets.setdefault(element.tokens, len(token_sets)) for element in elements]
    hit_rows: list[int] = []
    hit_columns: list[int] = []
    for tokens, row in token_sets.items():
        hits = [vocab_index[t] for t in tokens if t in vocab_index]
        hit_rows += [row] * len(hits)
        hit_columns += hits
    set_tokens = np.zeros((len(token_sets) + 1, v), dtype=bool)  # and a row of none
    set_tokens[hit_rows, hit_columns] = True
    own_tokens = set_tokens[[*element_sets, len(token_sets)]]  # the last: above the root
    above_tokens = own_tokens.copy()
    for level in levels_down:  # the root has none above
        above_tokens[level] |= above_tokens[parents[level]]
    # How many elements are alike to each: posts of a thread, cards of a listing.
    groups = np.array([e.group for e in elements])
    alike = np.bincount(groups)[groups].astype(np.float64)
    # The element that holds most paragraph-like text directly (readability's top candidate):
    # main content is usually one subtree.
    credit: dict[int, float] = {}
    for block, count, length in zip(blocks, word_counts, chars, strict=True):
        if count >= 10 and block.link_chars < 0.3 * length:
            e = block.element
            credit[e] = credit.get(e, 0.0) + count
            if (grand := parent[e]) >= 0:
                credit[grand] = credit.get(grand, 0.0) + count / 2
    top = max(credit, key=credit.__getitem__) if credit else -1
    on_chain = np.zeros(ne, dtype=bool)
    e = top
    while e >= 0:
        on_chain[e] = True
        e = parent[e]
    # For each element, the nearest of itself and its ancestors on that chain, and the steps
    # up to it (past the root when none is).
    meets = np.where(on_chain, np.arange(ne), -1)
    steps = np.zeros(ne, dtype=np.int64)
    steps[0] = not on_chain[0]
    for level in levels_down:
        off = ~on_chain[level]
        meets[level] = np.where(off, meets[parents[level]], level)
        steps[level] = np.where(off, steps[parents[level]] + 1, 0)
    longest = max(range(n), key=word_counts.__getitem__)
    title_tokens = lower_words(title)
    title_key = " ".join(title_tokens)
    title_index = next((i for i, count in enumerate(word_counts)
                        if count == len(title_tokens) and title_key and " ".join(words[i]) == title_key), -1)
    stops = stop_words(language)
    title_words = set(title_tokens)
    description_words = set(lower_words(description))
    body_words = set(lower_words(body_text))

    # What only the block's own text tells, once for each distinct text.
    tags = [_TAG_CODE.get(block.tag, len(TAGS)) for block in blocks]
    text_rows: dict[str, tuple[float, ...]] = {}
    for text, own_words in words_of.items():
        count = len(own_words)
        overlaps = (0.0, 0.0, -1.0 if not body_words else 0.0)
        if count:
            unique = set(own_words)
            overlaps = (len(unique & title_words) / len(unique), len(unique & description_words) / len(unique),
                        len(unique & body_words) / len(unique) if body_words else -1.0)
        text_rows[text] = (
            (sum(map(len, own_words)) / count) if count else 0,
            (sum(map(stops.__contains__, own_words)) / count) if count else 0, repeats[text], *overlaps,
        )
    text_columns = np.array([text_rows[b.text] for b in blocks], dtype=np.float64)

    # What the block's place tells, for all blocks at once.
    index = np.arange(n)
    ends_sentence, sentences, commas, digits, capitals = _character_columns([b.text for b in blocks],
                                                                            np.array(chars, dtype=np.int64))
    position = np.concatenate(([0.0], np.cumsum(lengths)[:-1]))
    kind = PAGE_KINDS.index(page_kind) if page_kind in PAGE_KINDS else len(PAGE_KINDS)
    columns = [
        np.array(tags), counts, lengths, link_chars / lengths, ends_sentence, sentences,
        commas / np.maximum(counts, 1), digits / lengths, capitals / lengths, *text_columns[:, :2].T, index / n,
        position / total_chars, depths[holder], *text_columns[:, 2:].T, np.full(n, math.log1p(total_words)),
        np.full(n, n), np.full(n, sum(links) / total_chars), np.full(n, kind), index == title_index,
        (index - title_index) / n if title_index >= 0 else np.full(n, -2), (index - longest) / n,
        *_top_columns(holder, meets, steps, depths, top),
    ]
    levels = [holder]  # the block's element, then its ancestors; -1 above the root
    for _level in range(3):
        up = levels[-1]
        levels.append(np.where(up >= 0, parents[np.maximum(up, 0)], -1))

    def at(level: np.ndarray, values: np.ndarray, missing: float) -> np.ndarray:
        return np.where(level >= 0, values[np.maximum(level, 0)], missing)

    columns += [at(level, alike, 0) for level in levels[:3]]
    # The landmarks of each block's element: one row per set of them the page has.
    mark_sets: dict[frozenset[str], int] = {}
    mark_index = [mark_sets.setdefault(elements[block.element].landmarks, len(mark_sets)) for block in blocks]
    marks = np.zeros((len(mark_sets), len(LANDMARKS)))
    for landmarks, row in mark_sets.items():
        marks[row, _landmark_columns(landmarks)] = 1
    columns += list(marks[mark_index].T)
    share = element_words / total_words
    density = element_links / np.where(element_chars == 0, 1, element_chars)
    for level in levels:
        columns += [at(level, element_words, -1), at(level, share, -1), at(level, density, -1),
                    at(level, element_blocks, -1), at(level, element_long, -1)]
    for shift in (-1, 1):
        j = index + shift
        there = (j >= 0) & (j < n)
        k = np.clip(j, 0, n - 1)
        columns += [np.where(there, counts[k], -1), np.where(there, link_chars[k] / lengths[k], -1),
                    np.where(there, holder[k] == holder, -1), np.where(there, np.array(tags)[k], -1)]
    out[:, :base] = np.array(columns, dtype=np.float64).T
    near = own_tokens[holder]
    for level in levels[1:3]:
        near |= own_tokens[level]  # -1, above the root: the last row, which has no tokens
    out[:, base:base + v] = near
    out[:, base + v:base + 2 * v] = above_tokens[holder]
    return out


CONTEXT_SHIFTS = (-3, -2, -1, 1, 2, 3)
CONTEXT_REACH = 50
"""Blocks from which the nearest kept block is far, however far."""
CONTEXT_NAMES = (
    "verdict", *(f"verdict_{shift:+d}" for shift in CONTEXT_SHIFTS),
    *(f"{level}_{name}" for level in ("own", "parent", "grand", "great") for name in ("verdict", "blocks")),
    "alike_verdict", "alike_count", "parent_alike_verdict", "window_verdict", "kept_share", "top_verdict", "rank",
    "blocks_since_kept", "blocks_to_kept", "kept_before", "kept_after", "log_words", "link_density", "tag", "position",
)
"""The context pass's own columns; then the page's type, then the block's BASE_NAMES but the first
(its tag, which is among the own columns)."""
_FIRST = {name: i for i, name in enumerate(BASE_NAMES)}


def context_features(seg: Segmentation, verdicts: np.ndarray, page_type: np.ndarray, first: np.ndarray) -> np.ndarray:
    """One row per block for the block model's second pass: the first pass's verdicts on the
    block, on its neighbours, on the blocks of its containers and of the elements alike to its
    own (a thread's posts, a list's items), and where the kept text lies; then page_type, then
    the block's columns of the first pass (first: its BASE_NAMES columns), so that a verdict is
    weighed beside what it was made from.
    The first pass weighs each block from its own features; this one lets a block follow its
    neighbours (a listicle's items between kept headings, a thread's posts)."""
    blocks, elements = seg.blocks, seg.elements
    n = len(blocks)
    if n == 0:
        return np.zeros((0, len(CONTEXT_NAMES) + len(page_type) + first.shape[1] - 1), dtype=np.float32)
    p = np.asarray(verdicts, dtype=np.float64)
    words = np.array([max(1, b.words) for b in blocks], dtype=np.float64)
    holder = np.array([b.element for b in blocks])
    parents = np.array([e.parent for e in elements])
    ne = len(elements)
    index = np.arange(n)
    reach = max(map(abs, CONTEXT_SHIFTS))
    padded = np.concatenate((np.full(reach, -1.0), p, np.full(reach, -1.0)))  # -1: no block there
    columns = [p, *(padded[reach + shift:reach + shift + n] for shift in CONTEXT_SHIFTS)]

    def weighted(groups: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Each block's group's verdict, weighed by words, and the group's blocks."""
        word_sums = np.bincount(groups, weights=words, minlength=size)
        verdict_sums = np.bincount(groups, weights=words * p, minlength=size)
        return verdict_sums[groups] / word_sums[groups], np.bincount(groups, minlength=size)[groups]

    level = holder
    for _ in range(4):  # the block's element, then its ancestors; those above the root make one group
        columns += weighted(np.where(level >= 0, level, ne), ne + 1)
        level = np.where(level >= 0, parents[np.maximum(level, 0)], -1)
    groups = np.array([e.group for e in elements])  # of elements alike
    size = groups.max() + 1
    columns += weighted(groups[holder], size)
    columns.append(weighted(groups[np.maximum(parents[holder], 0)], size)[0])
    word_ends, verdict_ends = np.concatenate(([0], np.cumsum(words))), np.concatenate(([0], np.cumsum(words * p)))
    low, high = np.clip(index - 5, 0, n), np.clip(index + 6, 0, n)
    columns.append((verdict_ends[high] - verdict_ends[low]) / (word_ends[high] - word_ends[low]))
    kept = p >= 0.5
    kept_ends = np.concatenate(([0], np.cumsum(words * kept)))
    columns += [np.full(n, kept_ends[-1] / word_ends[-1]), np.full(n, p.max()),
                np.argsort(np.argsort(p, kind="stable"), kind="stable") / n]
    kept_at = np.flatnonzero(kept)
    if len(kept_at):
        before = np.searchsorted(kept_at, index, side="left") - 1
        after = np.searchsorted(kept_at, index, side="right")
        since = np.where(before >= 0, index - kept_at[np.maximum(before, 0)], CONTEXT_REACH)
        until = np.where(after < len(kept_at), kept_at[np.minimum(after, len(kept_at) - 1)] - index, CONTEXT_REACH)
    else:
        since = until = np.full(n, CONTEXT_REACH)
    total_kept = max(kept_ends[-1], 1)
    columns += [np.minimum(since, CONTEXT_REACH), np.minimum(until, CONTEXT_REACH), kept_ends[:-1] / total_kept,
                (kept_ends[-1] - kept_ends[1:]) / total_kept, np.log1p(words),
                *(first[:, _FIRST[name]] for name in ("link_density", "tag", "position"))]
    own = first[:, 1:]
    out = np.empty((n, len(columns) + len(page_type) + own.shape[1]), dtype=np.float32)
    out[:, :len(columns)] = np.array(columns, dtype=np.float64).T
    out[:, len(columns):len(columns) + len(page_type)] = page_type
    out[:, len(columns) + len(page_type):] = own
    return out
