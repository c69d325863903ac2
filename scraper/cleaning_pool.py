"""The processes a run cleans pages in, and what runs inside them.

Kept apart from the pipeline on purpose: a cleaning process imports this module to find its
functions, so everything imported here is paid for in every cleaning process. It imports the
cleaner and nothing of fetching or archiving (httpx, sqlite-utils and, through it, numpy).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from scraper.errors import InternalError
from scraper.malloc import trim_heap
from scraper.models import Article


class CleaningPool:
    """Where pages get cleaned: a pool of processes started on first use, or the calling thread."""

    def __init__(self, processes: int | None) -> None:
        cores = os.cpu_count() or 1
        self.processes = (cores if cores > 1 else 0) if processes is None else processes
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def clean(self, html: str, url: str) -> Article:
        if self.processes <= 0:
            from scraper.cleaner import clean  # here, so a run that cleans in a pool never loads it

            return clean(html, url=url)
        with self._lock:
            if self._pool is None:
                # spawn, not fork: forking a process that runs threads can copy a held lock.
                self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=init_cleaning_process, initargs=(os.getpid(),))
        try:
            return self._pool.submit(clean_and_trim, html, url).result()
        except BrokenProcessPool as exc:
            raise InternalError(f"a cleaning process died ({exc})") from exc

    def close(self) -> None:
        if self._pool is not None:
            # Waits for the pages being cleaned (queued ones are dropped): shutting down without
            # waiting races with the interpreter's exit in Python 3.11 and prints a traceback.
            self._pool.shutdown(wait=True, cancel_futures=True)


def clean_and_trim(html: str, url: str) -> Article:
    """Clean in a pool process, handing free heap back to the system after a large page and
    every _TRIM_EVERY pages: glibc keeps it, and each process would otherwise hold on to its
    largest page's worth. Not after every page: a trim costs about a millisecond, 7% of
    cleaning a page."""
    from scraper.cleaner import clean

    global _cleaned
    try:
        return clean(html, url=url)
    finally:
        _cleaned += 1
        if len(html) > _LARGE_PAGE or _cleaned % _TRIM_EVERY == 0:
            trim_heap()


_TRIM_EVERY = 16
_LARGE_PAGE = 512 * 1024
"""Characters of HTML: 3% of the evaluation corpus's pages are larger."""
_cleaned = 0
"""Pages this process has cleaned."""


def init_cleaning_process(parent: int) -> None:
    """Cleaning processes leave Ctrl-C to the run, which shuts them down in order, and end
    when the run's process is gone, even killed with SIGKILL (the pool would not notice).
    The run passes its pid: one killed while this process started would otherwise be missed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    share_justext_stoplist()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="watch-parent").start()


def share_justext_stoplist() -> None:
    """Hold jusText's stop words once instead of twice: 15 MB less in each cleaning process.

    trafilatura's jusText fallback, on a page of no language it is told, passes the stop words
    of all jusText's languages (154,000) as a tuple, which jusText's define_stoplist lower-cases
    into a frozenset and caches: two copies of every word, for as long as the process lives.
    Here the set is built once from the already lower-case lists, and define_stoplist hands
    back a frozenset as it is. Which words are stop words does not change.
    """
    import justext.core
    from justext.utils import get_stoplist, get_stoplists
    from trafilatura import external

    if getattr(justext.core.define_stoplist, "shares_sets", False):
        return
    original = justext.core.define_stoplist

    def define_stoplist(stoplist: frozenset[str] | tuple[str, ...]) -> frozenset[str]:
        return stoplist if isinstance(stoplist, frozenset) else original(stoplist)

    define_stoplist.shares_sets = True  # type: ignore[attr-defined]
    justext.core.define_stoplist = define_stoplist
    external.JT_STOPLIST = frozenset(  # type: ignore[assignment]  # declared None until first use
        word for language in get_stoplists() for word in get_stoplist(language))
