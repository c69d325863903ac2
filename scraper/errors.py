"""One hierarchy for everything the library can fail with.

    ScraperError
    ├── FetchError                 a URL could not be fetched (has .url and .reason)
    │   ├── HTTPStatusError        the server answered 4xx/5xx (has .status)
    │   ├── FetchTimeout           connect/read timeout or the per-URL deadline
    │   ├── ConnectionFailed       DNS, refused, reset, TLS, protocol errors
    │   ├── TooManyRedirects
    │   ├── TooLarge               body over the size cap
    │   └── NotHTML                content type is not a web page
    ├── ExtractionError            a page could not be turned into an article
    │   └── NoContent              the page has no article body
    ├── ArchiveError               the archive could not be read or written
    │   └── NotArchived            no such page or version in the archive
    ├── SourceError                a URL list could not be read
    └── InternalError              an unexpected failure on one page (a bug to report)

Each error's ``reason`` is a short stable label ("http 404", "timeout", ...) that
runs record and summaries group by.
"""

from __future__ import annotations


class ScraperError(Exception):
    """Base class of every error raised by scraper and archive."""

    reason = "error"


class FetchError(ScraperError):
    reason = "fetch error"
    retryable = False

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.message = message


class HTTPStatusError(FetchError):
    def __init__(self, url: str, status: int) -> None:
        super().__init__(url, f"HTTP {status}")
        self.status = status
        self.reason = f"http {status}"
        # 429 and 5xx are worth another try; other 4xx will not change.
        self.retryable = status == 429 or status >= 500


class FetchTimeout(FetchError):
    reason = "timeout"
    retryable = True


class ConnectionFailed(FetchError):
    reason = "connection"
    retryable = True


class TooManyRedirects(FetchError):
    reason = "redirects"


class TooLarge(FetchError):
    reason = "too large"


class NotHTML(FetchError):
    reason = "not html"


class ExtractionError(ScraperError):
    reason = "extraction"


class NoContent(ExtractionError):
    reason = "no content"


class ArchiveError(ScraperError):
    reason = "archive"


class NotArchived(ArchiveError):
    reason = "not archived"


class SourceError(ScraperError):
    reason = "source"


class InternalError(ScraperError):
    reason = "internal error"
