"""What the block model is told about the page as a whole: its title and description, the
body text its JSON-LD carries, and what kind of page its structured data says it is."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from selectolax.lexbor import LexborHTMLParser

from scraper.cleaner.blocks import Segmentation, segment
from scraper.cleaner.metadata import json_ld

# schema.org and OpenGraph types, by the kind of page they declare.
_KINDS = {
    "product": {"product", "productgroup", "offer", "aggregateoffer", "og:product", "product.item"},
    "forum": {"discussionforumposting", "qapage", "question", "answer", "comment", "socialmediaposting"},
    "docs": {"techarticle", "apireference", "howto", "softwaresourcecode", "softwareapplication"},
    "listing": {"itemlist", "collectionpage", "searchresultspage", "offercatalog"},
    "article": {"article", "newsarticle", "blogposting", "reportagenewsarticle", "analysisnewsarticle",
                "opinionnewsarticle", "reviewnewsarticle", "liveblogposting", "scholarlyarticle", "report",
                "review", "recipe", "og:article"},
    "service": {"service", "localbusiness", "organization", "professionalservice", "faqpage", "aboutpage",
                "contactpage", "medicalbusiness", "legalservice", "financialservice", "homeandconstructionbusiness"},
}
_ORDER = ("product", "forum", "docs", "listing", "article", "service")
_BODY_KEYS = ("articleBody", "text", "reviewBody")


@dataclass(slots=True)
class PageInfo:
    """A page as the block model reads it."""

    segmentation: Segmentation
    url: str | None = None
    title: str = ""
    description: str = ""
    body_text: str = ""  # what its JSON-LD gives as the body, if anything
    page_kind: str = "other"  # what its structured data declares
    language: str | None = None


def _json_ld_objects(scripts: list[Any]) -> list[dict[str, Any]]:
    """The objects of the page's JSON-LD, with those its main entity and lists hold."""
    objects: list[dict[str, Any]] = []
    for data in scripts:
        stack = [data]
        while stack and len(objects) < 500:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item[:500])
            elif isinstance(item, dict):
                objects.append(item)
                for key in ("@graph", "mainEntity", "mainEntityOfPage", "itemListElement", "acceptedAnswer"):
                    if isinstance(item.get(key), dict | list):
                        stack.append(item[key])
    return objects


def page_signals(tree: LexborHTMLParser, scripts: list[Any]) -> tuple[str, str]:
    """The page's kind and the body text its structured data (scripts: its JSON-LD, parsed)
    gives, if any."""
    declared: set[str] = set()
    body = ""
    for item in _json_ld_objects(scripts):
        kind = item.get("@type")
        for name in kind if isinstance(kind, list) else [kind]:
            if isinstance(name, str):
                declared.add(name.lower())
        for key in _BODY_KEYS:
            value = item.get(key)
            if isinstance(value, str) and len(value) > len(body):
                body = value
    og = tree.css_first("meta[property='og:type']")
    if og is not None and (content := og.attributes.get("content")):
        declared.add("og:" + content.lower())
    kind = next((k for k in _ORDER if declared & _KINDS[k]), "other")
    return kind, body


def read_page(tree: LexborHTMLParser, url: str | None, *, title: str | None, description: str | None,
              language: str | None, scripts: list[Any] | None = None) -> PageInfo:
    """Segment a parsed page and gather what the model is told about it as a whole.
    scripts: json_ld(tree), when the caller has it already."""
    kind, body = page_signals(tree, json_ld(tree) if scripts is None else scripts)
    root = tree.body if tree.body is not None else tree.root
    seg = segment(root) if root is not None else Segmentation([], [])
    return PageInfo(seg, url, title or "", description or "", body, kind, language)


PAGE_TYPES = ("article", "collection", "documentation", "forum", "listing", "product", "service")
"""The kinds of page the page-type model tells apart (WCXB's)."""
_URL_WORDS = (
    "blog", "news", "article", "articles", "post", "posts", "story", "stories", "product", "products", "shop",
    "store", "item", "p", "dp", "buy", "forum", "forums", "thread", "threads", "t", "topic", "topics",
    "questions", "q", "community", "discussion", "discussions", "r", "comments", "docs", "doc",
    "documentation", "api", "reference", "guide", "guides", "manual", "wiki", "learn", "help", "support",
    "kb", "category", "categories", "collection", "collections", "c", "tag", "tags", "search", "list",
    "services", "service", "solutions", "about", "contact", "pricing", "features", "en", "html", "php",
)
_URL_SPLIT = re.compile(r"[^a-z0-9]+")
_PAGE_TOKENS = ("comment", "comments", "reply", "post", "thread", "message", "user", "author", "product",
                "price", "cart", "sku", "rating", "review", "sidebar", "toc", "docs", "doc", "code", "highlight",
                "card", "grid", "item", "tile", "listing", "results", "pagination", "article", "entry", "content",
                "service", "hero", "section", "cta", "faq", "accordion", "menu", "nav", "breadcrumb", "answer",
                "question", "vote", "badge", "avatar", "quote", "gallery", "swatch", "variant", "filter", "sort")
_PAGE_TOKEN_SET = frozenset(_PAGE_TOKENS)
_PRICE = re.compile(r"[$€£¥₹]\s?\d|\d[\d.,]*\s?(?:€|\$|£|usd|eur|kr|zł)", re.I)
_DATE = re.compile(r"/(19|20)\d\d/|\d{4}-\d\d-\d\d")
PAGE_FEATURE_NAMES = (
    "declared_kind", "url_depth", "url_digits", "url_date", "url_query", "url_length",
    *(f"url_{word}" for word in _URL_WORDS),
    "blocks", "words", "link_share", "long_blocks", "longest", "li_share", "headings", "pre_blocks",
    "td_share", "price_blocks", "repeat_share", "top_share",
    *(f"tokens_{token}" for token in _PAGE_TOKENS),
)


def page_features(seg: Segmentation, url: str | None, kind: str) -> np.ndarray:
    """What kind of page this is, as numbers: its address, structured data and block layout."""
    from scraper.cleaner.features import PAGE_KINDS  # the declared kinds, coded alike

    row = np.zeros(len(PAGE_FEATURE_NAMES), dtype=np.float32)
    try:
        parts = urlsplit(url or "")
    except ValueError:  # a malformed address, such as a bad IPv6 host: read as none
        parts = urlsplit("")
    path = parts.path.lower()
    words = [w for w in _URL_SPLIT.split(path) if w]
    row[0] = PAGE_KINDS.index(kind) if kind in PAGE_KINDS else len(PAGE_KINDS)
    row[1] = path.count("/")
    row[2] = sum(c.isdigit() for c in path)
    row[3] = bool(_DATE.search(path))
    row[4] = bool(parts.query)
    row[5] = len(path)
    present = set(words)
    for i, word in enumerate(_URL_WORDS):
        row[6 + i] = word in present
    column = 6 + len(_URL_WORDS)
    blocks = seg.blocks
    n = len(blocks) or 1
    lengths = [b.words for b in blocks]
    total = sum(lengths) or 1
    row[column] = len(blocks)
    row[column + 1] = total
    row[column + 2] = sum(b.link_chars for b in blocks) / (sum(len(b.text) for b in blocks) or 1)
    row[column + 3] = sum(1 for w in lengths if w >= 15)
    row[column + 4] = max(lengths, default=0)
    tags = Counter(b.tag for b in blocks)
    row[column + 5] = tags["li"] / n
    row[column + 6] = sum(count for tag, count in tags.items() if tag[:1] == "h" and tag[1:].isdigit())
    row[column + 7] = sum(1 for b in blocks if seg.elements[b.element].preformatted)
    row[column + 8] = (tags["td"] + tags["th"]) / n
    row[column + 9] = sum(1 for b in blocks if len(b.text) < 40 and _PRICE.search(b.text))
    row[column + 10] = sum(c for c in seg.repeats.values() if c > 1) / n
    row[column + 11] = max(lengths, default=0) / total
    column += 12
    counts: Counter[str] = Counter()
    for tokens, elements in Counter(element.tokens for element in seg.elements).items():
        for token in tokens & _PAGE_TOKEN_SET:  # elements repeat their class names: each set counted once
            counts[token] += elements
    for i, token in enumerate(_PAGE_TOKENS):
        row[column + i] = counts[token]
    return row
