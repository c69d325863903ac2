"""Pages in plain markup: without the names their markup gives them.

Older pages, and pages whose class names a build tool generates, give the cleaner no names to
go by: plain_markup takes a page's class, id and role attributes away and turns HTML5's
sectioning tags into div. bench.train learns from some pages in both forms, so that the block
model does not lean on names where a page has none; `bench/extract.py --plain` scores both
extractors on the sets' pages so stripped.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

from scraper.encoding import decode_html

NAMES = ("class", "id", "role")
_SECTIONING = re.compile(r"<(/?)(?:nav|header|footer|aside|article|main|section|figure|figcaption)\b", re.IGNORECASE)


def plain_markup(html: bytes | str) -> str:
    """The page without class, id and role attributes, its sectioning tags (nav, header,
    footer, aside, article, main, section, figure, figcaption) made div."""
    tree = LexborHTMLParser(html if isinstance(html, str) else decode_html(html)[0])
    for node in tree.root.traverse() if tree.root is not None else ():
        attributes = node.attributes
        for name in NAMES:
            if name in attributes:
                del node.attrs[name]
    return _SECTIONING.sub(r"<\1div", tree.html or "")
