"""Many URLs through fetch -> clean -> archive: the one place that runs pages concurrently.

Fetching and cleaning run in worker threads; every save happens in the calling thread,
one short transaction per page, so the archive has a single writer per run and an
interrupted run keeps all it has saved.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import httpx

from archive.store import Archive, SaveResult
from scraper.cleaner import clean
from scraper.errors import FetchError, InternalError, ScraperError
from scraper.fetcher import FetchSettings, fetch, make_client
from scraper.models import Article, Page
from scraper.urls import is_web_url


@dataclass(frozen=True)
class Outcome:
    """What became of one URL: saved (result) or failed (error)."""

    url: str
    result: SaveResult | None = None
    error: ScraperError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe_error(self) -> str:
        """"URL: what went wrong", whichever kind of error it was."""
        if self.error is None:
            return ""
        message = self.error.message if isinstance(self.error, FetchError) else str(self.error)
        return f"{self.url}: {message}"


def fetch_and_clean(url: str, client: httpx.Client, settings: FetchSettings) -> tuple[Page, Article]:
    if not is_web_url(url):
        raise FetchError(url, "not an http(s) URL")
    page = fetch(url, client=client, settings=settings)
    return page, clean(page.html, url=page.final_url)


def save_page(archive: Archive, page: Page, *, run_id: int | None = None) -> Outcome:
    """Clean a page already in hand and archive it; failures are recorded, not raised."""
    try:
        article = clean(page.html, url=page.final_url)
    except ScraperError as error:
        archive.record_failure(page.url, error, run_id=run_id)
        return Outcome(page.url, error=error)
    return Outcome(page.url, result=archive.save(page, article, run_id=run_id))


def run(
    urls: Iterable[str],
    archive: Archive,
    *,
    settings: FetchSettings | None = None,
    concurrency: int = 8,
    run_id: int | None = None,
) -> Iterator[Outcome]:
    """Fetch, clean and archive each URL; yield each outcome as it completes.

    At most `concurrency` URLs are in flight and only twice that many queued, so a list
    of any length runs in constant memory. Stopping the iteration (or an exception such
    as KeyboardInterrupt in the caller) cancels what has not started.
    """
    settings = settings or FetchSettings()
    client = make_client(settings)
    executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fetch")
    pending: dict[Future[tuple[Page, Article]], str] = {}
    todo = iter(urls)
    try:
        while True:
            for url in todo:
                pending[executor.submit(fetch_and_clean, url, client, settings)] = url
                if len(pending) >= 2 * concurrency:
                    break
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                url = pending.pop(future)
                try:
                    page, article = future.result()
                except ScraperError as error:
                    archive.record_failure(url, error, run_id=run_id)
                    yield Outcome(url, error=error)
                except Exception as exc:  # a bug on one page must not end a cron run
                    internal = InternalError(f"{type(exc).__name__}: {exc}")
                    archive.record_failure(url, internal, run_id=run_id)
                    yield Outcome(url, error=internal)
                else:
                    yield Outcome(url, result=archive.save(page, article, run_id=run_id))
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        client.close()  # in-flight requests fail fast instead of running to their timeouts
