"""HTML -> Article: prune site chrome with selectolax, extract with trafilatura, tidy lines.

A pure function of its input: no network, no globals that change.
"""

from __future__ import annotations

import re
import unicodedata

import trafilatura
from selectolax.lexbor import LexborHTMLParser, LexborNode

from scraper.encoding import decode_html
from scraper.errors import ExtractionError, NoContent
from scraper.models import Article

MIN_WORDS = 10
"""An extraction shorter than this is not an article body."""

# Elements that never hold article text.
_ALWAYS_DROP = ", ".join((
    "script:not([type='application/ld+json'])", "style", "noscript", "template", "iframe",
    "object", "embed", "svg", "canvas", "button", "select", "input", "textarea",
    "[hidden]", "[aria-hidden='true']", "[aria-modal='true']",
))
# Elements that are chrome by kind; a page may still wrap its article in one (an ASP.NET
# <form>), so these go only when they hold a small part of the page's text.
_CHROME_ROLES = ("navigation", "complementary", "contentinfo", "dialog", "alertdialog", "search",
                 "menu", "menubar")
_CHROME_KINDS = ", ".join(
    ("nav", "aside", "footer", "form", "dialog", *(f"[role='{role}']" for role in _CHROME_ROLES))
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)

# Tokens of class and id names that mark a container as chrome ...
_CHROME_TOKENS = frozenset("""
    cookie cookies consent gdpr newsletter subscribe subscription signup paywall
    share sharing sharer social socials sns related recommended recommendations
    comment comments disqus respond breadcrumb breadcrumbs sidebar
    advert adverts advertisement advertising ad ads adslot sponsor sponsored promo
    promotion popup modal menu navbar navigation footer toolbar tagcloud pagination pager
""".split())
# ... unless the same name also says it holds text ("article-comment-body").
_TEXT_TOKENS = frozenset({"body", "text", "content", "copy"})
_TOKEN_SPLIT = re.compile(r"[-_\s]+|(?<=[a-z])(?=[A-Z])")
# Leading words that make a name a switch ("no-share", "has-sidebar"), not a container.
_MODIFIERS = frozenset({"no", "has", "with", "show", "hide", "enable", "disable", "is"})
_NEVER_PRUNE = frozenset({"html", "body", "main", "article"})

# Whole lines that are chrome in any article (compared case- and space-insensitively).
_CHROME_LINES = frozenset(line.strip().casefold() for line in """
    advertisement
    advertisements
    ad
    anzeige
    werbung
    publicité
    publicidad
    pubblicità
    reklama
    реклама
    share
    share this
    share this article
    share this story
    share on facebook
    share on twitter
    tweet
    read more
    read more:
    read more:-
    read the full article here
    continue reading
    leave a reply
    leave a comment
    post a comment
    cancel reply
    related articles
    related posts
    related stories
    you might also like
    you may also like
    recommended
    most read
    most popular
    sign up
    subscribe
    subscribe now
    follow us
    print
    email
    comments
    skip to content
    skip to main content
    back to top
    lesen sie auch
    weiterlesen
    mehr zum thema
    lire aussi
    lire la suite
    leer más
    leggi anche
    czytaj także
    czytaj też
    читайте также
""".strip().splitlines())


# Families of words that sign a newsletter or subscription pitch; a short line that uses
# two different families is a pitch, not article text.
_PITCH_FAMILIES = tuple(re.compile(pattern, re.I) for pattern in (
    r"\b(newsletters?|digest|briefing|bulletin)\b",
    r"\b(e-?mail|inbox)\b",
    r"\b(sign(ing)? ?up|subscribe|subscription|register|join)\b",
    r"\b(free|for free)\b",
    r"\b(updates|alerts)\b",
    r"\b(daily|weekly|every (morning|day|week|evening))\b",
))
_PITCH_MAX_WORDS = 40


def _is_pitch(line: str) -> bool:
    if len(line.split()) > _PITCH_MAX_WORDS:
        return False
    return sum(1 for family in _PITCH_FAMILIES if family.search(line)) >= 2


def _tokens(name: str) -> set[str]:
    return {token.lower() for token in _TOKEN_SPLIT.split(name) if token}


def _is_chrome_name(node: LexborNode) -> bool:
    for attr in ("id", "class"):
        value = node.attributes.get(attr)
        if not value:
            continue
        for name in value.split():
            tokens = _tokens(name)
            if name.split("-")[0].lower() in _MODIFIERS:
                continue
            if tokens & _CHROME_TOKENS and not tokens & _TEXT_TOKENS:
                return True
    return False


def _text_length(node: LexborNode) -> int:
    return len(node.text(deep=True, separator=" ", strip=True))


def _main_block(body: LexborNode) -> set[int]:
    """The element that holds most paragraph text, and its ancestors (by mem_id).

    Chrome names and tags can lie (a "has-sidebar" wrapper, an ASP.NET <form> around the
    page); what contains the main run of paragraphs is never pruned.
    """
    scores: dict[int, tuple[int, LexborNode]] = {}
    for paragraph in body.css("p"):
        parent = paragraph.parent
        length = _text_length(paragraph)
        if parent is None or length < 40:
            continue
        score, _ = scores.get(parent.mem_id, (0, parent))
        scores[parent.mem_id] = (score + length, parent)
    if not scores:
        return set()
    _, node = max(scores.values(), key=lambda item: item[0])
    protected = set()
    current: LexborNode | None = node
    while current is not None:
        protected.add(current.mem_id)
        current = current.parent
    return protected


def prune(tree: LexborHTMLParser) -> None:
    """Remove from the parsed page everything that is site chrome, in place."""
    for node in tree.css(_ALWAYS_DROP):
        node.decompose()
    body = tree.body
    if body is None:
        return
    for node in body.css("[style]"):
        if _HIDDEN_STYLE.search(node.attributes.get("style") or ""):
            node.decompose()
    protected = _main_block(body)
    limit = 0.4 * _text_length(body)

    def removable(node: LexborNode) -> bool:
        return node.mem_id not in protected and _text_length(node) < limit

    for node in body.css(_CHROME_KINDS):
        if removable(node):
            node.decompose()
    for node in body.css("[class], [id]"):
        if node.tag not in _NEVER_PRUNE and _is_chrome_name(node) and removable(node):
            node.decompose()


def _norm(line: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", line).split()).casefold()


def _tidy(text: str) -> str:
    """Drop chrome lines and lines shown twice (captions, teasers); paragraphs by blank lines."""
    kept: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        key = _norm(line)
        if not key or key in _CHROME_LINES or _is_pitch(line):
            continue
        if key in seen and len(key) < 200:
            continue
        seen.add(key)
        kept.append(" ".join(line.split()))
    return "\n\n".join(kept)


def _language(tree: LexborHTMLParser) -> str | None:
    html = tree.css_first("html")
    lang = html.attributes.get("lang") if html is not None else None
    if not lang:
        meta = tree.css_first("meta[http-equiv='content-language' i], meta[property='og:locale']")
        lang = meta.attributes.get("content") if meta is not None else None
    if not lang:
        return None
    return lang.strip().replace("_", "-").split("-")[0].lower() or None


def _meta(tree: LexborHTMLParser, *selectors: str) -> str | None:
    for selector in selectors:
        node = tree.css_first(selector)
        if node is not None:
            value = node.attributes.get("content") or node.attributes.get("href")
            if value and value.strip():
                return value.strip()
    return None


def clean(html: str | bytes, url: str | None = None) -> Article:
    """Turn a web page into its article: text and metadata.

    Raises NoContent when the page holds no article body.
    """
    if isinstance(html, bytes):
        html, _ = decode_html(html)
    tree = LexborHTMLParser(html)
    language = _language(tree)
    canonical = _meta(tree, "link[rel='canonical']", "meta[property='og:url']")
    prune(tree)
    try:
        document = trafilatura.bare_extraction(
            tree.html or "", url=url, include_comments=False, include_tables=True, with_metadata=True
        )
    except Exception as exc:  # trafilatura has no error type of its own
        raise ExtractionError(f"extraction failed: {type(exc).__name__}: {exc}") from exc
    if document is None or isinstance(document, dict) or not document.text:
        raise NoContent("no article text found")
    title = document.title.strip() if document.title else None
    text = _tidy(document.text)
    if len(text.split()) < MIN_WORDS:
        raise NoContent(f"only {len(text.split())} words of article text")
    return Article(
        text=text,
        title=title,
        author=document.author or None,
        published=document.date or None,
        language=language or document.language or None,
        site_name=document.sitename or None,
        description=document.description or None,
        canonical_url=canonical or document.url or None,
        image=document.image or None,
    )
