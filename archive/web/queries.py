"""What the web view reads from the archive: plain dicts, ready for a template or for JSON.

Every function takes an Archive opened read-only and runs only SELECTs (the near-duplicates
of a page too: see serve_similar). SQLite errors become ArchiveError.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from archive import compression, fts
from archive.diff import counted, word_diff
from archive.similar import similar, store_nothing
from archive.store import Archive
from scraper.errors import ArchiveError, NotArchived, SearchError
from scraper.urls import host_of

PAGE_SIZE = 50
SORTS = {
    "changed": "p.last_changed DESC, p.id DESC",
    "checked": "p.last_checked DESC, p.id DESC",
    "versions": "p.latest_version DESC, p.last_changed DESC",
    "title": "v.title COLLATE NOCASE, p.id",
    "url": "p.url, p.id",
}
"""The orders of the pages list, by name; with a search, "relevance" (the default) too."""
_PAGE_COLUMNS = ("p.id, p.url, site(p.url) AS site, v.title, v.site_name, p.latest_version AS versions, v.word_count,"
                 " p.first_seen, p.last_checked, p.last_changed")
_RUN_COLUMNS = "id, command, started_at, finished_at, status, urls, new_versions, unchanged, failed, skipped, host"


def prepare(archive: Archive) -> None:
    """The SQL function site() (a page's host, and port if not the default) on the archive's
    connection, and near-duplicates kept in memory."""
    archive.db.conn.create_function("site", 1, host_of, deterministic=True)
    store_nothing(archive)


@contextmanager
def _reading(archive: Archive) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise ArchiveError(f"cannot read {archive.path}: {exc}") from exc


def _rows(archive: Archive, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with _reading(archive):
        cursor = archive.db.execute(sql, list(params))
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def pages(archive: Archive, *, query: str = "", site_filter: str = "", sort: str = "",
          offset: int = 0, limit: int = PAGE_SIZE) -> dict[str, Any]:
    """Archived pages with their latest title: all, those of a site, those whose latest version
    matches a full-text query (words that must all appear, "quoted phrases"); a page of them."""
    where, params = ["p.latest_version > 0"], []
    source = "pages p JOIN versions v ON v.page_id = p.id AND v.version = p.latest_version"
    columns = _PAGE_COLUMNS
    if query.strip():
        source = ("versions_fts JOIN versions v ON v.rowid = versions_fts.rowid"
                  " JOIN pages p ON p.id = v.page_id AND v.version = p.latest_version")
        where.append("versions_fts MATCH ?")
        params.append(fts.match_expression(query, syntax=False))
        columns += ", v.text, bm25(versions_fts, 3.0, 1.0) AS rank"
    if site_filter:
        where.append("site(p.url) = ?")
        params.append(site_filter)
    sort = sort if sort in SORTS or (sort == "relevance" and query.strip()) else (
        "relevance" if query.strip() else "changed")
    order = "rank, p.id" if sort == "relevance" else SORTS[sort]
    condition = " AND ".join(where)
    try:
        rows = _rows(archive, f"SELECT {columns} FROM {source} WHERE {condition} ORDER BY {order} LIMIT ? OFFSET ?",
                     [*params, limit, offset])
        total = _rows(archive, f"SELECT count(*) AS n FROM {source} WHERE {condition}", params)[0]["n"]
    except ArchiveError as exc:
        if query.strip() and isinstance(exc.__cause__, sqlite3.OperationalError):
            raise SearchError(f"cannot search for {query!r}: {exc.__cause__}") from exc
        raise
    for row in rows:
        if "text" in row:
            row["snippet"] = fts.snippet(row.pop("text") or "", query, syntax=False)
            row["rank"] = round(row["rank"], 4)
    return {"query": query, "site": site_filter, "sort": sort, "offset": offset, "limit": limit,
            "total": total, "pages": rows}


def sites(archive: Archive) -> list[dict[str, Any]]:
    return _rows(archive, "SELECT site(url) AS site, count(*) AS pages FROM pages WHERE latest_version > 0"
                          " GROUP BY 1 ORDER BY 1")


def page(archive: Archive, page_id: int) -> dict[str, Any]:
    rows = _rows(archive, "SELECT p.id, p.url, site(p.url) AS site, p.final_url, p.first_seen, p.last_checked,"
                          " p.last_changed, p.latest_version, v.title FROM pages p"
                          " LEFT JOIN versions v ON v.page_id = p.id AND v.version = p.latest_version"
                          " WHERE p.id = ?", [page_id])
    if not rows:
        raise NotArchived(f"no page {page_id} in the archive")
    return rows[0]


def timeline(archive: Archive, page_id: int) -> list[dict[str, Any]]:
    """A page's versions, newest first, without their text."""
    return _rows(archive, "SELECT version, fetched_at, final_url, status, title, word_count, words_added,"
                          " words_removed, cleaner FROM versions WHERE page_id = ? ORDER BY version DESC", [page_id])


def page_failures(archive: Archive, url: str, limit: int = 20) -> list[dict[str, Any]]:
    """The page's failed fetches, newest first (found through the outcome index: fetches has none on url)."""
    return _rows(archive, "SELECT run_id, at, reason, status, error FROM fetches WHERE outcome = 'failed'"
                          " AND url = ? ORDER BY id DESC LIMIT ?", [url, limit])


def near_duplicates(archive: Archive, url: str) -> list[dict[str, Any]]:
    found = similar(archive, url)
    ids = {row["url"]: row["id"] for row in _rows(
        archive, f"SELECT id, url FROM pages WHERE url IN ({', '.join('?' * len(found))})",
        [match.url for match in found])} if found else {}
    return [{"page_id": ids.get(match.url), "url": match.url, "title": match.title, "version": match.version,
             "similarity": round(match.similarity, 3)} for match in found]


def version(archive: Archive, page_id: int, number: int) -> dict[str, Any]:
    """One version with its text, Markdown and metadata (headers and authors decoded)."""
    rows = _rows(archive, "SELECT * FROM versions WHERE page_id = ? AND version = ?", [page_id, number])
    if not rows:
        raise NotArchived(f"page {page_id} has no version {number}")
    row = rows[0]
    row["markdown"] = compression.unpack_markdown(row.pop("markdown_zstd"), row["text"])
    row["headers"] = json.loads(row["headers"] or "{}")
    row["authors"] = json.loads(row["authors"] or "[]")
    return row


def diff(archive: Archive, page_id: int, older: int, newer: int) -> dict[str, Any]:
    before, after = version(archive, page_id, older), version(archive, page_id, newer)
    changes = word_diff(before["text"] or "", after["text"] or "")
    added, removed = counted(changes)
    return {
        "from": {key: before[key] for key in ("version", "fetched_at", "title")},
        "to": {key: after[key] for key in ("version", "fetched_at", "title")},
        "words_added": added, "words_removed": removed,
        "changes": [{"op": change.op, "text": change.text} for change in changes],
    }


def runs(archive: Archive, limit: int = 50) -> list[dict[str, Any]]:
    return _rows(archive, f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?", [limit])


def run(archive: Archive, run_id: int) -> dict[str, Any]:
    found = _rows(archive, f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", [run_id])
    if not found:
        raise NotArchived(f"no run {run_id} in the archive")
    fetches = _rows(archive, "SELECT f.at, f.url, f.outcome, f.version, f.status, f.reason, f.error,"
                             " p.id AS page_id FROM fetches f LEFT JOIN pages p ON p.url = f.url"
                             " WHERE f.run_id = ? AND f.outcome != 'unchanged' ORDER BY f.id LIMIT 1000", [run_id])
    return {"run": found[0], "fetches": fetches}


def failures(archive: Archive, runs: int = 1) -> list[dict[str, Any]]:
    """Failed fetches of the last `runs` runs, newest run first, as `scraper failures` lists them."""
    return _rows(archive, "SELECT f.run_id, f.at, f.url, f.reason, f.status, f.error, p.id AS page_id FROM fetches f"
                          " LEFT JOIN pages p ON p.url = f.url WHERE f.outcome = 'failed' AND f.run_id IN"
                          " (SELECT id FROM runs ORDER BY id DESC LIMIT ?) ORDER BY f.run_id DESC, f.id", [runs])


def changes(archive: Archive, *, site_filter: str = "", limit: int = 50) -> list[dict[str, Any]]:
    """The newest versions (a new page is its version 1), newest first, each with its word diff
    against the version before."""
    where = "WHERE site(p.url) = ?" if site_filter else ""
    # The version before comes in the same query (none for a first version, or one pruned away).
    rows = _rows(archive, "SELECT p.id AS page_id, p.url, v.version, v.fetched_at, v.title, v.word_count,"
                          " v.words_added, v.words_removed, v.text, prev.text AS before_text"
                          " FROM versions v JOIN pages p ON p.id = v.page_id"
                          " LEFT JOIN versions prev ON prev.page_id = v.page_id AND prev.version = v.version - 1"
                          f" {where} ORDER BY v.fetched_at DESC, v.id DESC LIMIT ?",
                 [site_filter, limit] if site_filter else [limit])
    for row in rows:
        text, before = row.pop("text") or "", row.pop("before_text") or ""
        row["changes"] = [{"op": change.op, "text": change.text} for change in word_diff(before, text)] \
            if row["version"] > 1 else []
        row["opening"] = [paragraph for paragraph in text.split("\n") if paragraph.strip()][:3]
    return rows
