"""The processes a run cleans pages in, each page under a time limit and a memory bound.

A cleaning process is a plain subprocess, `python -m scraper.cleaning_worker` (see there),
spoken to over its stdin and stdout, one page at a time. Not concurrent.futures or
multiprocessing: neither can kill the process a late page holds (a pool only shuts down
whole, after its pages are done), and their spawned processes re-import the caller's main
module, which re-runs a script that has no `if __name__ == "__main__":` guard. A page past
its time is the end of its process, and a process that dies costs only its page: another
starts when a page next needs one. clean_in_order runs a stream of pages through a pool for a
caller that takes their articles in order.

Nothing of the cleaner is imported here: the run's process never loads trafilatura.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from typing import Any, TypeVar

from scraper import package_path
from scraper.cleaning_worker import HEADER, clean_page, send
from scraper.errors import CleanMemory, CleanTimeout, InternalError, ScraperError
from scraper.models import Article

DEFAULT_TIMEOUT = 10.0
"""Seconds a page may take to clean: the corpus's slowest page takes about 1 s."""
DEFAULT_MEMORY = 1024
"""MiB of address space a cleaning process may take; one takes 75 MiB before its first page,
and the corpus's largest pages take it to about 95."""
PAGES_A_PROCESS = 4
"""Pages to have out at once for each process in clean_in_order: a slow page holds back those
after it, and with too few out the other processes idle behind it. `scraper extract` over both
development sets' pages kept the cores 91% busy with two out a process and 95% with four, each
page out in a thread of its own; 98% with four out and a thread a process, its own process
peaking at 156 MiB instead of 207 (eight or sixteen out: 98% too, and 165 and 202 MiB)."""
_START_TIMEOUT = 120.0
"""Seconds a cleaning process may take to be ready (0.3 s on an idle machine)."""


class CleaningPool:
    """Where pages get cleaned: processes started as pages need them, or the calling thread.

    With processes=0 pages are cleaned in the calling thread, with no time or memory bound.
    clean() may be called from many threads at once; close() kills the processes at once,
    pages half-cleaned or not.
    """

    def __init__(self, processes: int | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 memory: int = DEFAULT_MEMORY) -> None:
        self.processes = (os.cpu_count() or 1) if processes is None else processes
        self.timeout = timeout
        self.memory = memory
        """MiB"""
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()
        self._starting = 0
        self._changed = threading.Condition()
        self._closed = False

    def __enter__(self) -> CleaningPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def clean(self, html: str, url: str | None) -> Article:
        """The page's article; raises what the cleaner raises, CleanTimeout past the time
        limit, CleanMemory past the memory bound, InternalError when the process dies."""
        if self.processes <= 0:
            return clean_page(html, url)  # which loads the cleaner, here only
        worker = self._take()
        try:
            worker.send((html, url))
            kind, value = worker.receive(time.monotonic() + self.timeout)
        except _Late:
            self._drop(worker)
            raise CleanTimeout(f"clean timeout: cleaning took over {self.timeout:g} s") from None
        except _Lost:
            self._drop(worker)
            raise self._why_lost(worker) from None
        if kind == "memory":
            self._drop(worker)  # it ends itself
            raise CleanMemory(f"clean memory: cleaning needed over {self.memory} MiB")
        self._give_back(worker)
        if kind == "ok":
            return value  # type: ignore[no-any-return]
        if kind == "error":
            raise value
        raise InternalError(value)

    def close(self) -> None:
        """Kill every cleaning process now; pages being cleaned fail."""
        with self._changed:
            self._closed = True
            workers, idle = list(self._workers), self._idle
            self._idle = []
            self._changed.notify_all()
        for worker in workers:
            worker.kill()  # a busy one is reaped by the thread that waits on it
        for worker in idle:
            self._drop(worker)

    def _take(self) -> _Worker:
        """An idle process, a new one if fewer than `processes` run, else the first to be free."""
        with self._changed:
            while True:
                if self._closed:
                    raise InternalError("the cleaning processes were stopped")
                if self._idle:
                    return self._idle.pop()
                if len(self._workers) + self._starting < self.processes:
                    self._starting += 1
                    break
                self._changed.wait()
        worker = None
        try:
            worker = _Worker([sys.executable, "-P", "-m", "scraper.cleaning_worker",
                              str(self.timeout), str(self.memory)])
        except OSError as exc:  # out of processes or descriptors
            raise InternalError(f"a cleaning process did not start ({exc})") from None
        finally:
            # Counted among the workers from now on, in the same step: a thread that looks in
            # between must not see it twice (and wait while a process could start).
            with self._changed:
                self._starting -= 1
                if worker is not None:
                    self._workers.add(worker)
                    if self._closed:
                        worker.kill()
                self._changed.notify()
        try:
            kind, _ = worker.receive(time.monotonic() + _START_TIMEOUT)
            if kind != "ready":
                raise _Lost()
            return worker
        except (_Lost, _Late) as exc:
            self._drop(worker)
            raise InternalError(f"a cleaning process did not start ({type(exc).__name__})") from None

    def _give_back(self, worker: _Worker) -> None:
        with self._changed:
            if not self._closed:
                self._idle.append(worker)
                self._changed.notify()
                return
        self._drop(worker)

    def _drop(self, worker: _Worker) -> None:
        worker.end()
        with self._changed:
            self._workers.discard(worker)
            self._changed.notify()

    def _why_lost(self, worker: _Worker) -> ScraperError:
        if self._closed:
            return InternalError("the cleaning processes were stopped")
        code = worker.process.returncode
        if code == -signal.SIGKILL:  # what the kernel's out-of-memory killer sends
            return CleanMemory("clean memory: the cleaning process was killed (SIGKILL), as when memory runs out")
        if code == -signal.SIGALRM:  # its own deadline, past ours
            return CleanTimeout(f"clean timeout: cleaning took over {self.timeout:g} s")
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit status {code}"
        return InternalError(f"a cleaning process died ({how})")


T = TypeVar("T")

Job = tuple[str, str | None] | ScraperError | None
"""What to do with an item's page in clean_in_order: (html, url) to clean, the ScraperError
that stopped it before it could be, or None: no page to clean."""


def clean_in_order(cleaning: CleaningPool, items: Iterable[tuple[T, Job]]
                   ) -> Iterator[tuple[T, Article | ScraperError | None]]:
    """Each item with what became of its page, in the items' order: the article cleaned in
    `cleaning`, or the ScraperError that stopped it (a bug on one page is an InternalError, not
    the end of the iteration); None for an item without a page.

    For callers that take the articles in order (extract writes records in their input's order,
    reclean saves versions oldest first): up to PAGES_A_PROCESS pages a process are out at once,
    so that the other processes go on past a slow page. `items` is read in the calling thread.
    When reading it raises a ScraperError (an input that breaks off), the items read before come
    out first, then the error.
    """
    processes = max(1, cleaning.processes)
    window = PAGES_A_PROCESS * processes
    executor = ThreadPoolExecutor(processes, thread_name_prefix="cleaning")
    pending: deque[tuple[T, Future[Article] | ScraperError | None]] = deque()
    broken: ScraperError | None = None
    try:
        try:
            for item, job in items:
                pending.append((item, executor.submit(cleaning.clean, *job) if isinstance(job, tuple) else job))
                while pending and (len(pending) > window or not isinstance(pending[0][1], Future)):
                    yield _settled(*pending.popleft())
        except ScraperError as error:  # the items broke off: those read before still come out
            broken = error
        while pending:
            yield _settled(*pending.popleft())
        if broken is not None:
            raise broken
    finally:
        executor.shutdown(wait=False, cancel_futures=True)  # closing the pool ends what runs


def _settled(item: T, job: Future[Article] | ScraperError | None) -> tuple[T, Article | ScraperError | None]:
    if not isinstance(job, Future):
        return item, job
    try:
        return item, job.result()
    except ScraperError as error:
        return item, error
    except Exception as exc:  # a bug on one page must not end the others
        return item, InternalError(f"{type(exc).__name__}: {exc}")


class _Late(Exception):
    """No answer before the deadline."""


class _Lost(Exception):
    """The process ended, or its pipe broke."""


class _Worker:
    """One cleaning process and its two pipes."""

    def __init__(self, command: list[str]) -> None:
        # Its own copy of this package first, whatever the caller did to sys.path; -P keeps
        # the current directory off its path.
        # One thread each for the model's libraries: the pool is the parallelism, and thread
        # pools would take address space from the memory bound.
        env = {**os.environ, "PYTHONPATH": package_path(), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        assert self.process.stdin is not None and self.process.stdout is not None
        self._requests, self._replies = self.process.stdin.fileno(), self.process.stdout.fileno()

    def send(self, message: object) -> None:
        try:
            send(self._requests, message)
        except OSError as exc:  # BrokenPipeError: it died
            raise _Lost() from exc

    def receive(self, deadline: float) -> tuple[str, Any]:
        """The next reply; _Late when the deadline passes, _Lost when the process ends."""
        header = self._read(HEADER.size, deadline)
        body = self._read(HEADER.unpack(header)[0], deadline)
        try:
            kind, value = pickle.loads(body)
            return kind, value
        except Exception as exc:  # a reply that does not unpickle: say so rather than crash
            return "internal", f"a cleaning process answered garbage ({type(exc).__name__})"

    def _read(self, size: int, deadline: float) -> bytearray:
        buffer = bytearray(size)
        poll = select.poll()
        poll.register(self._replies, select.POLLIN)
        with memoryview(buffer) as view:
            done = 0
            while done < size:
                left = deadline - time.monotonic()
                if left <= 0 or not poll.poll(left * 1000):
                    raise _Late()
                got = os.readv(self._replies, [view[done:]])
                if not got:
                    raise _Lost()
                done += got
        return buffer

    def kill(self) -> None:
        with suppress(ProcessLookupError):
            self.process.kill()

    def end(self) -> None:
        """Kill the process, reap it and close its pipes."""
        self.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with suppress(OSError):
                    pipe.close()

