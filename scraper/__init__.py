"""Fetch web articles, strip the site chrome, keep clean versioned copies."""

__version__ = "0.1.0"

from typing import Any

from scraper.errors import (
    ArchiveError,
    BadContent,
    BlockedAddress,
    Claimed,
    ConnectionFailed,
    Disallowed,
    ExtractionError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    InternalError,
    NoContent,
    NotArchived,
    NotHTML,
    ScraperError,
    SearchError,
    Skipped,
    SourceError,
    TooLarge,
    TooManyRedirects,
)
from scraper.fetcher import FetchSettings, fetch, make_client
from scraper.models import Article, Page

__all__ = [
    "ArchiveError",
    "Article",
    "BadContent",
    "BlockedAddress",
    "Claimed",
    "ConnectionFailed",
    "Disallowed",
    "ExtractionError",
    "FetchError",
    "FetchSettings",
    "FetchTimeout",
    "HTTPStatusError",
    "InternalError",
    "NoContent",
    "NotArchived",
    "NotHTML",
    "Page",
    "ScraperError",
    "SearchError",
    "Skipped",
    "SourceError",
    "TooLarge",
    "TooManyRedirects",
    "__version__",
    "clean",
    "fetch",
    "make_client",
]


def __getattr__(name: str) -> Any:
    # scraper.clean is loaded on first use: importing trafilatura costs a run's own process
    # ~30 MB that it does not need when pages are cleaned in a pool.
    if name == "clean":
        from scraper.cleaner import clean

        return clean
    raise AttributeError(f"module 'scraper' has no attribute {name!r}")
