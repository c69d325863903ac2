"""What the block model keeps that is chrome all the same, in any site's markup: stock lines
("Advertisement", "Read more: ..."), bylines and datelines, captions ending in a credit, a box
of links under a heading ("More from the city:"; not on a listing, whose links are the list), a
heading whose section was dropped ("Related posts" over teasers the model did not keep), the
notes around a comment or sign-up form ("Comments are moderated"), the readers' comments after
an article and the reviews after a product, a blog's tagline under its name, a short notice
hidden at the top of the page for a script to show (a paywall's), and the second copy of text
the page shows twice (but on documentation, whose tabs repeat a step)."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from scraper.cleaner.blocks import HEADINGS, Block, Element, Segmentation
from scraper.cleaner.boilerplate import is_boilerplate, is_dateline

LINK_BOX_DENSITY = 0.8
"""A block of a link box is at least this much link text."""
LINK_BOX_HEADING_WORDS = 8
FORM_NOTE_WORDS = 30
"""A block from this many words is prose, not a form's note: a short article may end in a form."""
FORM_BOX_WORDS = 80
"""The most words the box around a form holds, its labels and notes together."""
TAGLINE_WORDS = 15
TAGLINE_REACH = 40
"""Blocks from the top of the page where a site's name and tagline stand."""
HIDDEN_APART_WORDS = 25
"""Shown text from which hidden notices are dropped."""
HIDDEN_NOTICE_WORDS = 200
REPEAT_WORDS = 6
"""Words from which a block repeating an earlier kept one is dropped: a short line ("Yes", a
price, a table's cell) may well be there twice."""
COMMENT_TOKENS = frozenset({"comment", "comments", "commentlist"})
"""Class and id tokens of a comment section (comments-area, commentlist, comment-body, ...)."""
ARTICLE_WORDS_BEFORE_COMMENTS = 500
"""Words an article keeps outside comment sections from which the comments after them go: a
forum thread that the model takes for an article has fewer words of its own than its posts."""
REVIEW_TOKENS = frozenset({"review", "reviews"})
"""Class and id tokens of a product's reviews section (product-reviews, review-list, ...)."""
READERS_SECTIONS = {"article": (COMMENT_TOKENS, ARTICLE_WORDS_BEFORE_COMMENTS), "product": (REVIEW_TOKENS, 0)}
"""By the page's type: the tokens that name what its readers wrote after it, and the words it
keeps outside those sections from which they go."""
# "Comments", "moderated": the words of a notice about a comment form, in many languages.
_COMMENT_NOTICE = re.compile(
    r"comment|kommentar|comentar|comentár|komentar|komentář|kommentti|hozzászól|yorum|reactie|reageer"
    r"|moderat|modérat|moderier|moderiert|moderad|moderowan|freigeschaltet|publicad|pubblicat|veröffentlich"
    r"|комментар|коментар|σχόλι|评论|評論|留言|コメント|댓글|تعليق", re.IGNORECASE)
_MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def stock_line(text: str, authors: tuple[str, ...] = ()) -> bool:
    return len(text) < 400 and (is_boilerplate(text) or is_dateline(text, authors))


def _link_only(block: Block) -> bool:
    return block.link_chars >= LINK_BOX_DENSITY * len(block.text)


def _heading(block: Block) -> bool:
    return block.words <= LINK_BOX_HEADING_WORDS and (block.tag in HEADINGS or block.text.rstrip().endswith(":"))


def _link_boxes(blocks: list[Block], kept: list[int]) -> set[int]:
    """Headings followed on the page, kept or not, by two or more links and nothing else
    (related stories), with their links."""
    dropped: set[int] = set()
    for i in kept:
        if not _heading(blocks[i]):
            continue
        run = []
        for j in range(i + 1, len(blocks)):
            if not _link_only(blocks[j]) or _heading(blocks[j]):
                break
            run.append(j)
        if len(run) >= 2:
            dropped.update([i, *run])
    return dropped


def _form_notes(seg: Segmentation) -> set[int]:
    """The blocks around a comment box or an e-mail field: the box grows from the field's
    element while its container holds a few short lines only (labels, "Join the
    conversation", "Be kind"); beside the box, a short line that speaks of comments or is a
    stock line ("Comments are moderated") goes too."""
    blocks, elements = seg.blocks, seg.elements
    if not seg.fields:
        return set()
    # Words, longest block and blocks (a run: reading order keeps a subtree's blocks together)
    # under each element: each block's on its own element, then carried up to the parents (a
    # parent comes before its children, so one pass from the end).
    words = [0] * len(elements)
    longest = [0] * len(elements)
    first = [len(blocks)] * len(elements)
    last = [-1] * len(elements)
    for i, block in enumerate(blocks):
        e, count = block.element, block.words
        words[e] += count
        longest[e] = max(longest[e], count)
        first[e], last[e] = min(first[e], i), i
    for e in range(len(elements) - 1, 0, -1):
        p = elements[e].parent
        words[p] += words[e]
        longest[p] = max(longest[p], longest[e])
        first[p], last[p] = min(first[p], first[e]), max(last[p], last[e])
    dropped: set[int] = set()
    for box in set(seg.fields):
        while (parent := elements[box].parent) > 0 and words[parent] <= FORM_BOX_WORDS \
                and longest[parent] < FORM_NOTE_WORDS:
            box = parent
        inside = range(first[box], last[box] + 1)
        dropped.update(i for i in inside if blocks[i].words < FORM_NOTE_WORDS)
        # The lines just before and after the box, in elements beside it.
        start = inside.start if inside else _next_block(seg, box)
        end = inside.stop - 1 if inside else start - 1
        for i in (start - 1, end + 1):
            if 0 <= i < len(blocks) and i not in inside and _beside(elements, blocks[i].element, box):
                text = blocks[i].text
                if blocks[i].words < FORM_NOTE_WORDS and (_COMMENT_NOTICE.search(text) or stock_line(text)):
                    dropped.add(i)
    return dropped


def _next_block(seg: Segmentation, element: int) -> int:
    """Where an element without text stands in the page: the index of the first block after it."""
    for i, block in enumerate(seg.blocks):
        if block.element > element:
            return i
    return len(seg.blocks)


def _beside(elements: list[Element], element: int, box: int) -> bool:
    """Whether element is a sibling of box or inside one."""
    parent = elements[box].parent
    while element >= 0 and elements[element].parent != parent:
        element = elements[element].parent
    return element >= 0 and element != box


def _root_link(block: Block, url: str | None) -> bool:
    """A block that is one link to the site's home page: the site's name in its header."""
    if not url or not _link_only(block):
        return False
    hrefs = _MARKDOWN_LINK.findall("".join(block.markdown))
    if len(hrefs) != 1:
        return False
    try:
        target, page = urlsplit(urljoin(url, hrefs[0])), urlsplit(url)
    except ValueError:  # a malformed address, of the page or the link
        return False
    return target.netloc == page.netloc and target.path in ("", "/") and not target.query


def _tagline(blocks: list[Block], kept: list[int], url: str | None, site_name: str | None) -> set[int]:
    """A short line right under the site's name (a link home, or the name itself), before the
    first heading: a blog's tagline."""
    name = (site_name or "").casefold()
    dropped: set[int] = set()
    for i in range(min(len(blocks) - 1, TAGLINE_REACH)):
        if blocks[i].tag in HEADINGS or blocks[i + 1].tag in HEADINGS:
            break
        # The cheap test first: _root_link resolves and splits addresses.
        short = blocks[i + 1].words <= TAGLINE_WORDS and not _link_only(blocks[i + 1])
        if short and (_root_link(blocks[i], url) or (name and blocks[i].text.casefold() == name)):
            dropped.update((i, i + 1))
    return dropped & set(kept)


def _readers_after(seg: Segmentation, kept: list[int], tokens: frozenset[str], words_before: int) -> set[int]:
    """The blocks in sections named by tokens after the page's last block outside them, when it
    keeps words_before words outside them: an article's readers' comments, a product's reviews."""
    blocks, elements = seg.blocks, seg.elements
    known = {0: False}  # element -> in such a section; the root, <body>, names the whole page

    def in_section(e: int) -> bool:
        # Up to the first element known or named by tokens; what was passed on the way is
        # known after, so blocks under one section climb its ancestors once.
        passed = []
        while e not in known and not elements[e].tokens & tokens:
            passed.append(e)
            e = elements[e].parent
        flag = known.setdefault(e, True)
        known.update(dict.fromkeys(passed, flag))
        return flag

    inside = {i for i in kept if in_section(blocks[i].element)}
    outside = [i for i in kept if i not in inside]
    if not inside or not outside or sum(blocks[i].words for i in outside) < words_before:
        return set()
    return {i for i in inside if i > outside[-1]}


def _hidden_apart(seg: Segmentation, kept: list[int]) -> set[int]:
    """Hidden blocks that wait at the top of the page for a script to show them over it (a
    paywall's or a dialog's notice), where shown text is kept. Hidden blocks in the page's
    own boxes stay: tabs, slides and accordions, and pages shown whole by their script."""
    blocks, elements = seg.blocks, seg.elements
    hidden = [i for i in kept if "hidden" in elements[blocks[i].element].landmarks]
    shown_words = sum(blocks[i].words for i in kept) - sum(blocks[i].words for i in hidden)
    if not hidden or shown_words < HIDDEN_APART_WORDS:
        return set()
    boxes: dict[int, list[int]] = {}
    for i in hidden:
        e = blocks[i].element
        while elements[e].parent > 0 and "hidden" in elements[elements[e].parent].landmarks:
            e = elements[e].parent
        if elements[e].parent == 0:  # a hidden box right under <body>
            boxes.setdefault(e, []).append(i)
    # A notice is short, and short beside the text; a longer hidden box is text shown in turn.
    return {i for box in boxes.values()
            if sum(blocks[i].words for i in box) < min(HIDDEN_NOTICE_WORDS, shown_words)
            for i in box}


def drop_chrome(seg: Segmentation, kept: list[int], authors: tuple[str, ...], *, url: str | None = None,
                site_name: str | None = None, page_type: str = "article") -> list[int]:
    """kept without the blocks that are chrome in any site's markup. page_type, what the model
    calls the page (scraper.cleaner.page.PAGE_TYPES), spares what is content on that kind of
    page: a listing's runs of links, documentation's repeated steps, a forum's posts (only an
    article loses the comments after it, and a product the reviews after it)."""
    blocks = seg.blocks
    kept = [i for i in kept if not stock_line(blocks[i].text, authors)]
    if page_type in READERS_SECTIONS:
        readers = _readers_after(seg, kept, *READERS_SECTIONS[page_type])
        kept = [i for i in kept if i not in readers]
    # On a listing, a heading over a run of links is the list itself, not a box of related links.
    link_boxes = _link_boxes(blocks, kept) if page_type != "listing" else set()
    dropped = link_boxes | _form_notes(seg) | _tagline(blocks, kept, url, site_name) | _hidden_apart(seg, kept)
    kept = [i for i in kept if i not in dropped]
    # A heading left alone: what followed it is gone, and the next kept block is a heading or
    # there is none.
    alone = {i for position, i in enumerate(kept) if _heading(blocks[i])
             and (position + 1 == len(kept) or _heading(blocks[kept[position + 1]]))
             and (position + 1 == len(kept) or kept[position + 1] != i + 1)}
    kept = [i for i in kept if i not in alone]
    # Documentation repeats itself on purpose: a step in a tab for each language or platform.
    return kept if page_type == "documentation" else _first_copies(blocks, kept)


def _first_copies(blocks: list[Block], kept: list[int]) -> list[int]:
    """kept without the blocks of REPEAT_WORDS words or more that repeat an earlier kept block
    word for word: a page may show its text twice (a layout for phones beside one for wider
    screens, a copy in a tab or a sticky bar), and a reader reads it once."""
    seen: set[str] = set()
    first = []
    for i in kept:
        text = blocks[i].text
        if blocks[i].words >= REPEAT_WORDS:
            if text in seen:
                continue
            seen.add(text)
        first.append(i)
    return first
