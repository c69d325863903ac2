"""trafilatura's extracted body tree -> plain text and Markdown."""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree
from trafilatura.xml import xmltotxt


def _pieces(element: etree._Element) -> Iterator[str]:
    """The element's text with a newline for each <lb>, which itertext() would glue."""
    if element.text:
        yield element.text
    for child in element:
        if child.tag == "lb":
            yield "\n"
        else:
            yield from _pieces(child)
        if child.tail:
            yield child.tail


def _lines(element: etree._Element) -> Iterator[str]:
    for line in "".join(_pieces(element)).split("\n"):
        line = " ".join(line.split())
        if line:
            yield line


def to_text(body: etree._Element) -> str:
    """Paragraphs, headings, list items and table rows, separated by blank lines."""
    blocks: list[str] = []
    for child in body:
        if child.tag == "list":
            blocks.extend(" ".join(_lines(item)) for item in child.iter("item"))
        elif child.tag == "table":
            for row in child.iter("row"):
                cells = [" ".join(_lines(cell)) for cell in row.iter("cell")]
                blocks.append(" | ".join(cell for cell in cells if cell))
        else:
            blocks.append("\n".join(_lines(child)))
    return "\n\n".join(block for block in blocks if block)


def to_markdown(body: etree._Element) -> str:
    """Markdown with headings, lists, quotes, emphasis and links kept."""
    return str(xmltotxt(body, include_formatting=True)).strip()
