"""trafilatura's extracted body tree -> plain text and Markdown.

The tree holds blocks (p, head, list/item, quote, code, table/row/cell) with inline
hi (emphasis), ref (links) and lb (line breaks).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from urllib.parse import urljoin

from lxml import etree

_SPACE = re.compile(r"[^\S\n]+")
# Soft hyphens, zero-width spaces and stray BOMs: invisible in a browser, noise in text.
_INVISIBLE = re.compile("[\u00ad\u200b\ufeff]")
_NESTED = ("list", "quote", "table")
_LINES = ("p", "head")
"""Paragraphs and headings inside a cell or an item (trafilatura makes a <p> of text between two
<br>): each a line of its own, not glued to the words around it."""
_UNMARKED = ("lb", *_LINES, *_NESTED)
"""What plain text of a block must handle itself; Markdown also renders links and emphasis."""
_MARKED = (*_UNMARKED, "ref", "hi")
_EMPHASIS = {"#b": "**", "#strong": "**", "#i": "*", "#em": "*", "#t": "`", "#u": ""}


def absolute(base_url: str, target: str) -> str:
    try:
        return urljoin(base_url, target.strip())
    except ValueError:  # a malformed link, such as a bad IPv6 host, stays as written
        return target


def tidy(text: str) -> str:
    """NFC, no invisible characters, runs of spaces as one; newlines kept."""
    text = unicodedata.normalize("NFC", text)
    # Most text is already tidy: every space other than " " and every invisible character is
    # unprintable, and str.isprintable is far quicker than the regexes.
    if text.isprintable() and "  " not in text:
        return text
    return _SPACE.sub(" ", _INVISIBLE.sub("", text))


_Plain = dict[etree._Element, str]
"""The text of the blocks that are the same in text and Markdown, kept from one rendering for
the other (lxml gives one proxy per element while it is referenced, so elements can be keys)."""


def _inline(element: etree._Element, markdown: bool, plain: _Plain) -> str:
    """The text of a block, with <lb> as a newline and, for Markdown, emphasis and links."""
    if (known := plain.get(element)) is not None:
        return known
    # The common case, done by libxml2: a block without breaks, sub-blocks or, for Markdown,
    # links and emphasis is its plain text, the same in both renderings.
    alike = next(element.iter(*_MARKED), None) is None
    if alike or (not markdown and next(element.iter(*_UNMARKED), None) is None):
        text = tidy(etree.tostring(element, method="text", encoding=str, with_tail=False).replace("\n", " ")).strip()
        if alike:
            plain[element] = text
        return text

    def walk(node: etree._Element) -> Iterator[str]:
        if node.text:
            yield node.text.replace("\n", " ")
        for child in node:
            if child.tag == "lb":
                yield "\n"
            elif child.tag in _LINES:
                yield "\n"
                yield from walk(child)
                yield "\n"
            elif markdown and child.tag == "ref" and child.get("target"):
                yield f"[{''.join(walk(child)).strip()}]({child.get('target')})"
            elif markdown and child.tag == "hi" and _EMPHASIS.get(child.get("rend", "")):
                mark = _EMPHASIS[child.get("rend", "")]
                inner = "".join(walk(child)).strip()
                yield f"{mark}{inner}{mark}" if inner else ""
            elif child.tag not in _NESTED:  # nested blocks are rendered after their paragraph
                yield from walk(child)
            if child.tail:
                yield child.tail.replace("\n", " ")

    lines = (line.strip() for line in tidy("".join(walk(element))).split("\n"))
    return "\n".join(line for line in lines if line)


_BLOCK_TAGS = frozenset({"p", "head", "list", "quote", "code", "table", "div", "li", "item"})


def _loose(text: str | None) -> str:
    """Text standing between blocks, as one line."""
    return tidy((text or "").replace("\n", " ")).strip()


def _blocks(container: etree._Element, markdown: bool, plain: _Plain) -> Iterator[str]:
    """Render the blocks of a container; loose text between them is a paragraph of its own."""
    if loose := _loose(container.text):
        yield loose
    for child in container:
        if child.tag == "div":
            yield from _blocks(child, markdown, plain)
        else:
            yield from _render(child, markdown, plain)
        if loose := _loose(child.tail):
            yield loose


def _render(block: etree._Element, markdown: bool, plain: _Plain, depth: int = 0) -> Iterator[str]:
    def text(node: etree._Element) -> str:
        return _inline(node, markdown, plain)

    if block.tag == "head":
        level = block.get("rend", "h2")[-1:]
        heading = text(block).replace("\n", " ")  # one line, whatever its breaks
        if heading:
            yield f"{'#' * int(level if level.isdigit() else 2)} {heading}" if markdown else heading
    elif block.tag == "list":
        ordered = block.get("rend", "") in ("ol", "#ol")
        items = []
        for number, item in enumerate(block.iterchildren("item"), 1):
            line = text(item)
            if line:
                bullet = f"{number}." if ordered else "-"
                items.append(f"{'  ' * depth}{bullet} {line}" if markdown else line)
            items.extend(_nested(item, markdown, plain, depth + 1))
        if markdown:
            if items:
                yield "\n".join(items)
        else:
            yield from items
    elif block.tag == "quote":
        has_blocks = any(child.tag in _BLOCK_TAGS for child in block)
        inner = list(_blocks(block, markdown, plain)) if has_blocks else [text(block)]
        for part in filter(None, inner):
            yield "\n".join(f"> {line}" for line in part.split("\n")) if markdown else part
    elif block.tag == "code":
        code = "".join(block.itertext()).strip("\n")
        if code:
            yield f"```\n{code}\n```" if markdown else code
    elif block.tag == "table":
        # trafilatura writes row/cell, or leaves a page's own tr/td/th when it keeps them raw.
        rows = [[text(cell) for cell in row.iterchildren("cell", "td", "th")] for row in block.iter("row", "tr")]
        rows = [row for row in rows if any(row)]
        if markdown and rows:
            rows = [[cell.replace("\n", "<br>") for cell in row] for row in rows]  # a table row is one line
            width = max(len(row) for row in rows)
            lines = [f"| {' | '.join(row + [''] * (width - len(row)))} |" for row in rows]
            lines.insert(1, "|" + " --- |" * width)
            yield "\n".join(lines)
        else:
            yield from (" | ".join(cell for cell in row if cell) for row in rows)
    elif block.tag != "graphic":
        paragraph = text(block)
        if paragraph:
            yield paragraph
        yield from _nested(block, markdown, plain, depth)


def _nested(block: etree._Element, markdown: bool, plain: _Plain, depth: int) -> Iterator[str]:
    """Lists, quotes and tables inside a paragraph or list item, which _inline leaves out."""
    for nested in block.iter(*_NESTED):
        if nested is block:
            continue
        owner = next(ancestor for ancestor in nested.iterancestors() if ancestor is block or ancestor.tag in _NESTED)
        if owner is block:
            yield from _render(nested, markdown, plain, depth)


def render(body: etree._Element, base_url: str | None = None) -> tuple[str, str]:
    """The body as plain text and as Markdown.

    Text: paragraphs, headings, list items and table rows, separated by blank lines.
    Markdown: headings, lists, quotes, code, links and any emphasis in the tree kept; relative
    links are resolved against base_url, rewriting the tree's link targets.
    """
    plain: _Plain = {}
    text = "\n\n".join(_blocks(body, False, plain))
    if base_url:
        for link in body.iter("ref"):
            if target := link.get("target"):
                link.set("target", absolute(base_url, target))
    return text, "\n\n".join(_blocks(body, True, plain))
