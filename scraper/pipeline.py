"""Many URLs through fetch -> clean -> archive: the one place that runs pages concurrently.

Fetching and cleaning run in worker threads; every save happens in the calling thread,
one short transaction per page, so the archive has a single writer per run and an
interrupted run keeps all it has saved.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

from archive.store import Archive, SaveResult
from scraper.cleaning_pool import CleaningPool
from scraper.cleaning_worker import clean_page
from scraper.errors import ArchiveError, Claimed, InternalError, ScraperError, Skipped
from scraper.fetcher import FetchSettings, Validators
from scraper.malloc import trim_heap, tune_for_run
from scraper.models import Article, Page
from scraper.politeness import MAX_CRAWL_DELAY, PoliteClient
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


def save_page(archive: Archive, page: Page, *, run_id: int | None = None,
              cleaning: CleaningPool | None = None) -> Outcome:
    """Clean a page already in hand and archive it; failures are recorded, not raised.

    Cleaned in `cleaning`'s processes, under its time and memory bounds, when given; else in
    the calling thread, unbounded.
    """

    def cleaned() -> tuple[Page, Article | None]:
        if cleaning is not None:
            return page, cleaning.clean(page.html, page.final_url)
        return page, clean_page(page.html, page.final_url)

    return archive_result(archive, page.url, cleaned, run_id)


_T = TypeVar("_T")
WINDOW = 1000
"""URLs read ahead of the ones in flight, so that many hosts can proceed while one waits."""


def run(
    urls: Iterable[str],
    archive: Archive,
    *,
    client: PoliteClient | None = None,
    concurrency: int = 8,
    run_id: int | None = None,
    cleaners: int | None = None,
    cleaning: CleaningPool | None = None,
) -> Iterator[Outcome]:
    """Fetch, clean and archive each URL; yield each outcome as it completes.

    At most `concurrency` URLs are in flight, at most client.politeness.per_host of them on
    one host; only a window of the URLs is read ahead, so a list of any length runs in
    constant memory. With a run_id, each URL is claimed in the archive while it is fetched,
    and a URL that another run holds is skipped (Claimed). Pages the archive holds are
    fetched conditionally; a 304 counts as unchanged. Stopping the iteration (or an
    exception such as KeyboardInterrupt in the caller) cancels what has not started. The
    client (a default one if none is given) is closed when the run ends.

    Pages are cleaned in `cleaning`, a CleaningPool the caller closes, or else in one of
    `cleaners` processes (default: one per core) under the default time and memory bounds:
    cleaning is CPU-bound Python, which threads would run on one core at a time. A page past
    a bound fails (CleanTimeout, CleanMemory) and the run goes on.
    """
    client = client or PoliteClient()
    per_host, interval = client.politeness.per_host, client.politeness.interval
    gate = client.gate
    lease = lease_seconds(client.settings)
    own_pool = cleaning is None
    pool = CleaningPool(cleaners) if cleaning is None else cleaning
    tune_for_run()

    def work(url: str, validators: Validators | None) -> tuple[Page, Article | None]:
        page = client.fetch(url, validators=validators)
        if page.status == 304:
            return page, None
        return page, pool.clean(page.html, page.final_url)

    queues = HostQueues(iter(urls), WINDOW)
    in_flight: Counter[str] = Counter()
    pending: dict[Future[tuple[Page, Article | None]], tuple[str, str]] = {}  # -> (url, host)
    executor = _DaemonThreads(concurrency, "fetch")
    settled = 0

    def ready(host: str) -> bool:
        # A host whose next turn is over an interval away would only tie up a worker asleep.
        return in_flight[host] < per_host and gate.ready_at(host) <= time.monotonic() + interval

    try:
        while True:
            queues.fill()
            for taken in take_urls(queues, archive, run_id, lease, room=lambda: len(pending) < concurrency,
                                   ready=ready):
                if isinstance(taken, Outcome):
                    yield taken
                    continue
                url, host = taken
                in_flight[host] += 1
                pending[executor.submit(work, url, archive.validators(url))] = (url, host)
            if not pending and not queues:
                return
            # Wake for a finished URL, or when a waiting host's turn comes.
            timeout = None
            if len(pending) < concurrency:
                waiting = [gate.ready_at(host) for host in queues.hosts() if in_flight[host] < per_host]
                if waiting:
                    timeout = max(0.01, min(waiting) - interval - time.monotonic())
            done, _ = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                url, host = pending.pop(future)
                in_flight[host] -= 1
                settled += 1
                if settled % TRIM_EVERY == 0:
                    trim_heap()
                yield _settle(archive, url, future, run_id)  # which also ends the run's claim on url
    finally:
        executor.shutdown()
        if own_pool:
            pool.close()  # kills the cleaning processes: stopping waits for no page
        client.close()  # in-flight requests fail fast instead of running to their timeouts


def lease_seconds(settings: FetchSettings) -> float:
    """How long a run holds its claim on a URL: longer than any wait a live run can have."""
    return 2 * settings.deadline + MAX_CRAWL_DELAY + 60


def claim(archive: Archive, url: str, run_id: int | None, lease: float) -> Outcome | None:
    """Claim url for the run; the Claimed outcome (recorded) when another run holds it."""
    holder = archive.claim(url, run_id, seconds=lease) if run_id is not None else None
    if holder is None:
        return None
    skipped = Claimed(url, f"run {holder} is fetching it")
    archive.record_failure(url, skipped, run_id=run_id)
    return Outcome(url, error=skipped)


def take_urls(queues: HostQueues, archive: Archive, run_id: int | None, lease: float, *,
              room: Callable[[], bool], ready: Callable[[str], bool]) -> Iterator[tuple[str, str] | Outcome]:
    """The URLs to send now, hosts in turn, while there is room and their host is ready: each
    claimed for the run, as (url, host), or the Claimed outcome when another run holds it."""
    for host in queues.hosts():
        if not room():
            break
        if ready(host):
            url = queues.pop(host)
            yield claim(archive, url, run_id, lease) or (url, host)


TRIM_EVERY = 200
"""Pages between two hand-backs of the free heap (about a millisecond each): free blocks left
between live ones grew the run's process by 30 MB over 10,000 pages."""


def _settle(archive: Archive, url: str, future: Future[tuple[Page, Article | None]], run_id: int | None) -> Outcome:
    """Archive what a worker brought back, or record why it brought nothing."""
    return archive_result(archive, url, future.result, run_id)


def archive_result(archive: Archive, url: str, produce: Callable[[], tuple[Page, Article | None]],
             run_id: int | None) -> Outcome:
    """Archive the page and article produce() gives (no article: a 304), or record why it failed."""
    try:
        page, article = produce()
        if article is None:
            return Outcome(url, result=archive.not_modified(page, run_id=run_id))
        return Outcome(url, result=archive.save(page, article, run_id=run_id))
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


class _DaemonThreads:
    """Calls run in up to `count` daemon threads. Not ThreadPoolExecutor: Python joins its
    threads at exit, so a fetch hung in a read held a stopped run's exit for the read timeout
    (and a second Ctrl-C interrupted that join with a traceback)."""

    def __init__(self, count: int, name: str) -> None:
        self._count, self._name = count, name
        self._calls: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = \
            queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def submit(self, fn: Callable[..., _T], *args: Any) -> Future[_T]:
        future: Future[_T] = Future()
        self._calls.put((future, fn, args))
        if len(self._threads) < self._count:
            thread = threading.Thread(target=self._serve, name=f"{self._name}_{len(self._threads)}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return future

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            future, fn, args = call
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # the waiting thread gets it, whatever it is
                future.set_exception(exc)

    def shutdown(self) -> None:
        """Cancel the calls not started; the threads end after their current call."""
        with suppress(queue.Empty):
            while True:
                call = self._calls.get_nowait()
                if call is not None:
                    call[0].cancel()
        for _ in self._threads:
            self._calls.put(None)


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
