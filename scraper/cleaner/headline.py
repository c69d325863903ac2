"""The top of the text on the block model's path: the headline is the article's title (its
metadata), not its text; a caption between headline and text is not text; a summary that the
page's description repeats is the text's first paragraph, even where the page sets it as a
picture's caption."""

from __future__ import annotations

import unicodedata

from scraper.cleaner.blocks import HEADINGS, Block, Segmentation, escape
from scraper.cleaner.boilerplate import without_credit

TEXT_WORDS = 15
"""A block from this many words is running text: the top of the text ends there."""
SUMMARY_REACH = 6
"""Blocks before the text where a summary is looked for."""


def _key(text: str) -> str:
    """Letters and digits only, case folded: what two renderings of one sentence share."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def _same(a: str, b: str) -> bool:
    if not a or not b:
        return False
    short, long = sorted((a, b), key=len)
    return short in long and len(short) >= 0.7 * len(long)


def _headline(block: Block, title_key: str) -> bool:
    return block.tag in HEADINGS and _same(_key(block.text), title_key)


def _caption(seg: Segmentation, block: Block) -> bool:
    return block.tag == "figcaption" or "figure" in seg.elements[block.element].landmarks


def tidy_top(seg: Segmentation, kept: list[int], title: str | None, description: str | None) -> list[int]:
    """kept without the headline and the captions over the text, and with the summary."""
    blocks = seg.blocks
    start = next((i for i in kept if blocks[i].words >= TEXT_WORDS
                  and blocks[i].tag not in HEADINGS and not _caption(seg, blocks[i])), None)
    if start is None:
        return kept
    title_key = _key(title or "")
    top = {i for i in kept if i < start and (_headline(blocks[i], title_key) or _caption(seg, blocks[i]))}
    kept = [i for i in kept if i not in top]
    summary = _summary(seg, kept, start, description, title_key)
    return sorted({*kept, summary}) if summary is not None else kept


def _summary(seg: Segmentation, kept: list[int], start: int, description: str | None, title_key: str) -> int | None:
    """The block just before the text that the description repeats, with its picture's credit
    cut off; None when there is none or the text has it already."""
    key = _key(description or "")
    if len(key) < 40 or _same(key, title_key):
        return None
    first = kept[0] if kept else start
    for i in range(max(0, first - SUMMARY_REACH), first):
        block = seg.blocks[i]
        text = without_credit(block.text)
        if _same(_key(text), key):
            if text != block.text:
                block.text = text
                block.markdown = [escape(text)]
            return i
    return None
