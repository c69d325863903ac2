"""The archive's upkeep: listing pages, its statistics, and deleting pages or old versions.

Each page is deleted in one transaction, with everything that hangs on its versions: rows of
the search index, MinHash signatures and bands, earlier texts, and the stored HTML that no
version and no other blob needs any more. A deletion interrupted, even by kill -9, leaves
every page whole or gone. The latest version of a page is never pruned.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from archive import compression, fts
from archive.store import Archive, _version_filter, in_lists
from scraper.models import iso_utc
from scraper.urls import host_of

_AGE = re.compile(r"(\d{1,6})\s*([hdwmy])")
_AGE_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1),
              "m": timedelta(days=30), "y": timedelta(days=365)}


def parse_age(value: str, *, now: datetime | None = None) -> datetime:
    """An --older-than value as the moment before which versions count as old: an age back
    from now (12h, 30d, 2w, 6m for months, 1y) or a date (2026-01-31). ValueError otherwise."""
    text = value.strip().lower()
    moment = now or datetime.now(UTC)
    if match := _AGE.fullmatch(text):
        return moment - int(match.group(1)) * _AGE_UNITS[match.group(2)]
    try:
        day = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not an age like 30d, 6m, 1y or a date like 2026-01-31") from None
    return day if day.tzinfo else day.replace(tzinfo=UTC)


def pages(archive: Archive, *, url_prefix: str | None = None, since: datetime | None = None,
          site: str | None = None) -> Iterator[dict[str, Any]]:
    """Each page in URL order: url, site, title (of its latest version), versions,
    first_seen, last_checked, last_changed. since: pages with a version fetched since then."""
    where, params = _version_filter("v.version = p.latest_version", [], url_prefix=url_prefix, since=since)
    wanted = host_of(f"http://{site}/", www=False) if site else None
    with archive._reading():
        cursor = archive.db.execute(
            "SELECT p.url, v.title, (SELECT count(*) FROM versions WHERE page_id = p.id) AS versions,"
            " p.first_seen, p.last_checked, p.last_changed FROM pages p"
            f" JOIN versions v ON v.page_id = p.id WHERE {where} ORDER BY p.url", params)
        for url, title, versions, first_seen, last_checked, last_changed in cursor:
            page_site = host_of(url, www=False)
            if wanted is not None and page_site != wanted:
                continue
            yield {"url": url, "site": page_site, "title": title, "versions": versions, "first_seen": first_seen,
                   "last_checked": last_checked, "last_changed": last_changed}


def stats(archive: Archive) -> dict[str, Any]:
    """Counts and sizes: pages, versions, runs, the stored HTML (as fetched and as stored),
    the texts (with their Markdown), the search index, the file; and pages and versions by site."""
    db = archive.db
    with archive._reading():
        def one(sql: str) -> int:
            return int(db.execute(sql).fetchone()[0] or 0)

        by_site: dict[str, dict[str, int]] = {}
        for url, versions in db.execute("SELECT p.url, count(v.id) FROM pages p"
                                        " LEFT JOIN versions v ON v.page_id = p.id GROUP BY p.id"):
            entry = by_site.setdefault(host_of(url, www=False), {"pages": 0, "versions": 0})
            entry["pages"] += 1
            entry["versions"] += versions
        file_bytes, free_bytes = _file_and_free_bytes(archive)
        return {
            "pages": one("SELECT count(*) FROM pages"),
            "versions": one("SELECT count(*) FROM versions"),
            "runs": one("SELECT count(*) FROM runs"),
            "html_bytes": one("SELECT sum(size) FROM blobs"),
            "html_stored_bytes": one("SELECT sum(length(content)) FROM blobs"),
            "text_bytes": one("SELECT sum(length(CAST(text AS BLOB)) + coalesce(length(markdown_zstd), 0))"
                              " FROM versions"),
            "index_bytes": one("SELECT sum(length(block)) FROM versions_fts_data"),
            "file_bytes": file_bytes,
            "free_bytes": free_bytes,
            "sites": dict(sorted(by_site.items(), key=lambda item: (-item[1]["pages"], item[0]))),
        }


@dataclass
class Removed:
    """What a deletion took away (or, dry, would take)."""

    pages: int = 0
    versions: int = 0
    blobs: int = 0
    bytes: int = 0
    """Stored bytes of the rows deleted: HTML as compressed, texts, Markdown, earlier texts."""
    urls: list[str] = field(default_factory=list)
    """Pages deleted whole, or (prune) pages that lost versions."""

    def add(self, other: Removed) -> None:
        self.pages += other.pages
        self.versions += other.versions
        self.blobs += other.blobs
        self.bytes += other.bytes
        self.urls += other.urls


def remove(archive: Archive, urls: list[str], *, dry_run: bool = False) -> Removed:
    """Delete pages (found as Archive.page finds them) with all their versions, one transaction
    each. Raises NotArchived, before deleting any, if a URL is not in the archive."""
    found = {page["id"]: page["url"] for page in (archive.page(url) for url in urls)}
    removed = Removed()
    for page_id, url in found.items():
        with archive._write():
            versions = [row[0] for row in archive.db.execute("SELECT id FROM versions WHERE page_id = ?", [page_id])]
            done = _delete_versions(archive, versions, dry_run=dry_run)
            if not dry_run:
                archive.db.execute("DELETE FROM pages WHERE id = ?", [page_id])
                archive.db.execute("DELETE FROM leases WHERE url = ?", [url])
        done.pages, done.urls = 1, [url]
        removed.add(done)
    return removed


def prune(archive: Archive, *, keep: int | None = None, older_than: datetime | None = None,
          url_prefix: str | None = None, dry_run: bool = False) -> Removed:
    """Delete old versions, never a page's latest: those past the `keep` newest of their page,
    and/or fetched before older_than (given both, a version goes only when it is both). One
    transaction a page."""
    if keep is None and older_than is None:
        raise ValueError("say which versions to prune: keep or older_than")
    conditions = ["v.version < p.latest_version"]
    params: list[Any] = []
    if keep is not None:
        conditions.append("v.version <= p.latest_version - ?")
        params.append(keep)
    if older_than is not None:
        conditions.append("v.fetched_at < ?")
        params.append(iso_utc(older_than))
    where, params = _version_filter(" AND ".join(conditions), params, url_prefix=url_prefix, since=None)
    with archive._reading():
        page_ids = [row[0] for row in archive.db.execute(
            f"SELECT DISTINCT p.id FROM versions v JOIN pages p ON p.id = v.page_id WHERE {where}"
            " ORDER BY p.url", params).fetchall()]
    removed = Removed()
    for page_id in page_ids:
        with archive._write():  # chosen again under the lock: a run may have added a version
            rows = archive.db.execute(
                f"SELECT v.id, p.url FROM versions v JOIN pages p ON p.id = v.page_id WHERE p.id = ? AND {where}",
                [page_id, *params]).fetchall()
            if not rows:
                continue
            done = _delete_versions(archive, [row[0] for row in rows], dry_run=dry_run)
        done.urls = [rows[0][1]]
        removed.add(done)
    return removed


def _delete_versions(archive: Archive, version_ids: list[int], *, dry_run: bool) -> Removed:
    """Delete versions, within the caller's transaction, with what only they used: a few
    statements for the whole list, each on a chunk of it at a time."""
    db = archive.db
    removed = Removed(versions=len(version_ids))
    doomed = set(version_ids)
    shas: dict[str, None] = {}  # in order, once each
    for sha256, size in _select_in(
            db, "SELECT html_sha256, length(CAST(text AS BLOB)) + coalesce(length(markdown_zstd), 0)"
            " + (SELECT coalesce(sum(length(CAST(e.text AS BLOB)) + coalesce(length(e.markdown_zstd), 0)), 0)"
            " FROM earlier_texts e WHERE e.version_id = v.id) FROM versions v WHERE v.id IN ({marks})", version_ids):
        removed.bytes += size
        shas[sha256] = None
    if not dry_run:
        _store_alone(archive, version_ids, doomed)
        for chunk, marks in in_lists(version_ids):
            # A contentless index forgets a row when given the values it was given for it.
            db.conn.executemany(
                "INSERT INTO versions_fts (versions_fts, rowid, title, text) VALUES ('delete', ?, ?, ?)",
                [(version_id, fts.indexed(title), fts.indexed(text)) for version_id, title, text in db.execute(
                    f"SELECT id, title, text FROM versions WHERE id IN ({marks})", chunk).fetchall()])
            for table in ("minhash_bands", "minhashes", "earlier_texts"):
                db.execute(f"DELETE FROM {table} WHERE version_id IN ({marks})", chunk)
            db.execute(f"DELETE FROM versions WHERE id IN ({marks})", chunk)
    # Blobs no version needs, then the bases only those were deltas against: a round for each
    # step down the chains of deltas.
    gone: set[str] = set()
    pending = list(shas)
    while pending:
        used = _in_use(db, pending, doomed, gone)
        freed = _select_in(db, "SELECT sha256, length(content), base FROM blobs WHERE sha256 IN ({marks})",
                           [sha256 for sha256 in pending if sha256 not in used])
        for sha256, size, _base in freed:
            removed.blobs += 1
            removed.bytes += size
            gone.add(sha256)
        if not dry_run:
            for chunk, marks in in_lists([row[0] for row in freed]):
                db.execute(f"DELETE FROM blobs WHERE sha256 IN ({marks})", chunk)
        pending = list(dict.fromkeys(base for _sha256, _size, base in freed if base and base not in gone))
    return removed


def _store_alone(archive: Archive, version_ids: list[int], doomed: set[int]) -> None:
    """HTML compressed with a doomed version's text as dictionary, which a version kept or a
    delta still needs, stored again on its own before the text goes."""
    own = [row[0] for row in _select_in(
        archive.db, "SELECT b.sha256 FROM versions v JOIN blobs b ON b.sha256 = v.html_sha256 AND b.text_id = v.id"
        " WHERE v.id IN ({marks})", version_ids)]
    for sha256 in sorted(_in_use(archive.db, own, doomed, set())):
        html = archive._raw_html(sha256)
        archive.db.execute("UPDATE blobs SET content = ?, compression = 'zstd', text_id = NULL, dictionary_id = NULL,"
                           " base = NULL WHERE sha256 = ?", [compression.compress(html), sha256])


def _in_use(db: Any, shas: list[str], doomed: set[int], gone: set[str]) -> set[str]:
    """Those of the blobs still used once the doomed versions and gone blobs are deleted: by
    another version, or as the base of another blob's delta."""
    by_versions = _select_in(db, "SELECT html_sha256, id FROM versions WHERE html_sha256 IN ({marks})", shas)
    by_blobs = _select_in(db, "SELECT base, sha256 FROM blobs WHERE base IN ({marks})", shas)
    return ({sha256 for sha256, version_id in by_versions if version_id not in doomed}
            | {base for base, sha256 in by_blobs if sha256 not in gone})


def _select_in(db: Any, sql: str, values: list[Any]) -> list[Any]:
    """The rows of sql, whose `IN ({marks})` takes values, a chunk at a time."""
    return [row for chunk, marks in in_lists(values) for row in db.execute(sql.format(marks=marks), chunk)]


def vacuum(archive: Archive) -> None:
    """Rewrite the file without its free pages (takes as long as copying the archive)."""
    archive.db.conn.execute("VACUUM")


def file_size(archive: Archive) -> int:
    """Bytes the archive's file holds in use (free pages left out)."""
    file_bytes, free_bytes = _file_and_free_bytes(archive)
    return file_bytes - free_bytes


def _file_and_free_bytes(archive: Archive) -> tuple[int, int]:
    """The size of the archive's file (as SQLite counts its pages), and of its free pages."""
    page_size, pages, free = (int(archive.db.execute(f"PRAGMA {name}").fetchone()[0])
                              for name in ("page_size", "page_count", "freelist_count"))
    return page_size * pages, page_size * free
