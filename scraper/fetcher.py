"""URL -> Page: one httpx client, timeouts, caps, redirects checked hop by hop, retries on what may pass.

Redirects are followed here rather than by httpx so that every hop can be checked (loops,
private addresses under block_private) and can wait its turn at the host (politeness).
Bodies are read raw and decompressed by scraper.decompress, which stops at the size cap
however well the body compresses.
"""

from __future__ import annotations

import contextlib
import email.utils
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import urljoin, urlsplit

import httpx
from tenacity import RetryCallState, Retrying, stop_after_attempt, stop_after_delay, wait_exponential_jitter

from scraper import __version__
from scraper.addresses import PrivateAddress, PublicOnlyTransport, refuse_private, resolve
from scraper.decompress import DecodeError, OverLimit, decode_body
from scraper.encoding import decode_html, is_binary
from scraper.errors import (
    BadContent,
    BlockedAddress,
    ConnectionFailed,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    InvalidURL,
    NotHTML,
    TooLarge,
    TooManyRedirects,
)
from scraper.models import Page, utc_now
from scraper.urls import control_character, shorten, url_problem

HTML_TYPES = ("text/html", "application/xhtml+xml")
ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class FetchSettings:
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    """Seconds to wait for each piece of a response."""
    deadline: float = 60.0
    """Seconds one URL may take in all, retries and waits included. A body still arriving
    is cut off at the first piece after the deadline (so within one read timeout)."""
    retries: int = 2
    """Further attempts after the first, for timeouts, connection errors, 408, 429 and 5xx."""
    backoff: float = 1.0
    """First wait between attempts; it doubles, with jitter, up to max_backoff."""
    max_backoff: float = 30.0
    max_retry_after: float = 120.0
    """Longest Retry-After honoured; a server asking for a longer wait is given up on."""
    max_bytes: int = 10 * 1024 * 1024
    """Largest body accepted, counted after decompression."""
    max_redirects: int = 10
    user_agent: str = f"scraper/{__version__} (article archiver; python-httpx)"
    block_private: bool = False
    """Refuse loopback, private and link-local addresses, on every redirect hop (for services).
    A client from make_client connects to the very address it checked (no DNS rebinding), and
    directly: never through a proxy named in the environment. A client of the caller's own gets
    only the check of each hop's name before its request."""
    headers: tuple[tuple[str, str], ...] = ()
    """Further request headers sent with every request (a User-Agent here replaces user_agent)."""


@dataclass(frozen=True)
class Validators:
    """What a server said identifies the version we hold: sent back for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


def make_client(settings: FetchSettings | None = None) -> httpx.Client:
    """One client for a whole run: connection pooling across URLs. Thread-safe."""
    settings = settings or FetchSettings()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    return httpx.Client(
        follow_redirects=False,  # fetch() follows them, checking each hop
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
        headers={"User-Agent": settings.user_agent, "Accept": ACCEPT,
                 "Accept-Encoding": "gzip, deflate, br, zstd", **dict(settings.headers)},
        limits=limits,
        transport=PublicOnlyTransport(limits) if settings.block_private else None,
        event_hooks={"response": [_refuse_bad_location]},
    )


def fetch(
    url: str,
    *,
    client: httpx.Client | None = None,
    settings: FetchSettings | None = None,
    validators: Validators | None = None,
    before_request: Callable[[str], None] | None = None,
    html_only: bool = True,
) -> Page:
    """Fetch one web page, retrying what may pass, within the settings' deadline.

    With validators, the request is conditional: an unchanged page comes back as a Page
    with status 304 and no content. before_request(url) is called before every request,
    redirect hops and retries included (a run uses it to space requests to a host).
    html_only=False accepts any content type and leaves Page.html empty (feeds, robots.txt).

    Raises a FetchError subclass saying why the page could not be had.
    """
    settings = settings or FetchSettings()
    problem = url_problem(url)
    if problem:
        raise InvalidURL(url, problem)
    own_client = client is None
    http = client or make_client(settings)
    started = time.monotonic()

    def remaining() -> float:
        return settings.deadline - (time.monotonic() - started)

    backoff = wait_exponential_jitter(multiplier=settings.backoff, max=settings.max_backoff, jitter=settings.backoff)

    def failure(state: RetryCallState) -> tuple[BaseException | None, float | None]:
        """The attempt's error, and the wait its server asked for (Retry-After), if any."""
        error = state.outcome.exception() if state.outcome else None
        return error, getattr(error, "retry_after", None)

    def should_retry(state: RetryCallState) -> bool:
        error, asked = failure(state)
        if not (isinstance(error, FetchError) and error.retryable):
            return False
        return asked is None or asked <= min(settings.max_retry_after, remaining())

    def wait(state: RetryCallState) -> float:
        _, asked = failure(state)
        if asked is not None:
            return float(asked)  # should_retry made sure it fits the deadline
        # Never sleep past the deadline: the last attempt must still have time to run.
        return max(0.0, min(backoff(state), remaining() - settings.connect_timeout))

    retrying = Retrying(
        stop=stop_after_attempt(settings.retries + 1) | stop_after_delay(settings.deadline),
        wait=wait,
        retry=should_retry,
        reraise=True,
    )
    request = _Request(url, http, settings, validators, before_request, html_only, remaining)
    try:
        return retrying(request.attempt)
    finally:
        if own_client:
            http.close()


@dataclass(frozen=True)
class _Request:
    url: str
    http: httpx.Client
    settings: FetchSettings
    validators: Validators | None
    before_request: Callable[[str], None] | None
    html_only: bool
    remaining: Callable[[], float]

    def attempt(self) -> Page:
        """One try: the request and its redirect hops."""
        url, settings = self.url, self.settings
        hops = [url]
        while True:
            current = hops[-1]
            if settings.block_private:
                _refuse_private(url, current)
            if self.before_request is not None:
                self.before_request(current)
            try:
                location = self._get(current)
            except PrivateAddress as exc:  # found by the client's transport as it connected (before TransportError)
                raise BlockedAddress(url, str(exc)) from None
            except _BadLocation as exc:
                raise InvalidURL(url, str(exc)) from None
            except httpx.TimeoutException as exc:
                raise FetchTimeout(url, f"timed out ({type(exc).__name__})") from exc
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise FetchError(url, f"invalid URL: {exc}") from exc
            except httpx.TransportError as exc:
                failure = ConnectionFailed(url, f"{type(exc).__name__}: {exc}")
                if isinstance(exc.__context__, ssl.SSLError) or "CERTIFICATE" in str(exc):
                    failure.retryable = False  # a TLS failure will not mend by retrying
                raise failure from exc
            if isinstance(location, Page):
                return location
            if location in hops:
                loop = [*hops[hops.index(location):], location]
                raise TooManyRedirects(url, "redirect loop: " + " -> ".join(shorten(hop, 100) for hop in loop))
            if len(hops) > settings.max_redirects:
                raise TooManyRedirects(url, f"more than {settings.max_redirects} redirects")
            hops.append(location)

    def _get(self, current: str) -> Page | str:
        """The page at current, or where it redirects to."""
        url, settings = self.url, self.settings
        left = self.remaining()
        if left <= 0:
            raise FetchTimeout(url, f"deadline of {settings.deadline:g}s passed")
        timeout = httpx.Timeout(min(settings.read_timeout, left), connect=min(settings.connect_timeout, left))
        conditional = self.validators.headers() if self.validators else {}
        fetched_at = utc_now()
        with self.http.stream("GET", current, headers=conditional, timeout=timeout) as response:
            status = response.status_code
            if status in _REDIRECTS and response.headers.get("location"):
                return _redirect_target(current, response.headers["location"])
            headers = dict(response.headers)

            def page(content: bytes, html: str = "", encoding: str = "") -> Page:
                return Page(url=url, final_url=current, content=content, html=html, status=status,
                            headers=headers, encoding=encoding, fetched_at=fetched_at)

            if status == 304:
                return page(b"")
            if status >= 400:
                raise HTTPStatusError(url, status, retry_after=parse_retry_after(response.headers.get("retry-after")))
            content_type = response.headers.get("content-type", "")
            mime = content_type.split(";")[0].strip().lower()
            if self.html_only and mime and mime not in HTML_TYPES:
                raise NotHTML(url, f"content type {mime}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > settings.max_bytes:
                raise TooLarge(url, f"{int(declared)} bytes declared, cap is {settings.max_bytes}")
            content = self._read(response)
        if not self.html_only:
            return page(content)
        if is_binary(content):
            raise NotHTML(url, "binary content" + (f" served as {mime}" if mime else ""))
        html, encoding = decode_html(content, content_type)
        return page(content, html, encoding)

    def _read(self, response: httpx.Response) -> bytes:
        url, settings = self.url, self.settings
        body = bytearray()
        try:
            for piece in decode_body(response.iter_raw(), response.headers.get("content-encoding"), settings.max_bytes):
                body += piece
                if self.remaining() <= 0:
                    raise FetchTimeout(url, f"deadline of {settings.deadline:g}s passed while reading")
        except OverLimit:
            raise TooLarge(url, f"body over the cap of {settings.max_bytes} bytes (after decompression)") from None
        except DecodeError as exc:
            raise BadContent(url, str(exc)) from None
        except httpx.RemoteProtocolError as exc:  # broken chunked encoding, connection closed mid-body
            raise BadContent(url, f"broken response body: {exc}") from exc
        return bytes(body)


class _BadLocation(httpx.RemoteProtocolError):
    """A redirect to what is no URL to fetch: the error httpx itself gives a bad Location, for
    whoever uses a client from make_client directly; an InvalidURL from the fetcher."""


def _redirect_target(current: str, location: str) -> str:
    """The absolute URL a redirect from current to location goes to; _BadLocation if it is none to fetch."""
    location = location.strip()
    problem = control_character(location)  # looked for before urljoin, which drops TAB, CR and LF unseen
    if problem is None:
        with contextlib.suppress(ValueError):  # a malformed IPv6 host: url_problem names it
            location = urljoin(current, location)
        problem = url_problem(location)
    if problem:
        raise _BadLocation(f"redirected to {shorten(location)}: {problem}")
    return location


def _refuse_bad_location(response: httpx.Response) -> None:
    """A response hook: httpx parses a redirect's Location even when it does not follow it, and
    would turn a bad one into a protocol error; this names what is wrong with it first."""
    if response.has_redirect_location:
        _redirect_target(str(response.request.url), response.headers["location"])


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - utc_now()).total_seconds())


def _refuse_private(url: str, target: str) -> None:
    """Raise BlockedAddress unless every address target's host resolves to is public.

    A check before the request, and before its wait for a turn at the host, that a client of
    any making gets; a client from make_client checks again the very addresses it connects to.
    """
    parts = urlsplit(target)
    host = parts.hostname or ""
    try:
        addresses = resolve(host, parts.port or 80)
    except (OSError, UnicodeError):
        return  # the request itself will fail with a clear DNS error
    try:
        refuse_private(host, addresses)
    except PrivateAddress as exc:
        raise BlockedAddress(url, str(exc)) from None
