"""One hierarchy for everything the library can fail with.

    ScraperError
    ├── FetchError                 a URL could not be fetched (has .url and .reason)
    │   ├── HTTPStatusError        the server answered 4xx/5xx (has .status)
    │   ├── FetchTimeout           connect/read timeout or the per-URL deadline
    │   ├── ConnectionFailed       DNS, refused, reset, TLS, protocol errors
    │   ├── TooManyRedirects       over the redirect cap, or a redirect loop
    │   ├── TooLarge               body over the size cap (after decompression)
    │   ├── BadContent             corrupt compression or a broken body
    │   ├── NotHTML                content type is not a web page
    │   ├── BlockedAddress         a private address refused by --block-private
    │   ├── InvalidURL             the URL, or a redirect's target, is not one to fetch
    │   ├── RobotsUnavailable      the site's robots.txt answered 5xx: not now (RFC 9309)
    │   └── Skipped                not fetched, by policy rather than failure
    │       ├── Disallowed         robots.txt forbids it
    │       └── Claimed            another run is fetching it right now
    ├── ExtractionError            a page could not be turned into an article
    │   ├── NoContent              the page has no article body
    │   ├── CleanTimeout           cleaning the page ran past its time limit
    │   └── CleanMemory            cleaning the page ran past its memory bound
    ├── ArchiveError               the archive could not be read or written
    │   └── NotArchived            no such page or version in the archive
    ├── SourceError                a URL list could not be read
    ├── NotifyError                a notification of changes could not be sent
    ├── ConfigError                the config file (scraper.toml) is unreadable or wrong
    └── InternalError              an unexpected failure on one page (a bug to report)

Each error's ``reason`` is a short stable label ("http 404", "timeout", ...) that
runs record and summaries group by.
"""

from __future__ import annotations

from scraper.urls import shorten


class ScraperError(Exception):
    """Base class of every error raised by scraper and archive."""

    reason = "error"

    @property
    def message(self) -> str:
        """What went wrong, without the URL that str() of a FetchError starts with."""
        return str(self)

    def __reduce__(self) -> tuple[object, ...]:
        # Picklable whatever a subclass's __init__ takes: errors cross to other processes (Ray workers).
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls: type[ScraperError], args: tuple[object, ...], state: dict[str, object]) -> ScraperError:
    error = cls.__new__(cls, *args)
    error.__dict__.update(state)
    return error


class FetchError(ScraperError):
    reason = "fetch error"
    retryable = False

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{shorten(url)}: {message}")  # a 100 KB URL is never echoed whole
        self.url = url
        self._message = message

    @property
    def message(self) -> str:
        return self._message


# Statuses that may pass on another try: timeouts, rate limits, overloaded or failing servers.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class HTTPStatusError(FetchError):
    def __init__(self, url: str, status: int, *, retry_after: float | None = None) -> None:
        message = f"HTTP {status}" + (f" (Retry-After {retry_after:g}s)" if retry_after is not None else "")
        super().__init__(url, message)
        self.status = status
        self.reason = f"http {status}"
        self.retryable = status in RETRYABLE_STATUSES
        self.retry_after = retry_after
        """Seconds the server asked us to wait, from its Retry-After header."""


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


class BadContent(FetchError):
    reason = "bad content"


class NotHTML(FetchError):
    reason = "not html"


class BlockedAddress(FetchError):
    reason = "blocked address"


class InvalidURL(FetchError):
    reason = "invalid url"


class RobotsUnavailable(FetchError):
    """robots.txt answered a server error: RFC 9309 says to crawl the site later, and the
    run reports its URLs as failed rather than pass them over in silence."""

    def __init__(self, url: str, status: int, message: str) -> None:
        super().__init__(url, message)
        self.status = status
        self.reason = f"robots.txt {status}"


class Skipped(FetchError):
    """Not fetched on purpose: a run counts these apart from failures."""

    reason = "skipped"


class Disallowed(Skipped):
    reason = "robots.txt"


class Claimed(Skipped):
    reason = "claimed"


class ExtractionError(ScraperError):
    reason = "extraction"


class NoContent(ExtractionError):
    reason = "no content"


class CleanTimeout(ExtractionError):
    reason = "clean timeout"


class CleanMemory(ExtractionError):
    reason = "clean memory"


class ArchiveError(ScraperError):
    reason = "archive"


class NotArchived(ArchiveError):
    reason = "not archived"


class SearchError(ArchiveError):
    reason = "search"


class SourceError(ScraperError):
    reason = "source"


class NotifyError(ScraperError):
    """A notification target that is down, slow or refused the message; `target` is its URL with
    secrets masked."""

    reason = "notify"

    def __init__(self, target: str, message: str) -> None:
        super().__init__(f"{target}: {message}")
        self.target = target
        self._message = message

    @property
    def message(self) -> str:
        return self._message


class OutputUnavailable(ScraperError):
    """An output folder a job cannot have: another job is writing to it, or it cannot be written."""

    reason = "output"


class ConfigError(ScraperError):
    reason = "config"


class InternalError(ScraperError):
    reason = "internal error"
