"""A run whose pages are fetched and cleaned on a Ray cluster; the archive stays with the driver.

Fetching is partitioned by host: each host's URLs all go to one fetcher actor (a host hashes
to an actor), whose PoliteClient spaces that host's requests, reads its robots.txt with its
Crawl-delay and honours its Retry-After, so politeness holds across the cluster as on one
machine. Each page is then cleaned by a Ray task on any core of any node, under the same time
and memory bounds as locally. The driver schedules as scraper.pipeline does (a window of URLs
read ahead, at most `concurrency` in flight, at most per_host of one host), claims each URL,
passes the stored ETag/Last-Modified with it, and saves each page in its own transaction as
it comes back: it stays the only writer of the archive.

A worker or node that dies costs its in-flight URLs: each is tried once more, then recorded
as failed (WorkerLost). Every wait has a bound, so a lost cluster ends the run instead of
hanging it. Needs the `ray` extra: pip install 'scraper[ray]'.
"""

from __future__ import annotations

import os
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import ray
import ray._private.worker as ray_worker
import ray.exceptions

from archive.store import Archive
from scraper.cleaning_pool import DEFAULT_MEMORY, DEFAULT_TIMEOUT, CleaningPool
from scraper.errors import InternalError, ScraperError
from scraper.fetcher import FetchSettings, Validators
from scraper.models import Article, Page
from scraper.pipeline import WINDOW, HostQueues, Outcome, archive_result, lease_seconds, take_urls
from scraper.politeness import PoliteClient, Politeness
from scraper.ray_cluster import connected

TRIES = 3
"""Times a URL is sent out when the worker or node holding it dies."""


class WorkerLost(ScraperError):
    """The Ray worker or node that held the URL died, or the cluster did not answer in time."""

    reason = "worker lost"


class Fetcher:
    """A Ray actor: one PoliteClient for the hosts that hash to it. Its methods run in threads."""

    def __init__(self, settings: FetchSettings, politeness: Politeness) -> None:
        self.client = PoliteClient(settings, politeness)

    def fetch(self, url: str, validators: Validators | None) -> Page | ScraperError:
        try:
            return self.client.fetch(url, validators=validators)
        except ScraperError as error:  # as a value: Ray would wrap a raised one
            return error
        except Exception as exc:  # a bug on one page must not end a cron run
            return InternalError(f"{type(exc).__name__}: {exc}")

    def pid(self) -> int:
        return os.getpid()


_POOLS: dict[tuple[float, int], CleaningPool] = {}
"""One cleaning process per Ray worker process, kept between the tasks it runs."""


def clean(fetched: Page | ScraperError, timeout: float, memory: int) -> tuple[Page, Article | None] | ScraperError:
    """A Ray task: the page with its article (none for a 304), or why it has none."""
    if isinstance(fetched, ScraperError) or fetched.status == 304:
        return fetched if isinstance(fetched, ScraperError) else (fetched, None)
    pool = _POOLS.get((timeout, memory))
    if pool is None:
        pool = _POOLS[timeout, memory] = CleaningPool(1, timeout=timeout, memory=memory)
    try:
        return fetched, pool.clean(fetched.html, fetched.final_url)
    except ScraperError as error:
        return error
    except Exception as exc:
        return InternalError(f"{type(exc).__name__}: {exc}")


@dataclass
class _Sent:
    url: str
    host: str
    validators: Validators | None
    tries: int
    patience: float
    """Seconds the cluster may take to answer."""
    deadline: float = 0.0
    """time.monotonic() past which the cluster's silence fails the URL."""

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.patience


def run(
    urls: Iterable[str],
    archive: Archive,
    *,
    settings: FetchSettings | None = None,
    politeness: Politeness | None = None,
    concurrency: int = 8,
    run_id: int | None = None,
    clean_timeout: float = DEFAULT_TIMEOUT,
    clean_memory: int = DEFAULT_MEMORY,
    address: str | None = None,
    fetchers: int | None = None,
) -> Iterator[Outcome]:
    """scraper.pipeline.run with the fetching and cleaning on Ray; yields each outcome as it is saved.

    Joins the cluster at `address` (else RAY_ADDRESS) or, with neither, starts a Ray instance
    on this machine for the run and stops it after; an instance the caller started already is
    used as it is. `fetchers` actors (default two per node) share the hosts.
    """
    settings, politeness = settings or FetchSettings(), politeness or Politeness()
    with connected(address):
        actors: list[Any] = []
        printing = ray_worker.print_to_stdstream
        ray_worker.print_to_stdstream = _to_stderr(printing)  # type: ignore[assignment]
        try:
            nodes = ray.nodes()  # type: ignore[no-untyped-call]
            count = fetchers or max(2, 2 * len([node for node in nodes if node.get("Alive")]))
            remote_fetcher = ray.remote(Fetcher).options(num_cpus=0, max_concurrency=concurrency, max_restarts=-1,
                                                         max_task_retries=0)
            actors = [remote_fetcher.remote(settings, politeness) for _ in range(count)]
            remote_clean = ray.remote(clean).options(num_cpus=1, max_retries=0)
            yield from _schedule(urls, archive, actors, remote_clean, settings=settings, politeness=politeness,
                                 concurrency=concurrency, run_id=run_id,
                                 clean_bounds=(clean_timeout, clean_memory))
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


def _schedule(urls: Iterable[str], archive: Archive, actors: list[Any], remote_clean: Any, *,
              settings: FetchSettings, politeness: Politeness, concurrency: int, run_id: int | None,
              clean_bounds: tuple[float, int]) -> Iterator[Outcome]:
    lease = lease_seconds(settings)
    # The cluster's answer for a URL may take the fetch's deadline, a Crawl-delay's waits and the cleaning.
    patience = lease + clean_bounds[0] + 60
    queues = HostQueues(iter(urls), WINDOW)
    in_flight: Counter[str] = Counter()
    pending: dict[Any, _Sent] = {}  # ObjectRef of the cleaned page -> what was sent

    def send(sent: _Sent) -> None:
        actor = actors[zlib.crc32(sent.host.encode()) % len(actors)]  # a host always goes to one actor
        fetched = actor.fetch.remote(sent.url, sent.validators)
        pending[remote_clean.remote(fetched, *clean_bounds)] = sent  # cleaned wherever a core is free

    while True:
        queues.fill()
        for taken in take_urls(queues, archive, run_id, lease, room=lambda: len(pending) < concurrency,
                               ready=lambda host: in_flight[host] < politeness.per_host):
            if isinstance(taken, Outcome):
                yield taken
                continue
            url, host = taken
            in_flight[host] += 1
            send(_Sent(url, host, archive.validators(url), 1, patience))
        if not pending and not queues:
            return
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
        now = time.monotonic()
        for ref in ready or [ref for ref, sent in pending.items() if sent.deadline < now]:
            sent = pending.pop(ref)
            answer = _answer(ref, sent)
            if isinstance(answer, WorkerLost) and sent.tries < TRIES:
                send(_Sent(sent.url, sent.host, sent.validators, sent.tries + 1, patience))
                continue
            in_flight[sent.host] -= 1
            yield archive_result(archive, sent.url, _Unwrap(answer), run_id)
            del answer  # the page is saved: nothing of it stays on the driver


def _answer(ref: Any, sent: _Sent) -> tuple[Page, Article | None] | ScraperError:
    """What the cluster gave for sent, or why it gave nothing."""
    if sent.deadline < time.monotonic():
        ray.cancel(ref, force=True)
        return WorkerLost(f"no answer from the cluster within {sent.patience:g} s")
    try:
        answer: tuple[Page, Article | None] | ScraperError = ray.get(ref, timeout=60)
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
    """The page and article of an answer, or its error raised: what archive_result records."""

    answer: tuple[Page, Article | None] | ScraperError

    def __call__(self) -> tuple[Page, Article | None]:
        if isinstance(self.answer, ScraperError):
            raise self.answer
        return self.answer
