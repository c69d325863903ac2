"""Fetch web articles, strip the site chrome, keep clean versioned copies."""

__version__ = "0.1.0"

from scraper.cleaner import clean
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
    "Skipped",
    "SourceError",
    "TooLarge",
    "TooManyRedirects",
    "__version__",
    "clean",
    "fetch",
    "make_client",
]
