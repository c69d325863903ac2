"""The processes a run cleans pages in, each page under a time limit and a memory bound.

A cleaning process is a plain subprocess, `python -m scraper.cleaning_worker` (see there),
spoken to over its stdin and stdout, one page at a time. Not concurrent.futures or
multiprocessing: neither can kill the process a late page holds (a pool only shuts down
whole, after its pages are done), and their spawned processes re-import the caller's main
module, which re-runs a script that has no `if __name__ == "__main__":` guard. A page past
its time is the end of its process, and a process that dies costs only its page: another
starts when a page next needs one.

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
from contextlib import suppress
from typing import Any

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
"""Pages to have out at once for each process, for a caller that takes the articles in order
(extract writes records in their input's order, reclean saves versions oldest first): a slow
page holds back those after it, and with too few out the other processes idle behind it. Over
both development sets' pages, with two out a process the cores were 91% busy in `scraper
extract` and 96% in `scraper reclean`; with four, 95% and 98% (eight: 96% in extract, its
process 60 MiB larger than with four, itself 30 MiB larger than with two)."""
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

