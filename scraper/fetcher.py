"""URL -> Page: one httpx client, timeouts, a size cap, retries on what may pass."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from scraper import __version__
from scraper.encoding import decode_html
from scraper.errors import (
    ConnectionFailed,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    NotHTML,
    TooLarge,
    TooManyRedirects,
)
from scraper.models import Page, utc_now

HTML_TYPES = ("text/html", "application/xhtml+xml")
ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"


@dataclass(frozen=True)
class FetchSettings:
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    deadline: float = 60.0
    """Seconds one URL may take in all, retries and waits included."""
    retries: int = 2
    """Further attempts after the first, for timeouts, connection errors, 429 and 5xx."""
    backoff: float = 1.0
    """First wait between attempts; it doubles, with jitter, up to max_backoff."""
    max_backoff: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 10
    user_agent: str = f"scraper/{__version__} (article archiver; python-httpx)"


def make_client(settings: FetchSettings | None = None) -> httpx.Client:
    """One client for a whole run: connection pooling across URLs. Thread-safe."""
    settings = settings or FetchSettings()
    return httpx.Client(
        follow_redirects=True,
        max_redirects=settings.max_redirects,
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
        headers={"User-Agent": settings.user_agent, "Accept": ACCEPT},
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )


def fetch(url: str, *, client: httpx.Client | None = None, settings: FetchSettings | None = None) -> Page:
    """Fetch one web page, retrying what may pass, within the settings' deadline.

    Raises a FetchError subclass saying why the page could not be had.
    """
    settings = settings or FetchSettings()
    own_client = client is None
    http = client or make_client(settings)
    started = time.monotonic()

    def remaining() -> float:
        return settings.deadline - (time.monotonic() - started)

    def wait(retry_state: RetryCallState) -> float:
        # Never sleep past the deadline: the last attempt must still have time to run.
        return max(0.0, min(backoff(retry_state), remaining() - settings.connect_timeout))

    backoff = wait_exponential_jitter(
        multiplier=settings.backoff, max=settings.max_backoff, jitter=settings.backoff
    )
    retrying = Retrying(
        stop=stop_after_attempt(settings.retries + 1) | stop_after_delay(settings.deadline),
        wait=wait,
        retry=retry_if_exception(lambda exc: isinstance(exc, FetchError) and exc.retryable),
        reraise=True,
    )
    try:
        return retrying(_attempt, http, url, settings, remaining)
    finally:
        if own_client:
            http.close()


def _attempt(http: httpx.Client, url: str, settings: FetchSettings, remaining: Callable[[], float]) -> Page:
    left = remaining()
    if left <= 0:
        raise FetchTimeout(url, f"deadline of {settings.deadline:g}s passed")
    timeout = httpx.Timeout(min(settings.read_timeout, left), connect=min(settings.connect_timeout, left))
    fetched_at = utc_now()
    try:
        with http.stream("GET", url, timeout=timeout) as response:
            if response.status_code >= 400:
                raise HTTPStatusError(url, response.status_code)
            content_type = response.headers.get("content-type", "")
            mime = content_type.split(";")[0].strip().lower()
            if mime and mime not in HTML_TYPES:
                raise NotHTML(url, f"content type {mime}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > settings.max_bytes:
                raise TooLarge(url, f"{int(declared)} bytes declared, cap is {settings.max_bytes}")
            body = bytearray()
            # iter_bytes yields decompressed bytes, so the cap also stops compression bombs.
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > settings.max_bytes:
                    raise TooLarge(url, f"body over the cap of {settings.max_bytes} bytes")
                if remaining() <= 0:
                    raise FetchTimeout(url, f"deadline of {settings.deadline:g}s passed while reading")
            content = bytes(body)
            if not mime and b"\0" in content[:1024]:
                raise NotHTML(url, "binary content")
            html, encoding = decode_html(content, content_type)
            return Page(
                url=url,
                final_url=str(response.url),
                content=content,
                html=html,
                status=response.status_code,
                headers=dict(response.headers),
                encoding=encoding,
                fetched_at=fetched_at,
            )
    except httpx.TooManyRedirects as exc:
        raise TooManyRedirects(url, str(exc)) from exc
    except httpx.TimeoutException as exc:
        raise FetchTimeout(url, f"timed out ({type(exc).__name__})") from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise FetchError(url, f"invalid URL: {exc}") from exc
    except httpx.TransportError as exc:
        failure = ConnectionFailed(url, f"{type(exc).__name__}: {exc}")
        if isinstance(exc.__context__, ssl.SSLError) or "CERTIFICATE" in str(exc):
            failure.retryable = False  # a TLS failure will not mend by retrying
        raise failure from exc
