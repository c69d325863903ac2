"""The kept blocks -> plain text and Markdown. Text: paragraphs (list items, table rows)
separated by blank lines, the cells of a row on one line. Markdown: headings, lists, quotes,
code, tables and links (made absolute), list items and rows line by line."""

from __future__ import annotations

import re

from scraper.cleaner.blocks import Block, Element, Segmentation
from scraper.cleaner.render import absolute, tidy

_BLANK_LINES = re.compile(r"\n\s*\n+")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)")
_EMPTY_MARKS = re.compile(r"(\*\*|\*|`)\s*\1")
_CELLS = frozenset({"td", "th"})
_LINE_TAGS = frozenset({"li", "dt", "dd", "tr", "td", "th"})



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


def compose(seg: Segmentation, kept: list[int], base_url: str | None = None) -> tuple[str, str]:
    """Text and Markdown of the kept blocks, in page order."""
    elements = seg.elements
    text_parts: list[str] = []
    markdown_parts: list[str] = []
    previous_row = -2
    previous_line_group = -2
    for i in kept:
        block = seg.blocks[i]
        element = elements[block.element]
        preformatted = element.preformatted
        text = block.text if preformatted else tidy(block.text).strip()
        markdown = block.text if preformatted else tidy(_markdown_inline(block, base_url)).strip()
        if not text:
            continue
        # Cells of one row share a line.
        row = _ancestor(elements, block.element, frozenset({"tr"})) if block.tag in _CELLS else -1
        if row >= 0 and row == previous_row and text_parts:
            text_parts[-1] += " | " + text
            markdown_parts[-1] = markdown_parts[-1].removesuffix(" |") + f" | {markdown} |"
            continue
        tag = block.tag
        if preformatted:
            fence = "```"
            markdown = f"{fence}\n{block.text}\n{fence}"
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            markdown = "#" * int(tag[1]) + " " + markdown
        elif tag == "li":
            ordered = _ancestor(elements, block.element, frozenset({"ol", "ul", "menu"}))
            marker = "1." if ordered >= 0 and elements[ordered].tag == "ol" else "-"
            markdown = f"{marker} {markdown}"
        elif row >= 0:
            markdown = f"| {markdown} |"
        if "blockquote" in element.landmarks:
            markdown = "\n".join("> " + line for line in markdown.split("\n"))
        # Text is paragraphs apart; in Markdown, list items and rows follow line by line.
        group = _ancestor(elements, block.element, frozenset({"ul", "ol", "dl", "table", "menu"})) \
            if tag in _LINE_TAGS else -1
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
