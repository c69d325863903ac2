"""A run's pages fetched and cleaned on a Ray cluster; the archive stays with the driver.

Fetching is partitioned by host: each host's URLs all go to one fetcher actor (a host hashes
to an actor), whose PoliteClient spaces that host's requests, reads its robots.txt with its
Crawl-delay and honours its Retry-After, so politeness holds across the cluster as on one
machine. Each page is then cleaned by a Ray task on any core of any node, under the same time
and memory bounds as locally, and packed there as the archive stores it (archive.packing: its
HTML and Markdown compressed, with the archive's trained dictionary, which the driver puts in
the object store once, and again when the archive has a new one). The driver walks the URLs as
a local run does (scraper.run.pipeline), so it stays the only writer of the archive: it checks
each pack and writes it. A page crosses the cluster, from its fetcher to its task and back to
the driver, as a Wire: compressed, and without its text when that is its body as UTF-8.

A worker or node that dies costs its in-flight URLs: each is tried once more, then recorded
as failed (WorkerLost). Every wait has a bound, so a lost cluster ends the run instead of
hanging it. Needs the `ray` extra: pip install 'scraper[ray]'; nothing imports this module
unless a run asks for Ray.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import ray
import ray._private.worker as ray_worker
import ray.exceptions
import zstandard

from archive import packing
from archive.packing import Dictionary, Packed
from scraper.cleaning_pool import CleaningPool
from scraper.errors import InternalError, ScraperError
from scraper.fetcher import FetchSettings, Validators
from scraper.models import Article, Page
from scraper.politeness import PoliteClient, Politeness
from scraper.ray_cluster import connected
from scraper.run.pipeline import Cleaned, Done, lease_seconds

TRIES = 3
"""Times a URL is sent out when the worker or node holding it dies."""


class WorkerLost(ScraperError):
    """The Ray worker or node that held the URL died, or the cluster did not answer in time."""

    reason = "worker lost"


WIRE_LEVEL = 3
"""zstd level of a page crossing the cluster: fast (0.6 ms a corpus page), about a fifth of its body."""


@dataclass(frozen=True)
class Wire:
    """A Page as it crosses the cluster: its body zstd-compressed, and its HTML text left out
    when it is the body decoded as UTF-8 (most pages), rebuilt on arrival. A Page pickles at
    twice its body's size (bytes and text), so most went through the object store (over Ray's
    100 KB inline limit); a Wire mostly travels inline with its task."""

    head: Page
    """The page without its body and text: everything else about it, as fetched."""
    content_zstd: bytes
    html_zstd: bytes | None
    """The HTML text as UTF-8, compressed, when it is not the body decoded as UTF-8; else None."""

    @classmethod
    def of(cls, page: Page) -> Wire:
        # A compressor a call: the fetcher actor calls this from several threads.
        compressor = zstandard.ZstdCompressor(level=WIRE_LEVEL)
        # surrogatepass: a text with a lone surrogate (an escape of undecodable bytes) still goes, and comes back.
        html_zstd = None if _decodes_to(page.content, page.html) else compressor.compress(
            page.html.encode("utf-8", "surrogatepass"))
        return cls(replace(page, content=b"", html=""), compressor.compress(page.content), html_zstd)

    @property
    def status(self) -> int | None:
        return self.head.status

    def page(self) -> Page:
        decompressor = zstandard.ZstdDecompressor()
        content = decompressor.decompress(self.content_zstd)
        html = content.decode("utf-8") if self.html_zstd is None else \
            decompressor.decompress(self.html_zstd).decode("utf-8", "surrogatepass")
        return replace(self.head, content=content, html=html)


def _decodes_to(content: bytes, html: str) -> bool:
    """Whether content decoded as UTF-8 is html."""
    try:
        return content.decode("utf-8") == html
    except UnicodeDecodeError:
        return False


@dataclass(frozen=True)
class CleanedWire:
    """A clean task's answer: Cleaned with its page as the Wire the task was given."""

    wire: Wire
    article: Article | None
    packed: Packed | None = None

    def cleaned(self) -> Cleaned:
        return Cleaned(self.wire.page(), self.article, self.packed)


class Fetcher:
    """A Ray actor: one PoliteClient for the hosts that hash to it. Its methods run in threads."""

    def __init__(self, settings: FetchSettings, politeness: Politeness) -> None:
        self.client = PoliteClient(settings, politeness)

    def fetch(self, url: str, validators: Validators | None) -> Wire | ScraperError:
        try:
            return Wire.of(self.client.fetch(url, validators=validators))
        except ScraperError as error:  # as a value: Ray would wrap a raised one
            return error
        except Exception as exc:  # a bug on one page must not end a cron run
            return InternalError(f"{type(exc).__name__}: {exc}")

    def pid(self) -> int:
        return os.getpid()


_POOLS: dict[tuple[float, int], CleaningPool] = {}
"""One cleaning process per Ray worker process, kept between the tasks it runs."""


def clean(fetched: Wire | ScraperError, dictionary: Dictionary, content_hash: str | None, timeout: float,
          memory: int) -> CleanedWire | ScraperError:
    """A Ray task: the page with its article, packed with the archive's dictionary unless its
    content hash is content_hash (the page's latest version's: unchanged), no article for a
    304; or why it has none. The page goes back as the Wire it came in: not compressed again."""
    if isinstance(fetched, ScraperError):
        return fetched
    if fetched.status == 304:
        return CleanedWire(fetched, None)
    pool = _POOLS.get((timeout, memory))
    if pool is None:
        pool = _POOLS[timeout, memory] = CleaningPool(1, timeout=timeout, memory=memory)
    try:
        page = fetched.page()
        article = pool.clean(page.html, page.final_url)
        if article.content_hash == content_hash:
            return CleanedWire(fetched, article)
        return CleanedWire(fetched, article, packing.pack(page.content, article, dictionary))
    except ScraperError as error:
        return error
    except Exception as exc:
        return InternalError(f"{type(exc).__name__}: {exc}")


@contextmanager
def executor(client: PoliteClient, *, concurrency: int, clean_bounds: tuple[float, int],
             address: str | None = None, fetchers: int | None = None) -> Iterator[Cluster]:
    """The cluster for the block, its fetchers using client's settings and politeness.

    Joins the cluster at `address` (else RAY_ADDRESS) or, with neither, starts a Ray instance
    on this machine for the block and stops it after; an instance the caller started already is
    used as it is. `fetchers` actors (default two per node) share the hosts; clean_bounds are
    the cleaning's time limit (s) and memory bound (MiB).
    """
    with connected(address):
        actors: list[Any] = []
        printing = ray_worker.print_to_stdstream
        ray_worker.print_to_stdstream = _to_stderr(printing)  # type: ignore[assignment]
        try:
            nodes = ray.nodes()  # type: ignore[no-untyped-call]
            count = fetchers or max(2, 2 * len([node for node in nodes if node.get("Alive")]))
            remote_fetcher = ray.remote(Fetcher).options(num_cpus=0, max_concurrency=concurrency, max_restarts=-1,
                                                         max_task_retries=0)
            actors = [remote_fetcher.remote(client.settings, client.politeness) for _ in range(count)]
            remote_clean = ray.remote(clean).options(num_cpus=1, max_retries=0)
            # The cluster's answer for a URL may take the fetch's deadline, a Crawl-delay's waits and the cleaning.
            yield Cluster(actors, remote_clean, clean_bounds, patience=lease_seconds(client.settings)
                          + clean_bounds[0] + 60)
        finally:
            for actor in actors:
                ray.kill(actor)  # in-flight fetches end now: stopping waits for none
            ray_worker.print_to_stdstream = printing


def _to_stderr(printing: Callable[[dict[str, Any], bool], None]) -> Callable[[dict[str, Any], bool], None]:
    """Ray's printer of cluster messages ("a worker died ...") with them on stderr: Ray prints
    them on stdout, where a run's data goes."""

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        printing({**data, "is_err": True}, ignore_prefix)

    return to_stderr


@dataclass(frozen=True)
class _Sent:
    url: str
    host: str
    validators: Validators | None
    content_hash: str | None
    tries: int
    deadline: float
    """time.monotonic() past which the cluster's silence fails the URL."""


class Cluster:
    """The executor of a Ray run: each URL fetched by its host's actor, then cleaned by a task
    wherever a core is free; a URL whose worker died is sent again, up to TRIES times."""

    def __init__(self, actors: list[Any], remote_clean: Any, clean_bounds: tuple[float, int], *,
                 patience: float) -> None:
        self._actors, self._remote_clean, self._clean_bounds = actors, remote_clean, clean_bounds
        self._patience = patience
        """Seconds the cluster may take to answer for a URL."""
        self._pending: dict[Any, _Sent] = {}  # ObjectRef of the cleaned page -> what was sent
        self._dictionary: tuple[int | None, Any] | None = None  # the archive's dictionary's id, its ObjectRef

    def ready_at(self, host: str) -> float:
        return float("-inf")  # the host's actor spaces its requests: it may be sent one any time

    def submit(self, url: str, host: str, validators: Validators | None, dictionary: Dictionary,
               content_hash: str | None) -> None:
        if self._dictionary is None or self._dictionary[0] != dictionary.id:
            self._dictionary = dictionary.id, ray.put(dictionary)  # once, not with every task
        self._send(url, host, validators, content_hash, 1)

    def completed(self, timeout: float | None) -> list[Done]:
        # At most a second: the URLs past their deadline are looked for between waits.
        ready, rest = ray.wait(list(self._pending), num_returns=1,
                               timeout=1.0 if timeout is None else min(timeout, 1.0))
        if ready and rest:  # and all the others ready by now, in the same call: one wait a batch, not a page
            ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        now = time.monotonic()
        done = []
        for ref in ready or [ref for ref, sent in self._pending.items() if sent.deadline < now]:
            sent = self._pending.pop(ref)
            answer = _answer(ref, sent, self._patience)
            if isinstance(answer, WorkerLost) and sent.tries < TRIES:
                self._send(sent.url, sent.host, sent.validators, sent.content_hash, sent.tries + 1)
                continue
            done.append(Done(sent.url, sent.host, _Unwrap(answer)))
        return done

    def _send(self, url: str, host: str, validators: Validators | None, content_hash: str | None,
              tries: int) -> None:
        assert self._dictionary is not None  # put by submit, before any URL is sent
        actor = self._actors[zlib.crc32(host.encode()) % len(self._actors)]  # a host always goes to one actor
        fetched = actor.fetch.remote(url, validators)
        cleaned = self._remote_clean.remote(fetched, self._dictionary[1], content_hash,  # where a core is free
                                            *self._clean_bounds)
        self._pending[cleaned] = _Sent(url, host, validators, content_hash, tries, time.monotonic() + self._patience)


def _answer(ref: Any, sent: _Sent, patience: float) -> CleanedWire | ScraperError:
    """What the cluster gave for sent, or why it gave nothing (within patience seconds)."""
    if sent.deadline < time.monotonic():
        ray.cancel(ref, force=True)
        return WorkerLost(f"no answer from the cluster within {patience:g} s")
    try:
        answer: CleanedWire | ScraperError = ray.get(ref, timeout=60)
        return answer
    except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
            ray.exceptions.ObjectLostError, ray.exceptions.OwnerDiedError) as exc:
        return WorkerLost(f"the Ray worker fetching or cleaning it died ({type(exc).__name__}: {exc})")
    except ray.exceptions.GetTimeoutError:
        return WorkerLost("no answer from the cluster in 60 s")
    except ray.exceptions.RayError as exc:
        return WorkerLost(f"the cluster failed it: {type(exc).__name__}")


@dataclass
class _Unwrap:
    """The page and article of an answer, or its error raised: what the pipeline archives. The
    page is rebuilt from its Wire only here, as it is archived: until then it waits compressed."""

    answer: CleanedWire | ScraperError

    def __call__(self) -> Cleaned:
        if isinstance(self.answer, ScraperError):
            raise self.answer
        return self.answer.cleaned()
