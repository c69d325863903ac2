"""A page as a list of blocks: the runs of text a reader sees as one paragraph, heading,
list item, table row or code listing, in reading order, each with where it stands in the page.

The block model decides per block whether it is main content; this module only segments.
A block element's own text (text and inline elements, up to the next block element inside
it) is one block; a block inside it starts another.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field

from selectolax.lexbor import LexborNode

from scraper.cleaner.words import latin1_table, runs

BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
    "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "legend", "li", "main",
    "menu", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "ul",
})
SKIPPED_TAGS = frozenset({
    "script", "style", "template", "svg", "math", "iframe", "object", "embed",
    "canvas", "video", "audio", "select", "option", "button", "input", "textarea", "head",
    "title", "meta", "link", "map", "area", "picture", "source", "track", "dialog",
})
"""Never text a reader reads as part of the page's content."""
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Ancestors a block's features look at, by kind.
LANDMARKS = ("nav", "header", "footer", "aside", "form", "article", "main", "section", "figure",
             "table", "li", "a", "blockquote", "pre", "ul", "ol", "dl", "details", "h", "noscript", "hidden")
ROLE_LANDMARKS = {"navigation": "nav", "banner": "header", "contentinfo": "footer", "complementary": "aside",
                  "main": "main", "article": "article", "form": "form", "search": "form", "menu": "nav",
                  "menubar": "nav", "dialog": "aside", "alertdialog": "aside", "tablist": "nav"}
MAX_NODES = 200_000
"""Elements read at most: a page past this is cut, not cleaned for minutes."""

_TOKEN = re.compile(r"[a-z0-9]+")
"""A run of a class name's letters and digits; a token is one that is not all digits."""
_TOKEN_BYTES = latin1_table(lambda character: "a" <= character <= "z" or "0" <= character <= "9")
"""_TOKEN by byte (scraper.cleaner.words.runs): [a-z0-9] kept, any other character a space."""
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)


@dataclass(slots=True)
class Element:
    """A block-level element that holds blocks: the containers of the page."""

    tag: str
    parent: int  # index in Segmentation.elements, -1 for the root
    depth: int
    tokens: frozenset[str]  # of its class and id
    landmarks: frozenset[str]  # of itself and its ancestors (LANDMARKS)
    preformatted: bool = False  # a <pre> or inside one: its spacing is the content
    group: int = 0  # shared by the elements alike (tag and class) under one parent: a thread's posts, a list's cards


@dataclass(slots=True)
class Block:
    """One run of text in reading order."""

    element: int  # the block element it belongs to
    tag: str  # that element's tag, or "tr" for a row of inline cells
    pieces: list[str] = field(default_factory=list)
    markdown: list[str] = field(default_factory=list)
    link_chars: int = 0
    text: str = ""
    words: int = 0  # len(text.split()): counted once here, read by the features and the chrome rules
    lines: str = ""  # the text with its line breaks (<br>) as newlines, when it has any; what compose shows


@dataclass(slots=True)
class Segmentation:
    elements: list[Element]
    blocks: list[Block]
    fields: list[int] = field(default_factory=list)  # elements holding a box to type text or an e-mail in
    repeats: Counter[str] = field(init=False, repr=False)
    """How many blocks have each text as segmented: counted once, for the page-type and the block
    features (which read it before the headline rules may trim a block)."""

    def __post_init__(self) -> None:
        self.repeats = Counter(block.text for block in self.blocks)


def class_tokens(attrs: dict[str, str | None]) -> frozenset[str]:
    names, ident = attrs.get("class"), attrs.get("id")
    if ident:
        names = f"{names} {ident}" if names else ident
    return _tokens(names) if names else _NO_TOKENS


_NO_TOKENS: frozenset[str] = frozenset()


@functools.lru_cache(maxsize=8192)  # a site's pages repeat their class names
def _tokens(names: str) -> frozenset[str]:
    lower = names.lower()
    if lower != names:  # camelCase needs a capital; most class names have none
        lower = _CAMEL.sub(" ", names).lower()
    return frozenset(run for run in runs(lower, _TOKEN_BYTES, _TOKEN) if not run.isdigit())


_LANDMARK_NAMES = frozenset(LANDMARKS)


@functools.lru_cache(maxsize=4096)  # a page's elements share a few
def _landmarks(above: frozenset[str], tag: str, role: str | None, hidden: bool) -> frozenset[str]:
    """An element's landmarks: its ancestors' (above), and its own by role or tag."""
    own = ROLE_LANDMARKS.get(role or "") or ("h" if tag in HEADINGS else tag)
    landmarks = above | {own} if own in _LANDMARK_NAMES else above
    return landmarks | {"hidden"} if hidden else landmarks


def _hidden(attrs: dict[str, str | None]) -> bool:
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    style = attrs.get("style")
    return bool(style and _HIDDEN_STYLE.search(style))


def _text_entry(tag: str, node: LexborNode) -> bool:
    """A comment box or an e-mail field: what comment forms and newsletter sign-ups ask for.
    (The attributes are read only for an input: reading them costs more than the test.)"""
    if tag == "textarea":
        return True
    if tag != "input":
        return False
    attrs = node.attributes
    kind = (attrs.get("type") or "text").lower()
    named = " ".join(v for k in ("name", "id", "placeholder") if (v := attrs.get(k))).lower()
    return kind == "email" or (kind == "text" and "mail" in named)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]])")
_EMPHASIS = {"strong": "**", "b": "**", "em": "*", "i": "*", "code": "`", "kbd": "`", "samp": "`", "tt": "`"}


def escape(text: str) -> str:
    # Most text has none of them, and six substring checks are faster than the regex.
    if "\\" in text or "`" in text or "*" in text or "_" in text or "[" in text or "]" in text:
        return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return text


def _inline_markup(attrs: dict[str, str | None], tag: str, in_link: bool, preformatted: bool) -> tuple[str, str]:
    """Markdown around an inline element: links and emphasis; nothing inside code."""
    if preformatted:
        return "", ""
    if tag == "a" and not in_link:
        href = (attrs.get("href") or "").strip()
        if href and not href.lower().startswith(("javascript:", "data:", "#")):
            return "[", f"]({href.replace(' ', '%20').replace(')', '%29')})"
        return "", ""
    mark = _EMPHASIS.get(tag, "")
    return mark, mark


_BREAK = "\u2028"
"""A <br> in a block's pieces: a line separator, whitespace to str.split (the block's text runs on
as if it were a space), told apart from the newlines of the page's source, which are not breaks."""


def _lines(raw: str) -> str:
    """A block's text with its breaks as newlines: spaces collapsed within each line, the lines'
    own ends trimmed, two or more breaks in a row a blank line (a paragraph apart), none at the
    ends; empty when that leaves a single line."""
    text = _BLANK_RUN.sub("\n\n", "\n".join(" ".join(line.split()) for line in raw.split(_BREAK))).strip("\n")
    return text if "\n" in text else ""


_BLANK_RUN = re.compile(r"\n{3,}")


def segment(body: LexborNode) -> Segmentation:
    """The blocks of a page's body, in reading order."""
    elements: list[Element] = [Element("body", -1, 0, frozenset(), frozenset())]
    groups: dict[tuple[int, str, frozenset[str]], int] = {(-1, "body", frozenset()): 0}
    blocks: list[Block] = []
    fields: list[int] = []
    current: list[Block | None] = [None]  # the open block of the innermost block element

    def close_block(block: Block) -> None:
        """Ends the open block (the caller checks there is one); kept if it has text."""
        current[0] = None
        raw = "".join(block.pieces)
        lines = ""
        if elements[block.element].preformatted:
            text = raw.strip("\n")
            words = len(text.split())
        else:
            split = raw.split()  # a <br> is whitespace to it: the model reads the text as one run
            text, words = " ".join(split), len(split)
            if _BREAK in raw:
                lines = _lines(raw)
        if text:
            block.text, block.words, block.lines = text, words, lines
            blocks.append(block)

    # A walk from node to node (first child, next sibling, back up), not recursion: pages nest
    # elements thousands deep. Above: the elements the walk is inside, each with the block
    # element and link state to go back to, and what ends it (see the end of the loop).
    above: list[tuple[LexborNode, int, bool, str | None]] = []
    element, in_link = 0, False
    node = body.first_child
    seen = 0
    while node is not None:
        seen += 1
        inside = False  # whether the node's children are read next
        value = node.text_content  # None unless a text node
        if value is not None:
            if value and not value.isspace():
                if (block := current[0]) is None:
                    block = current[0] = Block(element, elements[element].tag)
                block.pieces.append(value)
                block.markdown.append(escape(value) if not elements[element].preformatted else value)
                if in_link:
                    block.link_chars += len(value.strip())
            elif value and current[0] is not None:
                current[0].pieces.append(value if elements[element].preformatted else " ")
                current[0].markdown.append(" ")
        elif (tag := node.tag) is None or tag[0] == "-":  # a comment, or another node that is no element
            pass
        else:
            if tag in SKIPPED_TAGS:
                if _text_entry(tag, node):
                    fields.append(element)
            elif tag == "br":
                if current[0] is not None:
                    current[0].pieces.append("\n" if elements[element].preformatted else _BREAK)
                    current[0].markdown.append("\n")
            else:
                # Hidden parts are read, not skipped: many pages hide their content until a
                # script shows it (or stream it into a hidden element); the model weighs "hidden".
                attrs = node.attributes
                hidden = bool(attrs) and _hidden(attrs)
                if tag in BLOCK_TAGS or "-" in tag or tag == "noscript" or hidden:
                    if current[0] is not None:
                        close_block(current[0])
                    parent = elements[element]
                    landmarks = _landmarks(parent.landmarks, tag, attrs.get("role"), hidden)
                    tokens = class_tokens(attrs)
                    elements.append(Element(tag, element, parent.depth + 1, tokens, landmarks,
                                            parent.preformatted or tag == "pre",
                                            groups.setdefault((element, tag, tokens), len(groups))))
                    inside, end, inner, inner_link = True, None, len(elements) - 1, False
                else:
                    # Inline: its text joins the open block, marked up for Markdown where it
                    # says something.
                    if (block := current[0]) is None:
                        block = current[0] = Block(element, elements[element].tag)
                    opening, end = _inline_markup(attrs, tag, in_link, elements[element].preformatted)
                    if opening:
                        block.markdown.append(opening)
                    inside, inner, inner_link = True, element, in_link or tag == "a"
        if seen >= MAX_NODES:
            break
        if inside:
            above.append((node, element, in_link, end))
            child = node.first_child
            if child is not None:
                element, in_link, node = inner, inner_link, child
                continue
            following = None  # the node is read: it is finished below, as a parent is
        else:
            following = node.next
        while following is None and above:
            # An element's children are read: a block element's block ends, an inline
            # element's Markdown closes.
            node, element, in_link, end = above.pop()
            if end is None:
                if current[0] is not None:
                    close_block(current[0])
            elif end and current[0] is not None:
                current[0].markdown.append(end)
            following = node.next
        node = following
    if current[0] is not None:
        close_block(current[0])
    return Segmentation(elements, blocks, fields)
