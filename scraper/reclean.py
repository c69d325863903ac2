"""Archived versions cleaned again from their stored HTML by today's cleaner.

A better cleaner changes what the archive would hold for every page, though no page changed:
re-cleaning gives each version the text the current cleaner makes of its HTML, in place (see
Archive.reclean), so that the next fetch of an unchanged page compares with what today's
cleaner makes, and finds it unchanged. Pages are cleaned in a CleaningPool's processes, several
at once, under its time and memory bounds; each version is saved in a transaction of its own,
in the order the versions were made, so a stopped re-clean keeps all it did and the next one
goes on from there (a version already made by the current cleaner is passed over).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from archive.store import Archive, StoredVersion
from scraper.cleaning_pool import CleaningPool, Job, clean_in_order
from scraper.encoding import decode_html
from scraper.errors import InternalError, ScraperError
from scraper.models import Article


@dataclass(frozen=True)
class Recleaned:
    """What became of one version: changed (its text or metadata), unchanged, or failed (the
    cleaner found no article, or failed: the version keeps what it held)."""

    version: StoredVersion
    state: str
    error: ScraperError | None = None


def reclean(archive: Archive, cleaning: CleaningPool, *, cleaner: str, url_prefix: str | None = None,
            since: datetime | None = None, force: bool = False) -> Iterator[Recleaned]:
    """Clean again each version that `cleaner` (today's CLEANER_ID) did not make, or every one
    with force, of pages whose URL starts with url_prefix, fetched since `since`; yield what
    became of each, oldest first. Several are cleaned at once (clean_in_order); the versions are
    saved one by one in the calling thread."""
    versions = archive.to_reclean(cleaner, url_prefix=url_prefix, since=since, force=force)
    for stored, outcome in clean_in_order(cleaning, ((stored, _job(archive, stored)) for stored in versions)):
        yield _settle(archive, stored, outcome)


def _job(archive: Archive, stored: StoredVersion) -> Job:
    """The version's HTML and URL to clean, read here (the archive is not shared between
    threads), or why it cannot be read."""
    try:
        content = archive.raw_html(stored.html_sha256)
    except ScraperError as error:
        return error
    html, _ = decode_html(content, stored.content_type)  # as the fetch that brought it decoded it
    return html, stored.final_url


def _settle(archive: Archive, stored: StoredVersion, outcome: Article | ScraperError | None) -> Recleaned:
    if isinstance(outcome, ScraperError):
        return Recleaned(stored, "failed", outcome)
    assert outcome is not None  # every version has a page to clean
    try:
        changed = archive.reclean(stored.id, outcome)
    except ScraperError as error:
        return Recleaned(stored, "failed", error)
    except Exception as exc:  # a bug on one page must not end the re-clean
        return Recleaned(stored, "failed", InternalError(f"{type(exc).__name__}: {exc}"))
    return Recleaned(stored, "changed" if changed else "unchanged")
