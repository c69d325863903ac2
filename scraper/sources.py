"""Inputs of a cron run -> URLs."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TextIO

from scraper.errors import SourceError


def read_url_list(source: str) -> Iterator[str]:
    """URLs of a list file ("-" for stdin): one a line; blank lines and # comments skipped."""
    if source == "-":
        yield from _urls(sys.stdin, "stdin")
        return
    try:
        with Path(source).open(encoding="utf-8-sig") as handle:
            yield from _urls(handle, source)
    except OSError as exc:
        raise SourceError(f"cannot read URL list {source}: {exc.strerror or exc}") from exc


def _urls(lines: TextIO, name: str) -> Iterator[str]:
    try:
        for line in lines:
            url = line.strip()
            if url and not url.startswith("#"):
                yield url
    except UnicodeDecodeError as exc:
        raise SourceError(f"URL list {name} is not UTF-8 text") from exc


def unique(urls: Iterable[str], key: Callable[[str], str]) -> Iterator[str]:
    """Each URL once, in first-seen order, two URLs being the same when their keys are."""
    seen: set[str] = set()
    for url in urls:
        if key(url) not in seen:
            seen.add(key(url))
            yield url
