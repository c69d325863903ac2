"""What a page says about its article: JSON-LD first, then OpenGraph and meta tags, then the page.

Reads the parsed page with selectolax: the head of a page says most of it in a few lines
and reading it is cheap. Where neither the markup nor the URL gives a date, htmldate can search
the page (date_from_page), which costs more: the cleaner calls it only once the page has an
article's text (and with the block model, only on the kinds of page that have a date).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin

from htmldate import find_date
from selectolax.lexbor import LexborHTMLParser, LexborNode

from scraper.models import make_fields_safe, safe_text

_ARTICLE_TYPES = frozenset({
    "article", "newsarticle", "blogposting", "reportagenewsarticle", "analysisnewsarticle",
    "opinionnewsarticle", "reviewnewsarticle", "backgroundnewsarticle", "scholarlyarticle",
    "techarticle", "report", "liveblogposting", "posting", "socialmediaposting", "webpage",
    "medicalwebpage", "aboutpage", "itempage",
})
_BYLINE_PREFIX = re.compile(r"^\s*(by|von|par|por|di|door|av|af|przez|от)\s+", re.I)
_AUTHOR_SPLIT = re.compile(r"\s*(?:,|;|&|\band\b|\bund\b|\bet\b|\by\b|\be\b|\bi\b)\s*", re.I)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Metadata:
    title: str | None = None
    authors: tuple[str, ...] = ()
    published: str | None = None
    modified: str | None = None
    language: str | None = None
    site_name: str | None = None
    description: str | None = None
    canonical_url: str | None = None
    image: str | None = None

    def __post_init__(self) -> None:
        make_fields_safe(self)  # safe before the lead is looked for by the description


_UNREAD = frozenset({"script", "style", "template", "noscript"})


def _read(node: LexborNode) -> str:
    """An element's text as a reader reads it: words apart where the page has them apart, a
    <br> as a space (selectolax's text(strip=True) makes "Helloworld" of "<h1>Hello <em>world</em>")."""
    parts: list[str] = []
    for child in node.traverse(include_text=True):
        if child.tag == "br":
            parts.append(" ")
        elif (value := child.text_content) is not None and (parent := child.parent) is not None \
                and parent.tag not in _UNREAD:
            parts.append(value)
    return " ".join("".join(parts).split())


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("name") or value.get("url") or value.get("@id")
    if not isinstance(value, str):
        return None
    value = _SPACE.sub(" ", safe_text(value)).strip()
    return value or None


def json_ld(tree: LexborHTMLParser) -> list[Any]:
    """The page's JSON-LD scripts, parsed: read once for the metadata and the block model."""
    scripts = []
    for script in tree.css("script[type='application/ld+json']"):
        try:
            scripts.append(json.loads(script.text(deep=True) or "null", strict=False))
        except (ValueError, RecursionError):
            continue  # broken (or absurdly deep) JSON-LD is common; the meta tags still speak
    return scripts


def _json_ld_objects(scripts: list[Any]) -> Iterator[dict[str, Any]]:
    for data in scripts:
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(reversed(item))
            elif isinstance(item, dict):
                yield item
                if "@graph" in item:
                    stack.append(item["@graph"])


def _types(item: dict[str, Any]) -> set[str]:
    kind = item.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.lower() for k in kinds if isinstance(k, str)}


def _article_json_ld(scripts: list[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The most article-like JSON-LD object, and the WebSite/Organization one, if any."""
    best: dict[str, Any] = {}
    site: dict[str, Any] = {}
    for item in _json_ld_objects(scripts):
        kinds = _types(item)
        if kinds & _ARTICLE_TYPES and ("webpage" not in kinds or not best):
            if not best or not (_types(best) - {"webpage"}):
                best = item
        elif kinds & {"website", "organization", "newsmediaorganization"} and not site:
            site = item
    return best, site


def _names(value: Any) -> list[str]:
    """Author names from a JSON-LD author value or a byline string."""
    values = value if isinstance(value, list) else [value]
    names: list[str] = []
    for item in values:
        text = _text(item)
        if not text or text.startswith(("http://", "https://", "@")):
            continue
        text = _BYLINE_PREFIX.sub("", text)
        names.extend(part.strip() for part in _AUTHOR_SPLIT.split(text) if part and part.strip())
    return names


def _unique(names: list[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for name in names:
        if 1 < len(name) <= 80 and len(name.split()) <= 6:
            seen.setdefault(name.casefold(), name)
    return tuple(seen.values())


def normalise_date(value: str | None) -> str | None:
    """ISO 8601: the date alone when no time is given, else the full timestamp."""
    if not value:
        return None
    value = value.strip()
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        match = re.match(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", value)
        if not match:
            return None
        try:
            return date(*map(int, match.groups())).isoformat()
        except ValueError:
            return None
    if len(value) <= 10:
        return moment.date().isoformat()
    return moment.isoformat()


def _first(*values: str | None) -> str | None:
    return next((value for value in values if value), None)


def read_metadata(tree: LexborHTMLParser, url: str | None = None, *, scripts: list[Any] | None = None) -> Metadata:
    """Metadata of the page's article, normalised; what the page does not say is None.
    scripts: json_ld(tree), when the caller has it already."""
    meta: dict[str, str] = {}
    for node in tree.css("meta[content]"):
        attrs = node.attributes  # a new dict at each read: read once
        key = attrs.get("property") or attrs.get("name") or attrs.get("itemprop")
        content = safe_text(attrs.get("content") or "").strip()
        if key and content:
            meta.setdefault(key.strip().lower(), _SPACE.sub(" ", content))
    article, site = _article_json_ld(json_ld(tree) if scripts is None else scripts)

    def link(rel: str) -> str | None:
        node = tree.css_first(f"link[rel='{rel}'][href]")
        return node.attributes.get("href") if node is not None else None

    html = tree.css_first("html")
    language = _first(
        html.attributes.get("lang") if html is not None else None,
        _text(article.get("inLanguage")), meta.get("og:locale"), meta.get("content-language"),
        meta.get("language"), meta.get("dc.language"),
    )
    title_node = tree.css_first("title")
    h1 = tree.css_first("h1")
    site_name = _first(meta.get("og:site_name"), _text(article.get("publisher")), _text(site.get("name")),
                       meta.get("application-name"))
    title = _first(_text(article.get("headline")), meta.get("og:title"), meta.get("twitter:title"),
                   meta.get("dc.title"), meta.get("citation_title"),
                   _read(h1) if h1 is not None else None,
                   _strip_site(_read(title_node) if title_node is not None else None, site_name))
    authors = _unique(
        _names(article.get("author"))
        or _names(meta.get("author")) or _names(meta.get("article:author"))
        or _names(meta.get("dc.creator")) or _names(meta.get("citation_author"))
        or _names(meta.get("parsely-author")) or _names(meta.get("sailthru.author"))
        or _byline(tree)
    )
    published = normalise_date(_first(
        _text(article.get("datePublished")), meta.get("article:published_time"),
        meta.get("og:article:published_time"), meta.get("datepublished"), meta.get("date"),
        meta.get("dc.date"), meta.get("dc.date.issued"), meta.get("citation_publication_date"),
        meta.get("parsely-pub-date"), meta.get("sailthru.date"), meta.get("pubdate"),
        _time_datetime(tree), _text(article.get("dateCreated")),
    ))
    published = published or _date_from_url(url)
    modified = normalise_date(_first(
        _text(article.get("dateModified")), meta.get("article:modified_time"),
        meta.get("og:updated_time"), meta.get("datemodified"), meta.get("dc.date.modified"),
    ))
    image = _first(_text(article.get("image")), meta.get("og:image"), meta.get("twitter:image"))
    canonical = _first(link("canonical"), meta.get("og:url"), _text(article.get("url")))
    return Metadata(
        title=title,
        authors=authors,
        published=published,
        modified=modified,
        language=_language_code(language),
        site_name=site_name,
        description=_first(_text(article.get("description")), meta.get("description"),
                           meta.get("og:description"), meta.get("twitter:description")),
        canonical_url=_absolute(url, canonical),
        image=_absolute(url, image),
    )


def _absolute(base: str | None, target: str | None) -> str | None:
    """target resolved against base; as written when either is malformed (a bad IPv6 host)."""
    if not base or not target:
        return target
    try:
        return urljoin(base, target)
    except ValueError:
        return target


_URL_DATE = re.compile(r"/((?:19|20)\d{2})[/-](\d{1,2})[/-](\d{1,2})(?:/|-|$)")


def _date_from_url(url: str | None) -> str | None:
    """A date in the URL's path (/2023/07/27/...), as news sites often write it."""
    match = _URL_DATE.search(url or "")
    return normalise_date("-".join(f"{int(part):02d}" for part in match.groups())) if match else None


def date_from_page(html: str) -> str | None:
    """htmldate's look at the whole page: a few milliseconds, the most of reading metadata.
    Given the page as it came, not as selectolax writes it again: 0.8 ms less a search on the
    shared sets' pages, and the same date on all but 2 of their 2,487 (where it now finds one)."""
    if html.startswith("http"):
        # htmldate downloads a string that starts with "http" and holds no space, taking it for
        # an address: a page written so would have the cleaner fetch what it names.
        html = "\n" + html
    try:
        found = find_date(html, extensive_search=False, original_date=True)
    except Exception:  # htmldate fails on odd markup; a missing date is no error
        return None
    return str(found) if found else None


def _strip_site(title: str | None, site_name: str | None) -> str | None:
    """'Story - Site' -> 'Story'."""
    if not title:
        return None
    parts = re.split(r"\s+[|\-–—·:»]\s+", title)
    if len(parts) > 1:
        if site_name and parts[-1].casefold() == site_name.casefold():
            return " - ".join(parts[:-1])
        return max(parts, key=len)
    return title


def _byline(tree: LexborHTMLParser) -> list[str]:
    node = tree.css_first("[rel='author'], [itemprop='author'] [itemprop='name'], [itemprop='author'],"
                          " .author-name, .byline__name, .byline .author, .byline")
    return _names(_read(node)) if node is not None else []


def _time_datetime(tree: LexborHTMLParser) -> str | None:
    node = tree.css_first("article time[datetime], time[pubdate][datetime], time[itemprop='datePublished']")
    return node.attributes.get("datetime") if node is not None else None


def _language_code(value: str | None) -> str | None:
    if not value:
        return None
    code = value.strip().replace("_", "-").split("-")[0].lower()
    return code if code.isalpha() and 2 <= len(code) <= 3 else None
