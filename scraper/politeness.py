"""How hard a run may press each site: spacing between requests to a host, and robots.txt.

A run's threads share one PoliteClient: its HostGate spaces the individual requests to a
host (redirect hops, retries and robots.txt included) and its RobotsRules read each site's
robots.txt once. How many of a host's URLs are in flight at once is the scheduler's
business (scraper.run.pipeline), by Politeness.per_host.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from types import TracebackType
from urllib.parse import urlsplit

import httpx
from protego import Protego

from scraper.errors import Disallowed, FetchError, HTTPStatusError, InvalidURL, RobotsUnavailable
from scraper.fetcher import FetchSettings, Validators, fetch, make_client
from scraper.models import Page
from scraper.urls import host_of, shorten, url_problem

ROBOTS_MAX_BYTES = 512 * 1024
"""RFC 9309 asks crawlers to read at least 500 KiB of a robots.txt."""
MAX_CRAWL_DELAY = 60.0
"""A Crawl-delay is honoured up to this many seconds; longer ones would stall a run for hours."""


@dataclass(frozen=True)
class Politeness:
    per_host: int = 2
    """URLs of one host in flight at once."""
    interval: float = 1.0
    """Seconds between the starts of two requests to one host (a robots.txt Crawl-delay may raise it)."""
    robots: bool = True
    """Obey robots.txt."""


class PoliteClient:
    """fetch() for a run: one connection pool, requests spaced per host, robots.txt obeyed."""

    def __init__(self, settings: FetchSettings | None = None, politeness: Politeness | None = None) -> None:
        self.settings = settings or FetchSettings()
        self.politeness = politeness or Politeness()
        self.http = make_client(self.settings)
        self.gate = HostGate(self.politeness.interval)
        self.robots = RobotsRules(self.http, self.settings, self.gate) if self.politeness.robots else None

    def fetch(self, url: str, *, validators: Validators | None = None, html_only: bool = True,
              max_bytes: int | None = None) -> Page:
        """scraper.fetcher.fetch, waiting turns at the host, for what robots.txt allows: the URL
        and every redirect hop (else Disallowed; a robots.txt that cannot be had fails the URL,
        see RobotsRules). max_bytes overrides the settings' cap."""
        settings = self.settings if max_bytes is None else replace(self.settings, max_bytes=max_bytes)
        problem = url_problem(url)
        if problem:  # said of the URL itself, not of a robots.txt made from it
            raise InvalidURL(url, problem)
        if self.robots is not None:
            self.robots.check(url)  # before the fetch's deadline starts: robots.txt may be slow

        def before_request(current: str) -> None:
            if self.robots is not None and current != url:
                self.robots.check(current, redirected_from=url)
            self.gate.wait_turn(current)

        return fetch(url, client=self.http, settings=settings, validators=validators,
                     before_request=before_request, html_only=html_only)

    def close(self) -> None:
        """Close the connections; requests still running fail at once."""
        self.http.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()


class HostGate:
    """Spaces the starts of requests to one host by at least `interval` seconds, counted from
    when the last one really started: a thread that a busy machine wakes late for its turn
    pushes the next turn back with it, so the host never sees two requests closer. Thread-safe."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        self._intervals: dict[str, float] = {}

    def slow_down(self, host: str, seconds: float) -> None:
        """Space this host's requests by at least `seconds` (its robots.txt Crawl-delay)."""
        with self._lock:
            self._intervals[host] = max(self.interval, min(seconds, MAX_CRAWL_DELAY))

    def ready_at(self, host: str) -> float:
        """When the next request to host may start, on the gate's clock."""
        with self._lock:
            return self._ready_at(host)

    def _ready_at(self, host: str) -> float:
        started = self._started.get(host)
        return 0.0 if started is None else started + self._intervals.get(host, self.interval)

    def wait_turn(self, url: str) -> None:
        """Block until a request to url's host may start, and note that it starts now."""
        host = host_of(url)
        while True:
            with self._lock:
                now = time.monotonic()
                ready = self._ready_at(host)
                if now >= ready:
                    self._started[host] = now
                    return
            time.sleep(ready - now)


class RobotsRules:
    """robots.txt of each site, fetched once per run on first use. Thread-safe.

    As RFC 9309 says: a robots.txt that is missing (4xx) allows everything; one that answers
    a server error (5xx) means "not now", and the site's URLs fail with RobotsUnavailable.
    A site whose robots.txt cannot be reached at all (refused connection, failed DNS lookup,
    timeout, blocked address) fails its URLs with the error the fetch gave, robots.txt named.
    Either answer holds for the rest of the run, so a dead site is not asked again per URL.
    """

    def __init__(self, client: httpx.Client, settings: FetchSettings, gate: HostGate) -> None:
        self._client, self._gate = client, gate
        self._settings = replace(settings, max_bytes=ROBOTS_MAX_BYTES, retries=1, deadline=min(settings.deadline, 30.0))
        self._agent = settings.user_agent.split("/")[0].split()[0]  # the product token
        self._lock = threading.Lock()
        self._sites: dict[str, _Site] = {}

    def check(self, url: str, *, redirected_from: str | None = None) -> None:
        """Raise unless the site's robots.txt lets us fetch url (a redirect hop of
        redirected_from, which the error then names): Disallowed, or why robots.txt could
        not be had."""
        site = self._site(url)
        subject = url if redirected_from is None else redirected_from
        hop = "" if redirected_from is None else f"redirected to {shorten(url)}, "
        if site.failure is not None:
            raise _failure(site.failure, subject, hop)
        if site.rules is not None and not site.rules.can_fetch(url, self._agent):
            raise Disallowed(subject, f"{hop}disallowed by {site.origin}/robots.txt")

    def _site(self, url: str) -> _Site:
        # By host and port as a server knows them: no user name, no default port.
        origin = f"{urlsplit(url).scheme.lower()}://{host_of(url)}"
        with self._lock:
            site = self._sites.setdefault(origin, _Site(origin))
        with site.lock:  # the first thread fetches, the others for this site wait for it
            if not site.loaded:
                site.load(self._fetch(origin + "/robots.txt"))
                delay = site.crawl_delay(self._agent)
                if delay:
                    self._gate.slow_down(host_of(url), delay)
        return site

    def _fetch(self, robots_url: str) -> Page | FetchError:
        try:
            return fetch(robots_url, client=self._client, settings=self._settings,
                         before_request=self._gate.wait_turn, html_only=False)
        except FetchError as error:
            return error


def _failure(error: FetchError, url: str, hop: str) -> FetchError:
    """The error of url, whose site's robots.txt could not be had for error."""
    failure: FetchError
    if isinstance(error, HTTPStatusError):
        failure = RobotsUnavailable(url, error.status, f"{hop}{shorten(error.url)} answered HTTP {error.status}, "
                                    "so the site is not fetched now")
    else:  # the same kind of error the page's own fetch would have met
        failure = type(error)(url, f"{hop}{shorten(error.url)} could not be reached ({error.message})")
    failure.retryable = False  # the answer holds for the run
    return failure


class _Site:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.lock = threading.Lock()
        self.loaded = False
        self.rules: Protego | None = None
        self.failure: FetchError | None = None
        """Why robots.txt could not be had."""

    def load(self, result: Page | FetchError) -> None:
        self.loaded = True
        if isinstance(result, Page):
            self.rules = Protego.parse(result.content.decode("utf-8", errors="replace"))
        elif isinstance(result, HTTPStatusError) and 400 <= result.status < 500:
            self.rules = None  # no robots.txt: everything is allowed
        else:
            self.failure = result

    def crawl_delay(self, agent: str) -> float | None:
        delay = self.rules.crawl_delay(agent) if self.rules is not None else None
        return float(delay) if delay else None
