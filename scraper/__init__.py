"""Fetch web articles, strip the site chrome, keep clean versioned copies."""

__version__ = "0.2.12"

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scraper.errors import (
    ArchiveError,
    BadContent,
    BlockedAddress,
    Claimed,
    CleanMemory,
    CleanTimeout,
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
from scraper.models import Article, Page

if TYPE_CHECKING:
    from scraper.cleaner import clean
    from scraper.fetcher import FetchSettings, fetch, make_client

__all__ = [
    "ArchiveError",
    "Article",
    "BadContent",
    "BlockedAddress",
    "Claimed",
    "CleanMemory",
    "CleanTimeout",
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


_LOADED_ON_FIRST_USE = {"clean": "scraper.cleaner", "fetch": "scraper.fetcher", "make_client": "scraper.fetcher",
                        "FetchSettings": "scraper.fetcher"}
"""Parts whose imports are large (trafilatura ~30 MB, httpx), loaded when first asked for: a
cleaning process needs no httpx, and a run's own process no trafilatura."""


def package_path() -> str:
    """PYTHONPATH for a process of ours (a cleaning process, a local Ray instance's workers):
    this package's folder first, so that it imports this very code, installed or not."""
    return os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")]))


def __getattr__(name: str) -> Any:
    if module := _LOADED_ON_FIRST_USE.get(name):
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'scraper' has no attribute {name!r}")
