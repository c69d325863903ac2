"""A run's pages fetched and cleaned on this machine: fetching in threads, cleaning in processes.

The threads share the run's PoliteClient, whose gate spaces each host's requests; cleaning is
CPU-bound Python, which threads would run on one core at a time, so pages are cleaned in a
CleaningPool's processes under its time and memory bounds.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from archive.packing import Dictionary
from scraper.cleaning_pool import CleaningPool
from scraper.fetcher import Validators
from scraper.malloc import tune_for_run
from scraper.politeness import PoliteClient
from scraper.run.pipeline import Cleaned, Done

_T = TypeVar("_T")


@contextmanager
def executor(client: PoliteClient, *, concurrency: int, cleaners: int | None = None,
             cleaning: CleaningPool | None = None) -> Iterator[Threads]:
    """Threads for the block, cleaning in `cleaning` (the caller closes it) or else in a pool of
    `cleaners` processes (default: one per core) that ends with the block."""
    pool = CleaningPool(cleaners) if cleaning is None else cleaning
    tune_for_run()
    threads = Threads(client, concurrency, pool)
    try:
        yield threads
    finally:
        threads.close()
        if cleaning is None:
            pool.close()  # kills the cleaning processes: stopping waits for no page


class Threads:
    """The executor of a local run: each URL fetched in one of `concurrency` threads, then cleaned in the pool."""

    def __init__(self, client: PoliteClient, concurrency: int, pool: CleaningPool) -> None:
        self._client, self._pool = client, pool
        self._threads = _DaemonThreads(concurrency, "fetch")
        self._pending: dict[Future[Cleaned], tuple[str, str]] = {}  # -> (url, host)

    def ready_at(self, host: str) -> float:
        # A host whose next turn is over an interval away would only tie up a thread asleep.
        return self._client.gate.ready_at(host) - self._client.politeness.interval

    def submit(self, url: str, host: str, validators: Validators | None, dictionary: Dictionary,
               content_hash: str | None) -> None:
        # Packed by the writer, not here: on one machine the cores are the bound, not the writer,
        # and the pack would travel from the cleaning process and be checked (README, Ray).
        self._pending[self._threads.submit(self._work, url, validators)] = (url, host)

    def completed(self, timeout: float | None) -> list[Done]:
        finished, _ = wait(self._pending, timeout=timeout, return_when=FIRST_COMPLETED)
        return [Done(*self._pending.pop(future), future.result) for future in finished]

    def close(self) -> None:
        """Cancel the URLs not started; a thread ends after its current one."""
        self._threads.shutdown()

    def _work(self, url: str, validators: Validators | None) -> Cleaned:
        page = self._client.fetch(url, validators=validators)
        if page.status == 304:
            return Cleaned(page, None)
        return Cleaned(page, self._pool.clean(page.html, page.final_url))


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
