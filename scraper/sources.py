"""Inputs of a cron run -> URLs: list files, RSS/Atom feeds, sitemaps."""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, TypeVar

from scraper.errors import FetchError, SourceError
from scraper.feeds import MAX_SITEMAP_BYTES, newer_than, parse_feed, parse_sitemap
from scraper.politeness import PoliteClient

T = TypeVar("T")


def read_url_list(source: str, on_bad_line: Callable[[SourceError], None] | None = None) -> Iterator[str]:
    """URLs of a list file ("-" for stdin): one a line; blank lines and # comments skipped.

    A line that is not UTF-8 text is passed to on_bad_line as a SourceError naming it
    ("urls.txt line 3: not UTF-8 text") and the rest of the list is read; without
    on_bad_line it is raised. A file that is not text at all (NUL bytes at its start)
    raises SourceError whole.
    """
    if source == "-":
        yield from _urls(sys.stdin.buffer, "stdin", on_bad_line)
        return
    try:
        with Path(source).open("rb") as handle:
            yield from _urls(handle, source, on_bad_line)
    except OSError as exc:
        raise SourceError(f"cannot read URL list {source}: {exc.strerror or exc}") from exc


MAX_LINE = 1 << 20
"""Longest line of a URL list read: a file with no line breaks is not read into memory whole."""


def _urls(lines: BinaryIO, name: str, on_bad_line: Callable[[SourceError], None] | None) -> Iterator[str]:
    number = 0
    while raw := lines.readline(MAX_LINE + 1):
        number += 1
        if number == 1 and b"\0" in raw:
            raise SourceError(f"URL list {name} is binary content, not text")
        problem = None
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            problem = f"longer than {MAX_LINE} bytes"
            while (rest := lines.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                pass  # the rest of the line
        else:
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                problem = "not UTF-8 text"
        if problem is not None:
            error = SourceError(f"{name} line {number}: {problem}")
            if on_bad_line is None:
                raise error
            on_bad_line(error)
            continue
        url = line.strip()
        if url and not url.startswith("#"):
            yield url


def is_local(source: str) -> bool:
    """Whether a --feed or --sitemap names a local file rather than a web address."""
    return source.startswith("file://") or "://" not in source


def local_path(source: str) -> Path:
    """The file a local --feed or --sitemap names: a path, or a file:// URL."""
    return Path(source.removeprefix("file://"))


def unique(urls: Iterable[str], key: Callable[[str], str]) -> Iterator[str]:
    """Each URL once, in first-seen order, two URLs being the same when their keys are."""
    seen: set[str] = set()
    for url in urls:
        if (identity := key(url)) not in seen:
            seen.add(identity)
            yield url


MAX_SITEMAPS = 1000
"""Sitemaps read from one sitemap index tree at most: a guard against loops and sprawl."""


def _read(client: PoliteClient, kind: str, url: str, parse: Callable[[bytes, str], T],
          max_bytes: int | None = None) -> T:
    """Fetch a feed or sitemap (or read it: a local file, named by a path or a file: URL) and
    parse it; any failure is a SourceError naming it."""
    if is_local(url):
        limit = max_bytes or client.settings.max_bytes
        path = local_path(url)
        try:
            with path.open("rb") as handle:
                content = handle.read(limit + 1)
        except OSError as exc:
            raise SourceError(f"{kind} {url}: cannot read it: {exc.strerror or exc}") from exc
        if len(content) > limit:
            raise SourceError(f"{kind} {url}: larger than {limit} bytes")
        try:
            return parse(content, path.resolve().as_uri())
        except SourceError as error:
            raise SourceError(f"{kind} {url}: {error.message}") from error
    try:
        page = client.fetch(url, html_only=False, max_bytes=max_bytes)
        return parse(page.content, page.final_url)
    except (FetchError, SourceError) as error:
        raise SourceError(f"{kind} {url}: {error.message}") from error


def feed_urls(client: PoliteClient, url: str, *, since: datetime | None = None) -> list[str]:
    """Links of an RSS or Atom feed's entries, newest-first as the feed lists them."""
    entries = _read(client, "feed", url, parse_feed)
    return [entry.url for entry in newer_than(entries, since)]


def sitemap_urls(client: PoliteClient, url: str, *, since: datetime | None = None) -> Iterator[str]:
    """Page URLs of a sitemap, following sitemap indexes (each sitemap read once).

    With since, child sitemaps and pages whose lastmod is older are left out; undated ones stay.
    """
    queue, seen = deque([url]), {url}
    while queue:
        current = queue.popleft()
        # A sitemap may be larger than any page (the protocol allows 50 MiB): a run's page cap
        # must not cut it short.
        sitemap = _read(client, "sitemap", current, parse_sitemap,
                        max_bytes=max(client.settings.max_bytes, MAX_SITEMAP_BYTES))
        entries = newer_than(sitemap.entries, since)
        if sitemap.kind == "urlset":
            yield from (entry.url for entry in entries)
            continue
        for entry in entries:
            if entry.url not in seen:
                if len(seen) >= MAX_SITEMAPS:
                    raise SourceError(f"sitemap {url}: more than {MAX_SITEMAPS} sitemaps in its index tree")
                seen.add(entry.url)
                queue.append(entry.url)
