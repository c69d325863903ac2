"""Many URLs through fetch -> clean -> archive: the one place that runs pages concurrently.

run() walks the URLs (scraper.run.pipeline) and hands each to an executor that fetches and
cleans it, here (scraper.run.local: threads and cleaning processes) or on a Ray cluster
(scraper.run.ray, imported only when asked for); every save happens in the calling thread,
one short transaction per page, so the archive has a single writer per run and an
interrupted run keeps all it has saved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from functools import partial

from archive.store import Archive
from scraper.cleaning_pool import DEFAULT_MEMORY, DEFAULT_TIMEOUT, CleaningPool
from scraper.politeness import PoliteClient
from scraper.run import local
from scraper.run.pipeline import Executor, Outcome, lease_seconds, save_page, walk

__all__ = ["Executor", "Outcome", "run", "save_page"]


def run(
    urls: Iterable[str],
    archive: Archive,
    *,
    client: PoliteClient | None = None,
    concurrency: int = 8,
    run_id: int | None = None,
    cleaners: int | None = None,
    cleaning: CleaningPool | None = None,
    ray: bool = False,
    address: str | None = None,
    fetchers: int | None = None,
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

    With ray (or an address), pages are fetched and cleaned on the Ray cluster at `address`
    (else RAY_ADDRESS) or, with neither, on a Ray instance started for the run; an instance
    the caller started already is used as it is. `fetchers` actors (default two per node)
    share the hosts, and pages are cleaned as Ray tasks under `cleaning`'s bounds (or the
    defaults). Raises ImportError at once when the `ray` extra is not installed.
    """
    opened: Callable[[PoliteClient], AbstractContextManager[Executor]]
    if ray or address:
        from scraper.run import ray as on_ray  # without the ray extra: ImportError now, not at the first outcome

        bounds = (DEFAULT_TIMEOUT, DEFAULT_MEMORY) if cleaning is None else (cleaning.timeout, cleaning.memory)
        opened = partial(on_ray.executor, concurrency=concurrency, clean_bounds=bounds, address=address,
                         fetchers=fetchers)
    else:
        opened = partial(local.executor, concurrency=concurrency, cleaners=cleaners, cleaning=cleaning)
    return _run(urls, archive, opened, client, concurrency=concurrency, run_id=run_id)


def _run(urls: Iterable[str], archive: Archive, opened: Callable[[PoliteClient], AbstractContextManager[Executor]],
         client: PoliteClient | None, *, concurrency: int, run_id: int | None) -> Iterator[Outcome]:
    client = client or PoliteClient()
    try:
        with opened(client) as executor:
            yield from walk(urls, archive, executor, concurrency=concurrency, per_host=client.politeness.per_host,
                            lease=lease_seconds(client.settings), run_id=run_id)
    finally:
        client.close()  # in-flight requests fail fast instead of running to their timeouts
