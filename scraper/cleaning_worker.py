"""A cleaning process: `python -m scraper.cleaning_worker SECONDS MIB`, started by CleaningPool.

It reads pages from stdin and writes what became of each to stdout, each message a pickle
after its length (8 bytes, big-endian). Its first message says it is ready: the imports and
the block model (0.5 s) do not count against a page's time. It imports the cleaner and
nothing of fetching or archiving (httpx, sqlite-utils): that would be paid for in every
cleaning process.

It bounds itself too: its address space to MIB (a page past it answers "memory", and the
process ends, so that a fresh one takes its place), and each page to SECONDS and a little
more, in case its parent misses the deadline (SIGALRM, whose default action ends the
process). It leaves Ctrl-C to its parent, which kills it at once when the run stops, and it
ends when its stdin closes: its parent is gone, even killed with SIGKILL.
"""

from __future__ import annotations

import gc
import os
import pickle
import resource
import signal
import struct
import sys
from contextlib import suppress
from typing import Any

from scraper.errors import ScraperError
from scraper.malloc import resident_bytes, trim_heap
from scraper.models import Article

HEADER = struct.Struct("!Q")
"""Each message's length, before it."""
YOUNG_COLLECTION = 20_000
"""Allocations between two collections of the garbage collector's youngest generation."""
GRACE = 2.0
"""Seconds past its deadline a page may run before the process ends itself."""
SLACK = 64 * 1024 * 1024
"""Resident bytes a cleaning process may gain over what it held after its last trim before it
trims its heap again: a large page's worth."""


def main(argv: list[str]) -> None:
    seconds, mib = float(argv[0]), int(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Messages go through descriptors of their own: anything a library prints goes to stderr.
    requests, replies = os.dup(0), os.dup(1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    # Before "ready": the imports and the model do not count against a page's time, nor
    # against the memory bound.
    import scraper.cleaner
    from scraper.cleaner.model import load

    load(scraper.cleaner.DEFAULT_MODEL)

    share_justext_stoplist()
    # All loaded now stays for the process's life: out of the garbage collector's sight, its
    # full collections stop walking it (SciPy under LightGBM, trafilatura, the model: 20 to 35 ms
    # each, 3% of cleaning the corpus's pages; 0.5% frozen).
    gc.freeze()
    # A page makes tens of thousands of objects, and few cycles: the young generation collected
    # every YOUNG_COLLECTION allocations instead of every 700.
    gc.set_threshold(YOUNG_COLLECTION)
    limit_memory(mib)
    send(replies, ("ready", os.getpid()))
    floor = resident_bytes()
    while (request := receive(requests)) is not None:
        html, url = request
        signal.setitimer(signal.ITIMER_REAL, seconds + GRACE)
        try:
            reply: tuple[str, Any] = ("ok", clean_page(html, url))
        except MemoryError:
            reply = ("memory", None)
        except Exception as exc:
            if _out_of_memory(exc, mib):
                reply = ("memory", None)
            elif isinstance(exc, ScraperError):
                reply = ("error", exc)
            else:  # a bug in the cleaner: told as text, which pickles whatever the exception
                reply = ("internal", f"{type(exc).__name__}: {exc}")
        signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            send(replies, reply)
        except MemoryError:
            send(replies, ("memory", None))
        if reply[0] == "memory":
            return  # its heap may stay large and broken up: a new process starts afresh
        # Hand free heap back to the system once the pages have grown the process by SLACK:
        # glibc keeps it, and the process would hold on to its largest page's worth. Not more
        # often: the heap the next pages need would be faulted in again. Trimming every 16
        # pages and after each large one cost 4% more CPU a page (30 times the page faults).
        if resident_bytes() > floor + SLACK:
            trim_heap()
            floor = resident_bytes()


def clean_page(html: str, url: str | None) -> Article:
    """The cleaner's article of a page, with its hash and word count worked out."""
    from scraper.cleaner import clean  # here: importing this module loads no cleaner

    article = clean(html, url=url)
    # Cached here, in the cleaning process, and carried in the pickle to the process that
    # saves or writes the page, whose one core also fetches and saves: it would otherwise
    # count and hash every page itself.
    article.content_hash  # noqa: B018
    article.word_count  # noqa: B018
    return article


def _out_of_memory(exc: Exception, mib: int) -> bool:
    """Whether a failure comes from the memory bound: a MemoryError that the cleaner wrapped,
    or one that a C library reported as its own error (selectolax: "Can't parse HTML") after
    the process came within a quarter of its bound (Linux: its peak address space)."""
    if isinstance(exc.__cause__, MemoryError):
        return True
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            peak = next(int(line.split()[1]) for line in status if line.startswith("VmPeak:"))
    except (OSError, StopIteration, ValueError):
        return False
    return peak * 1024 > 0.75 * mib * 1024 * 1024


def limit_memory(mib: int) -> None:
    """RLIMIT_AS, not RLIMIT_DATA: both stop trafilatura, lxml and selectolax with a
    MemoryError (measured), and the address space is bounded the same on every kernel. The
    process takes about 75 MiB of it once its imports are done."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = mib * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def send(fd: int, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    os.write(fd, HEADER.pack(len(data)))  # apart, not joined: a page's worth less memory
    with memoryview(data) as view:
        sent = 0
        while sent < len(data):
            sent += os.write(fd, view[sent:])


def receive(fd: int) -> Any:
    """The next message, or None when the parent has closed the pipe."""
    header = _read(fd, HEADER.size)
    if header is None:
        return None
    body = _read(fd, HEADER.unpack(header)[0])
    return None if body is None else pickle.loads(body)


def _read(fd: int, size: int) -> bytearray | None:
    """size bytes read straight into one buffer; None at the end of the pipe."""
    buffer = bytearray(size)
    with memoryview(buffer) as view:
        done = 0
        while done < size:
            got = os.readv(fd, [view[done:]])
            if not got:
                return None
            done += got
    return buffer


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


if __name__ == "__main__":
    with suppress(BrokenPipeError):  # its parent went away while it answered: nothing left to do
        main(sys.argv[1:])
