"""The walk over many URLs, whatever fetches and cleans them: the one scheduler of a run.

A window of the URLs is read ahead and queued by host; hosts take turns; at most
`concurrency` URLs are out, at most per_host of one host, and a host whose next turn is far
off is not sent more. Each URL is claimed for the run and sent with its stored validators to
an Executor (scraper.run.local, scraper.run.ray), which fetches and cleans it; every save
happens here, in the calling thread, one short transaction per page as it comes back, so the
archive has a single writer per run and an interrupted run keeps all it has saved.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from archive.packing import Dictionary, Packed
from archive.store import Archive, SaveResult
from scraper.cleaning_pool import CleaningPool
from scraper.cleaning_worker import clean_page
from scraper.errors import ArchiveError, Claimed, InternalError, ScraperError, Skipped
from scraper.fetcher import FetchSettings, Validators
from scraper.malloc import trim_heap
from scraper.models import Article, Page
from scraper.politeness import MAX_CRAWL_DELAY
from scraper.urls import host_of


@dataclass(frozen=True)
class Outcome:
    """What became of one URL: saved (result) or failed (error)."""

    url: str
    result: SaveResult | None = None
    error: ScraperError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def skipped(self) -> bool:
        """Not fetched on purpose (robots.txt, another run holds it): not a failure."""
        return isinstance(self.error, Skipped)

    def describe_error(self) -> str:
        """"URL: what went wrong", whichever kind of error it was."""
        if self.error is None:
            return ""
        return f"{self.url}: {self.error.message}"


class Cleaned(NamedTuple):
    """A fetched page and what its cleaning made of it."""

    page: Page
    article: Article | None
    """None for a 304."""
    packed: Packed | None = None
    """The page and article packed where it was cleaned, for the archive to check and keep."""


Produce = Callable[[], Cleaned]
"""The cleaned page, or the URL's error raised."""


@dataclass(frozen=True)
class Done:
    """A URL an executor is done with, for good: fetched and cleaned, or failed."""

    url: str
    host: str
    result: Produce


class Executor(Protocol):
    """Where a run's pages are fetched and cleaned; the run only sends URLs and takes them back."""

    def ready_at(self, host: str) -> float:
        """The time.monotonic() from which host may be sent another URL: before it, the URL
        would only wait for the host's turn, holding a place."""
        ...

    def submit(self, url: str, host: str, validators: Validators | None, dictionary: Dictionary,
               content_hash: str | None) -> None:
        """Fetch url (conditionally, with validators) and clean it; pack it with the archive's
        dictionary where it is cleaned, if the executor does, unless its article's content hash
        is content_hash (the latest version's: unchanged, it is not saved again)."""
        ...

    def completed(self, timeout: float | None) -> list[Done]:
        """The URLs done since the last call, waiting up to timeout seconds (None: no limit)
        for the first; may come back empty."""
        ...


WINDOW = 1000
"""URLs read ahead of the ones in flight, so that many hosts can proceed while one waits."""
TRIM_EVERY = 200
"""Pages between two hand-backs of the free heap (about a millisecond each): free blocks left
between live ones grew the run's process by 30 MB over 10,000 pages."""


def walk(urls: Iterable[str], archive: Archive, executor: Executor, *, concurrency: int, per_host: int,
         lease: float, run_id: int | None) -> Iterator[Outcome]:
    """Send each URL to the executor and archive what comes back; yield each outcome as it is saved.

    Only a window of the URLs is read ahead, so a list of any length runs in constant memory.
    With a run_id, each URL is claimed in the archive for `lease` seconds while it is out, and
    a URL another run holds is skipped (Claimed).
    """
    queues = HostQueues(iter(urls), WINDOW)
    in_flight: Counter[str] = Counter()
    out = 0
    settled = 0

    def room() -> bool:
        return out < concurrency

    def ready(host: str) -> bool:
        return in_flight[host] < per_host and executor.ready_at(host) <= time.monotonic()

    def settle(done: Done) -> Outcome:
        nonlocal out, settled
        out -= 1
        in_flight[done.host] -= 1
        settled += 1
        if settled % TRIM_EVERY == 0:
            trim_heap()
        return archive_result(archive, done.url, done.result, run_id)  # which also ends the run's claim

    while True:
        queues.fill()
        dictionary = archive.dictionary()  # trained at a run's end: another run's may come any time
        for taken in _take_urls(queues, archive, run_id, lease, room=room, ready=ready):
            if isinstance(taken, Outcome):
                yield taken
                continue
            url, host = taken
            in_flight[host] += 1
            out += 1
            known = archive.known(url)  # one query for both
            executor.submit(url, host, known.validators, dictionary, known.content_hash)
        if not out and not queues:
            return
        # Wake for a finished URL, or when a waiting host's turn comes.
        timeout = None
        if out < concurrency:
            waiting = [executor.ready_at(host) for host in queues.hosts() if in_flight[host] < per_host]
            if waiting:
                timeout = max(0.01, min(waiting) - time.monotonic())
        # A generator, so that no page stays referenced here while the executor is waited on again.
        yield from (settle(done) for done in executor.completed(timeout))


def lease_seconds(settings: FetchSettings) -> float:
    """How long a run holds its claim on a URL: longer than any wait a live run can have."""
    return 2 * settings.deadline + MAX_CRAWL_DELAY + 60


def _claim(archive: Archive, url: str, run_id: int | None, lease: float) -> Outcome | None:
    """Claim url for the run; the Claimed outcome (recorded) when another run holds it."""
    holder = archive.claim(url, run_id, seconds=lease) if run_id is not None else None
    if holder is None:
        return None
    skipped = Claimed(url, f"run {holder} is fetching it")
    archive.record_failure(url, skipped, run_id=run_id)
    return Outcome(url, error=skipped)


def _take_urls(queues: HostQueues, archive: Archive, run_id: int | None, lease: float, *,
              room: Callable[[], bool], ready: Callable[[str], bool]) -> Iterator[tuple[str, str] | Outcome]:
    """The URLs to send now, hosts in turn, while there is room and their host is ready: each
    claimed for the run, as (url, host), or the Claimed outcome when another run holds it."""
    for host in queues.hosts():
        if not room():
            break
        if ready(host):
            url = queues.pop(host)
            yield _claim(archive, url, run_id, lease) or (url, host)


def save_page(archive: Archive, page: Page, *, run_id: int | None = None,
              cleaning: CleaningPool | None = None) -> Outcome:
    """Clean a page already in hand and archive it; failures are recorded, not raised.

    Cleaned in `cleaning`'s processes, under its time and memory bounds, when given; else in
    the calling thread, unbounded.
    """

    def cleaned() -> Cleaned:
        if cleaning is not None:
            return Cleaned(page, cleaning.clean(page.html, page.final_url))
        return Cleaned(page, clean_page(page.html, page.final_url))

    return archive_result(archive, page.url, cleaned, run_id)


def archive_result(archive: Archive, url: str, produce: Produce, run_id: int | None) -> Outcome:
    """Archive the page and article produce() gives (no article: a 304), or record why it failed."""
    try:
        page, article, packed = produce()
        if article is None:
            return Outcome(url, result=archive.not_modified(page, run_id=run_id))
        return Outcome(url, result=archive.save(page, article, packed=packed, run_id=run_id))
    except ScraperError as error:
        return _failed(archive, url, error, run_id)
    except Exception as exc:  # a bug on one page must not end a cron run
        return _failed(archive, url, InternalError(f"{type(exc).__name__}: {exc}"), run_id)


def _failed(archive: Archive, url: str, error: ScraperError, run_id: int | None) -> Outcome:
    """Record why url failed; an archive that cannot take the record (locked by another
    writer past its busy timeout) does not end the run: the outcome still tells it."""
    with suppress(ArchiveError):
        archive.record_failure(url, error, run_id=run_id)
    return Outcome(url, error=error)


class HostQueues:
    """URLs read ahead from a source, queued by host; hosts are served in turn."""

    def __init__(self, urls: Iterator[str], window: int) -> None:
        self._urls, self._window = urls, window
        self._queues: OrderedDict[str, deque[str]] = OrderedDict()
        self._size = 0

    def __bool__(self) -> bool:
        return self._size > 0

    def fill(self) -> None:
        while self._size < self._window:
            url = next(self._urls, None)
            if url is None:
                return
            self._queues.setdefault(host_of(url), deque()).append(url)
            self._size += 1

    def hosts(self) -> list[str]:
        return list(self._queues)

    def pop(self, host: str) -> str:
        queue = self._queues[host]
        url = queue.popleft()
        self._size -= 1
        if queue:
            self._queues.move_to_end(host)  # the next turn goes to another host
        else:
            del self._queues[host]
        return url
