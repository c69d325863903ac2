"""The kept blocks -> plain text and Markdown. Text: paragraphs (list items, table rows)
separated by blank lines, a line break (<br>) a new line, the cells of a row on one line.
Markdown: headings, lists, quotes, code, tables and links (made absolute), list items and rows
line by line."""

from __future__ import annotations

import re
from collections import Counter

from scraper.cleaner.blocks import HEADINGS, Block, Element, Segmentation
from scraper.cleaner.render import absolute, tidy

_BLANK_LINES = re.compile(r"\n\s*\n+")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)")
_EMPTY_MARKS = re.compile(r"(\*\*|\*|`)\s*\1")
_CELLS = frozenset({"td", "th"})
_LINE_TAGS = frozenset({"li", "dt", "dd", "tr", "td", "th"})
_ROW = frozenset({"tr"})
_ONE_LINE = HEADINGS | _ROW
_TABLE = frozenset({"table"})
_LISTS = frozenset({"ol", "ul", "menu"})
_LINE_GROUPS = _LISTS | {"dl", "table"}
"""What holds items or rows that follow line by line in Markdown."""



def _ancestor(elements: list[Element], index: int, tags: frozenset[str]) -> int:
    while index >= 0 and elements[index].tag not in tags:
        index = elements[index].parent
    return index


def _markdown_inline(block: Block, base_url: str | None) -> str:
    text = "".join(block.markdown)

    def link(match: re.Match[str]) -> str:
        label, target = match.group(1).strip(), match.group(2)
        if not label:
            return ""
        if base_url:
            target = absolute(base_url, target)
        return f"[{label}]({target})"

    # The regexes only where they can match: most blocks hold no link, many no emphasis.
    if "](" in text:
        text = _LINK.sub(link, text)
    return _EMPTY_MARKS.sub("", text) if "*" in text or "`" in text else text


def _shown(block: Block) -> str:
    """A block's text as a reader sees it: its line breaks kept (a forum post's or an older
    page's paragraphs apart by <br>, an address, a verse), unless it is a heading or a row (one
    line) or the headline rules took words from it."""
    if block.lines and block.tag not in _ONE_LINE and " ".join(block.lines.split()) == block.text:
        return block.lines
    return block.text


def _cell_rows(seg: Segmentation, kept: list[int]) -> dict[int, int]:
    """Each kept cell's row, or -1 for the cells of a table that lays the page out rather than
    holds data: a table where no row has two kept cells (an older page's story in one cell, its
    menu in another that goes). Those cells are paragraphs, not a Markdown table of one column."""
    elements = seg.elements
    rows: dict[int, int] = {}  # cell -> its row
    for i in kept:
        block = seg.blocks[i]
        if block.tag in _CELLS and block.element not in rows:
            rows[block.element] = _ancestor(elements, block.element, _ROW)
    cells = Counter(rows.values())
    tables = {row: _ancestor(elements, row, _TABLE) for row in cells}
    data = {tables[row] for row, count in cells.items() if count > 1}
    return {cell: row if tables[row] in data else -1 for cell, row in rows.items()}


def compose(seg: Segmentation, kept: list[int], base_url: str | None = None) -> tuple[str, str]:
    """Text and Markdown of the kept blocks, in page order."""
    elements = seg.elements
    cell_rows = _cell_rows(seg, kept)
    text_parts: list[str] = []
    markdown_parts: list[str] = []
    previous_row = -2
    previous_line_group = -2
    previous_one_line = ""  # the last part as one line, should the next cell join its row
    for i in kept:
        block = seg.blocks[i]
        element = elements[block.element]
        preformatted = element.preformatted
        text = block.text if preformatted else tidy(_shown(block)).strip()
        markdown = block.text if preformatted else tidy(_markdown_inline(block, base_url)).strip()
        if not text:
            continue
        one_line = tidy(block.text).strip() if "\n" in text and not preformatted else text
        # Cells of one row share a line; a layout table's cell is a paragraph and keeps its lines.
        row = cell_rows[block.element] if block.tag in _CELLS else -1
        if row >= 0:
            markdown = markdown.replace("\n", "<br>")  # a Markdown table's row is one line
        if row >= 0 and row == previous_row and text_parts:
            previous_one_line = text_parts[-1] = f"{previous_one_line} | {one_line}"
            markdown_parts[-1] = markdown_parts[-1].removesuffix(" |") + f" | {markdown} |"
            continue
        previous_one_line = one_line
        tag = block.tag
        if preformatted:
            fence = "```"
            markdown = f"{fence}\n{block.text}\n{fence}"
        elif tag in HEADINGS:
            markdown = "#" * int(tag[1]) + " " + markdown.replace("\n", " ")  # a heading is one line
        elif tag == "li":
            ordered = _ancestor(elements, block.element, _LISTS)
            marker = "1." if ordered >= 0 and elements[ordered].tag == "ol" else "-"
            markdown = f"{marker} {markdown}"
        elif row >= 0:
            markdown = f"| {markdown} |"
        if "blockquote" in element.landmarks:
            markdown = "\n".join("> " + line for line in markdown.split("\n"))
        # Text is paragraphs apart; in Markdown, list items and rows follow line by line.
        group = _ancestor(elements, block.element, _LINE_GROUPS) \
            if tag in _LINE_TAGS and (row >= 0 or tag not in _CELLS) else -1
        joiner = "\n" if group >= 0 and group == previous_line_group else "\n\n"
        previous_line_group = group
        previous_row = row
        if text_parts:
            text_parts.append("\n\n")
            markdown_parts.append(joiner)
        text_parts.append(text)
        markdown_parts.append(markdown)
    text = "".join(text_parts)
    markdown = _table_headers("".join(markdown_parts))
    return _BLANK_LINES.sub("\n\n", text).strip(), _BLANK_LINES.sub("\n\n", markdown).strip()


def _table_headers(markdown: str) -> str:
    """A Markdown table needs a rule under its first row."""
    lines = markdown.split("\n")
    out: list[str] = []
    for i, line in enumerate(lines):
        out.append(line)
        starts = line.startswith("| ") and (i == 0 or not lines[i - 1].startswith("| "))
        if starts:
            cells = line.count(" | ") + 1
            out.append("|" + " --- |" * cells)
    return "\n".join(out)
