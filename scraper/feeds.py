"""Feeds and sitemaps -> page URLs, with the dates their sources give.

This module owns reading RSS/Atom feeds and sitemaps.org sitemaps (XML, gzipped XML
or plain text) that have already been fetched: pure functions over bytes, no network.
It also owns the date handling around them: W3C/ISO dates in sitemaps, filtering
entries by date, and the ``--since`` values a command line passes in.

Everything that goes wrong with the input is raised as :class:`SourceError` with a
one-line message; parser exceptions never escape.
"""

from __future__ import annotations

import calendar
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urljoin
from xml.sax import SAXParseException

import feedparser
from lxml import etree

from scraper.decompress import GZIP_MAGIC, DecodeError, OverLimit, decode_body
from scraper.errors import SourceError
from scraper.urls import is_web_url

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit for one uncompressed sitemap
_RELATIVE = re.compile(r"(\d+)([dhm])")
_RELATIVE_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
_YEAR_OR_MONTH = re.compile(r"(\d{4})(?:-(\d{2}))?")


@dataclass(frozen=True)
class Entry:
    """One page (or, in a sitemap index, one child sitemap) named by a source."""

    url: str  # absolute http(s) URL
    updated: datetime | None  # aware UTC; None when the source gives no usable date


@dataclass(frozen=True)
class Sitemap:
    """A parsed sitemap: a list of pages, or an index of further sitemaps."""

    kind: Literal["urlset", "sitemapindex"]
    entries: list[Entry]  # pages for a urlset; child sitemaps for an index


def parse_feed(content: bytes, base_url: str) -> list[Entry]:
    """Entries of an RSS 0.9x/2.0, RSS 1.0 (RDF) or Atom feed, in document order.

    Links are resolved against ``base_url`` (the feed's own URL); entries without an
    http(s) link are skipped and a URL named twice is kept once, where first seen.
    An empty but valid feed gives []. Raises SourceError when the bytes are not a feed.
    """
    try:
        # A stream, not bytes: handed bytes, feedparser first tries them as a file name to open.
        parsed = feedparser.parse(io.BytesIO(content), sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # feedparser's internals can fail in many ways; none may escape
        raise SourceError(f"not an RSS or Atom feed: {_one_line(exc)}") from exc
    entries: list[Any] = parsed.get("entries") or []
    # Broken feeds are common and feedparser's loose parser still reads them (bozo set), so
    # only a document with neither a recognised feed root nor any entries is refused.
    if not parsed.get("version") and not entries:
        raise SourceError(f"not an RSS or Atom feed: {_why_not_a_feed(content, parsed)}")
    found = []
    for item in entries:
        url = _web_url(_entry_link(item), base_url)
        if url is not None:
            found.append(Entry(url, _feed_date(item)))
    return _unique(found)


def parse_sitemap(content: bytes, base_url: str) -> Sitemap:
    """A sitemaps.org sitemap: ``<urlset>``, ``<sitemapindex>`` or a plain list of URLs.

    Gzipped content is inflated (up to 50 MiB). Elements are matched by local name, so
    any namespace or none works. ``<loc>`` values are trimmed and resolved against
    ``base_url``; non-http(s) and repeated URLs are dropped. The XML parser neither
    expands entities nor reads external files, so a ``<loc>`` that uses an entity
    reference is skipped rather than guessed at. Raises SourceError for anything else.
    """
    if content[:2] == GZIP_MAGIC:
        content = _gunzip(content)
    if _looks_like_xml(content):
        return _xml_sitemap(content, base_url)
    return Sitemap("urlset", _text_sitemap(content))


def newer_than(entries: Iterable[Entry], since: datetime | None) -> Iterator[Entry]:
    """Entries updated at or after ``since`` (a naive ``since`` is taken as UTC); all of them
    when since is None.

    Entries without a date are kept: a source that gives no date cannot be filtered,
    and dropping its pages would silently lose them.
    """
    if since is None:
        yield from entries
        return
    since = _as_utc(since)
    for entry in entries:
        if entry.updated is None or entry.updated >= since:
            yield entry


def parse_since(value: str) -> datetime:
    """A ``--since`` value as an aware UTC datetime.

    Accepts a date (``2024-03-05``, midnight UTC), an ISO 8601 datetime with or without
    offset (naive means UTC), or a duration back from now: ``7d``, ``12h``, ``30m``.
    Raises ValueError otherwise.
    """
    text = value.strip()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        amount, unit = relative.groups()
        try:
            return datetime.now(UTC) - timedelta(**{_RELATIVE_UNITS[unit]: int(amount)})
        except (OverflowError, ValueError):
            pass  # reaching before year 1, or too many digits for int(): as bad as any malformed value
    else:
        moment = _parse_w3c_datetime(text)
        if moment is not None:
            return moment
    raise ValueError(
        f"invalid --since value {value!r}: expected a date (2024-03-05), an ISO 8601 datetime "
        "(2024-03-05T10:20:30+01:00) or a duration such as 7d, 12h or 30m"
    )


# --- feeds -------------------------------------------------------------------------


def _entry_link(item: Any) -> str | None:
    # Atom entries can carry several links (self, edit, enclosure...); the page is the
    # alternate one, which is also what a link without rel means.
    for link in item.get("links") or []:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return str(link["href"])
    link = item.get("link")
    return str(link) if link else None


def _feed_date(item: Any) -> datetime | None:
    # dict.get, not item.get: FeedParserDict maps updated_parsed to published_parsed with
    # a DeprecationWarning, and published is asked for first anyway.
    for key in ("published_parsed", "updated_parsed"):
        parsed = dict.get(item, key)
        if parsed:
            try:
                # feedparser has already converted the time to UTC.
                return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
            except (ValueError, OverflowError, TypeError):
                continue
    return None


def _why_not_a_feed(content: bytes, parsed: Any) -> str:
    head = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    if not head:
        return "empty document"
    if b"<html" in head:
        return "looks like an HTML page"
    problem = parsed.get("bozo_exception")
    if isinstance(problem, SAXParseException):
        return f"not well-formed XML ({_one_line(problem.getMessage())})"
    if problem is not None:
        return _one_line(problem)
    return "no <rss>, <feed> or <rdf:RDF> root element"


# --- sitemaps ----------------------------------------------------------------------


def _gunzip(content: bytes) -> bytes:
    # Inflated in bounded steps, so a gzip bomb costs at most the cap in memory.
    try:
        return b"".join(decode_body([content], "gzip", MAX_SITEMAP_BYTES))
    except OverLimit:
        raise SourceError("sitemap over 50 MiB uncompressed") from None
    except DecodeError as exc:
        raise SourceError(f"not a sitemap: {exc}") from None


def _looks_like_xml(content: bytes) -> bool:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):  # a UTF-16 BOM: text sitemaps must be UTF-8
        return True
    return content.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def _xml_sitemap(content: bytes, base_url: str) -> Sitemap:
    # No entity expansion, no network, no DTD loading: sitemaps come from untrusted servers
    # (XXE, billion laughs). libxml2 refuses oversized text nodes and deep nesting itself.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True, recover=False
    )
    try:
        root = etree.fromstring(content, parser)
    except etree.LxmlError as exc:
        raise SourceError(f"not a sitemap: not well-formed XML ({_one_line(exc)})") from exc
    except Exception as exc:  # whatever else lxml raises must not escape either
        raise SourceError(f"not a sitemap: {_one_line(exc)}") from exc
    root_name = _local_name(root)
    if root_name == "urlset":
        kind: Literal["urlset", "sitemapindex"] = "urlset"
        item_name = "url"
    elif root_name == "sitemapindex":
        kind = "sitemapindex"
        item_name = "sitemap"
    else:
        raise SourceError(f"not a sitemap: root element is <{root_name}>, expected <urlset> or <sitemapindex>")
    found = []
    for item in _children(root, item_name):
        url = _web_url(_child_text(item, "loc"), base_url)
        if url is not None:
            found.append(Entry(url, _parse_w3c_datetime(_child_text(item, "lastmod") or "")))
    return Sitemap(kind, _unique(found))


def _children(parent: Any, local_name: str) -> Iterator[Any]:
    # Direct children only: extensions nest their own <loc> (image:image/image:loc), which
    # must not be taken for the page's.
    for child in parent:
        if isinstance(child.tag, str) and _local_name(child) == local_name:
            yield child


def _child_text(parent: Any, local_name: str) -> str | None:
    candidates = list(_children(parent, local_name))
    # Prefer the sitemap's own namespace over an extension's element of the same name.
    own = [child for child in candidates if etree.QName(child).namespace == etree.QName(parent).namespace]
    chosen = own or candidates
    if not chosen:
        return None
    element = chosen[0]
    # An unexpanded entity reference leaves the real value unknown: give nothing rather than guess.
    if any(node.tag is etree.Entity for node in element):
        return None
    return "".join(element.itertext()).strip()


def _local_name(element: Any) -> str:
    return str(etree.QName(element).localname)


def _text_sitemap(content: bytes) -> list[Entry]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError("not a sitemap: neither XML nor UTF-8 text") from exc
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise SourceError("not a sitemap: empty document")
    # sitemaps.org text sitemaps hold only full URLs; anything else means this is not one.
    for line in lines:
        if not _is_absolute_web_url(line):
            raise SourceError(f"not a sitemap: line {_shorten(line)!r} is not an http(s) URL")
    return _unique([Entry(line, None) for line in lines])


# --- shared ------------------------------------------------------------------------


def _web_url(link: str | None, base_url: str) -> str | None:
    if not link:
        return None
    try:
        url = urljoin(base_url, link.strip())
    except ValueError:  # e.g. a malformed IPv6 host
        return None
    return url if _is_absolute_web_url(url) else None


def _is_absolute_web_url(text: str) -> bool:
    return not any(char.isspace() for char in text) and is_web_url(text)


def _unique(entries: list[Entry]) -> list[Entry]:
    seen: set[str] = set()
    kept = []
    for entry in entries:
        if entry.url not in seen:
            seen.add(entry.url)
            kept.append(entry)
    return kept


def _parse_w3c_datetime(text: str) -> datetime | None:
    """A W3C datetime (the ISO 8601 profile sitemaps use) as aware UTC, or None.

    Date-only values mean midnight UTC and times without an offset are taken as UTC.
    """
    text = text.strip()
    if not text:
        return None
    try:
        # W3C allows a bare year or year-month, which fromisoformat does not.
        partial = _YEAR_OR_MONTH.fullmatch(text)
        if partial:
            return datetime(int(partial[1]), int(partial[2] or 1), 1, tzinfo=UTC)
        return _as_utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        return None


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _one_line(problem: object) -> str:
    return _shorten(" ".join(str(problem).split()) or type(problem).__name__)


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
