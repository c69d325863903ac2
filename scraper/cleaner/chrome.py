"""What the block model keeps that is chrome all the same, in any site's markup: stock lines
("Advertisement", "Read more: ..."), bylines and datelines, captions ending in a credit, a box
of links under a heading ("More from the city:"), and a heading whose section was dropped
("Related posts" over teasers the model did not keep)."""

from __future__ import annotations

from scraper.cleaner.blocks import HEADINGS, Block
from scraper.cleaner.boilerplate import is_boilerplate, is_dateline, line_key

LINK_BOX_DENSITY = 0.8
"""A block of a link box is at least this much link text."""
LINK_BOX_HEADING_WORDS = 8


def stock_line(text: str, authors: tuple[str, ...] = ()) -> bool:
    return len(text) < 400 and (is_boilerplate(text, line_key(text)) or is_dateline(text, authors))


def _link_only(block: Block) -> bool:
    return block.link_chars >= LINK_BOX_DENSITY * len(block.text)


def _heading(block: Block) -> bool:
    words = len(block.text.split())
    return words <= LINK_BOX_HEADING_WORDS and (block.tag in HEADINGS or block.text.rstrip().endswith(":"))


def drop_chrome(blocks: list[Block], kept: list[int], authors: tuple[str, ...]) -> list[int]:
    """kept without the blocks that are chrome whatever the page."""
    kept = [i for i in kept if not stock_line(blocks[i].text, authors)]
    dropped: set[int] = set()
    for i in kept:
        if not _heading(blocks[i]):
            continue
        # Followed on the page, kept or not, by two or more links and nothing else: related stories.
        run = []
        for j in range(i + 1, len(blocks)):
            if not _link_only(blocks[j]) or _heading(blocks[j]):
                break
            run.append(j)
        if len(run) >= 2:
            dropped.update([i, *run])
    kept = [i for i in kept if i not in dropped]
    # A heading left alone: what followed it is gone, and the next kept block is a heading or
    # there is none.
    alone = {i for position, i in enumerate(kept) if _heading(blocks[i])
             and (position + 1 == len(kept) or _heading(blocks[kept[position + 1]]))
             and (position + 1 == len(kept) or kept[position + 1] != i + 1)}
    return [i for i in kept if i not in alone]
