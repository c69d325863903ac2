"""How archived content is shown: escaped, with links only to http(s) addresses.

Everything here treats the archive's titles, texts, URLs and Markdown as hostile: the output
is Markup (safe to put in a page) only after escaping, and no javascript:, data: or other
scheme ever becomes a link or an image that loads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from scraper.models import strip_controls

_LINKABLE = ("http", "https")


def linkable(url: object) -> bool:
    """Whether url may be the target of a link: http(s) only, never javascript:, data:, file:..."""
    if not isinstance(url, str) or strip_controls(url) != url or any(char.isspace() for char in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in _LINKABLE and bool(parts.netloc)


def _markdown() -> MarkdownIt:
    """CommonMark with raw HTML shown as text, links only to http(s) and mailto, and images
    turned into links to them (the page's CSP would block them anyway)."""
    md = MarkdownIt("commonmark", {"html": False})
    md.validateLink = lambda url: linkable(url) or url.lower().startswith("mailto:")  # type: ignore[method-assign]

    def image(renderer: Any, tokens: Any, index: int, options: Any, env: Any) -> str:
        token = tokens[index]
        alt = "".join(child.content for child in token.children or []) or "image"
        src = token.attrGet("src") or ""
        return f'<a class="image" href="{escape(src)}" rel="noopener noreferrer nofollow">[{escape(alt)}]</a>'

    md.add_render_rule("image", image)
    md.add_render_rule("link_open", _link_open)
    return md


def _link_open(renderer: Any, tokens: Any, index: int, options: Any, env: Any) -> str:
    href = tokens[index].attrGet("href") or ""
    return f'<a href="{escape(href)}" rel="noopener noreferrer nofollow">'


_MD = _markdown()


def markdown(text: str | None) -> Markup:
    return Markup(_MD.render(strip_controls(text or "")))


def change_html(changes: Iterable[dict[str, str]]) -> Markup:
    """The runs of a word diff inline: deletions in <del>, insertions in <ins>, escaped."""
    return Markup("").join(_run(change["op"], change["text"]) for change in changes)


def _run(op: str, text: str) -> Markup:
    if op == "insert":
        return Markup("<ins>{}</ins>").format(text)
    if op == "delete":
        return Markup("<del>{}</del>").format(text)
    return escape(text)


def side_by_side(changes: Iterable[dict[str, str]]) -> list[tuple[Markup, Markup]]:
    """The diff as rows of (before, after): a row ends where both sides end a paragraph, so
    unchanged paragraphs face each other and a changed stretch faces what replaced it."""
    rows: list[tuple[Markup, Markup]] = []
    left: list[Markup] = []
    right: list[Markup] = []
    left_text, right_text = "", ""
    for change in changes:
        op = change["op"]
        for piece in change["text"].splitlines(keepends=True):
            if op != "insert":
                left.append(_run(op, piece))
                left_text += piece
            if op != "delete":
                right.append(_run(op, piece))
                right_text += piece
            if (left_text or right_text) and left_text[-1:] in ("", "\n") and right_text[-1:] in ("", "\n"):
                rows.append((Markup("").join(left), Markup("").join(right)))
                left, right, left_text, right_text = [], [], "", ""
    if left or right:
        rows.append((Markup("").join(left), Markup("").join(right)))
    return rows


def first_changes(changes: Iterable[dict[str, str]], lines: int = 3) -> list[tuple[Markup, Markup]]:
    """The first few rows of side_by_side() that hold a change: a diff's gist, for the feed."""
    return [(before, after) for before, after in side_by_side(changes)
            if before != after and (before.strip() or after.strip())][:lines]
