"""Archive: versioned snapshots of pages in one SQLite file.

A page gets a new version only when its cleaned content (title or text) changes; an
unchanged fetch only moves its last-checked time. Each save is one short transaction,
so an interrupted run leaves every completed page saved and the file valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import zstandard
from sqlite_utils import Database

from archive import compression, fts, packing
from archive.diff import word_changes
from archive.packing import TEXT_METHODS, Blob, Dictionary, Packed
from archive.schema import missing_table, needs_upgrade, ours, upgrade
from scraper.errors import ArchiveError, NotArchived, ScraperError, SearchError, Skipped
from scraper.fetcher import Validators
from scraper.models import Article, Page, iso_utc, utc_now
from scraper.urls import canonical_url

MERGE_PAGES = 256
"""Pages of search index (rows of versions_fts_data, up to 4 KB each) that the end of a run may
write merging its segments: about 1 MB, a few tens of milliseconds, whatever the archive's size."""
DICTIONARY_SAMPLES = 128
"""Newest pages' HTMLs that the archive's dictionary is trained on, up to DICTIONARY_SAMPLE_BYTES
in all (a fraction of a second to train); pages over a 32nd of that are left out. It is trained
once there are DICTIONARY_MIN_SAMPLES of them, and a hundred times the dictionary's size in all
(zstd's advice)."""
DICTIONARY_MIN_SAMPLES = 32
DICTIONARY_SAMPLE_BYTES = 16 * 1024 * 1024
LOCK_PATIENCE = 600.0
"""Seconds a write waits for the write lock while another process holds it (one busy timeout
at a time, tried again), before it gives up with ArchiveError: a page's finished work is worth
waiting for, and nothing of ours holds the lock for more than a moment."""


@dataclass(frozen=True)
class SaveResult:
    url: str
    version: int
    changed: bool
    """True when this save made a new version."""
    title: str | None
    word_count: int
    final_url: str


class Archive:
    """A SQLite file of pages, their versions and the runs that fetched them."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0, readonly: bool = False,
                 lock_patience: float = LOCK_PATIENCE) -> None:
        """Open (or, unless readonly, create) the archive at path, upgrading its schema.

        readonly: never create, migrate or write the file (commands that only read), opening it
        with SQLite's mode=ro, or immutable=1 where the folder is read-only too (then changes
        still in a -wal file beside it are not seen); closing takes away the -wal and -shm files
        reading made (see _tidy_wal). lock_patience: see LOCK_PATIENCE.
        """
        self.path = Path(path)
        self.readonly = readonly
        self.lock_patience = lock_patience
        self._dictionaries: dict[int, bytes] = {}
        try:
            # isolation_level=None: transactions are opened explicitly, see _write().
            self.db = Database(self._connect(busy_timeout))
        except sqlite3.Error as exc:
            if "not a database" in str(exc):
                raise ArchiveError(f"{self.path} is not a SQLite database") from exc
            raise ArchiveError(f"cannot open {self.path}: {exc}") from exc
        try:
            self._check()
            if not readonly:
                self._prepare(time.monotonic() + busy_timeout)
        except ArchiveError:
            self.db.close()
            raise
        except sqlite3.DatabaseError as exc:
            self.db.close()
            if "not a database" in str(exc):
                raise ArchiveError(f"{self.path} is not a SQLite database") from exc
            raise ArchiveError(f"{self.path}: not a usable archive ({exc})") from exc

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        if not self.readonly:
            return sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None)
        uri = self.path.resolve().as_uri()
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=busy_timeout, isolation_level=None)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            # A WAL file whose -shm cannot be made or written: a read-only folder. Not when busy:
            # immutable=1 reads the file without locks, as it stands mid-write.
            if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
                raise
        if not self.path.is_file():
            raise ArchiveError(f"no archive at {self.path}")
        return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None)

    def _check(self) -> None:
        """Refuse a SQLite file that is neither empty nor an archive, and an archive missing a table."""
        if not self.db.table_names():
            if self.readonly:
                raise ArchiveError(f"{self.path} holds no archive yet")
            return
        if not ours(self.db):
            raise ArchiveError(f"{self.path} is a SQLite database but not a scraper archive")
        table = missing_table(self.db)
        if table is not None:
            raise ArchiveError(f"{self.path} is damaged: table {table} is missing")

    def _prepare(self, give_up: float) -> None:
        """WAL mode and an up-to-date schema. Switching a new file to WAL can fail at once with
        "database is locked" while another process opens it too (SQLite's busy wait does not
        cover it), so that is retried until give_up."""
        while True:
            try:
                if self.db.execute("PRAGMA page_count").fetchone()[0] == 0:
                    self._new_file()
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.execute("PRAGMA foreign_keys=ON")
                if needs_upgrade(self.db):
                    with self._write():  # one process migrates, the others wait
                        upgrade(self.db)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > give_up:
                    raise
                time.sleep(0.05)

    def _new_file(self) -> None:
        """Settings a database takes only before its first table: pages of 2 KiB, as most rows
        (an HTML blob, a version's text) span several pages and leave half of their last one
        empty on average; free pages that can be given back to the file system (see _tidy).
        The page size goes first: set after auto_vacuum, it does not take. Harmless if another
        process made the file meanwhile: then both do nothing."""
        self.db.execute("PRAGMA page_size=2048")
        self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")

    def close(self) -> None:
        self.db.close()
        if self.readonly:
            self._tidy_wal()

    def _tidy_wal(self) -> None:
        """Take away the -wal and -shm files that a read-only connection leaves beside the
        archive (only a connection that may write removes them, as the last one to close), so
        that reading leaves one file as it found it. A connection that can write is opened and
        closed without writing: as the last one, SQLite checkpoints the WAL (empty, unless a
        writer died mid-run: then its committed pages go into the file, as the next writer
        would put them) and removes both; beside a live writer it does nothing. Where the file
        cannot be written, nothing happens."""
        if not self.path.with_name(self.path.name + "-wal").exists():
            return
        with suppress(sqlite3.Error):
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=rw", uri=True, timeout=0)
            try:
                conn.execute("PRAGMA query_only=1")
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                conn.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()

    def _write(self) -> _Immediate:
        """A write transaction taken up front, so concurrent writers queue, never deadlock.
        Read-only, a transaction that writes only temporary tables (see similar.refresh_index)."""
        return _Immediate(self.db.conn, patience=self.lock_patience, begin="BEGIN" if self.readonly else None)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """SQLite errors while reading (a damaged or foreign file) as one-line ArchiveErrors."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._read_error(exc) from exc

    def _read_error(self, exc: sqlite3.Error) -> ArchiveError:
        missing = str(exc).removeprefix("no such table: ")
        if missing != str(exc):
            return ArchiveError(f"{self.path} is damaged: table {missing.removeprefix('main.')} is missing")
        return ArchiveError(f"cannot read {self.path}: {exc}")

    # ---- writing -------------------------------------------------------------------

    def save(self, page: Page, article: Article, *, packed: Packed | None = None,
             run_id: int | None = None) -> SaveResult:
        """Store a snapshot of page; a new version only if the article changed.

        The slow part (compressing the HTML and the Markdown, counting the words changed: a
        few milliseconds, tens on a long edited page) is done before the write lock, against
        the page's latest version as read then, so that other writers wait only for the rows.
        Should another writer save this page in between, it is done again under the lock.

        `packed`, the page and article packed elsewhere (archive.packing.pack, where the page
        was cleaned), saves this process the packing: it is checked (ArchiveError, and nothing
        written, when its HTML's hash, dictionary, HTML or Markdown are not the page's) and
        kept. An edited page's delta against its previous HTML is still tried here, and the
        smaller form kept; an unchanged page ignores it.
        """
        url = canonical_url(page.url)
        now = iso_utc(page.fetched_at)
        try:
            plan = self._plan(url, page, article, packed)
        except sqlite3.Error as exc:
            raise ArchiveError(f"cannot read the archive: {exc}") from exc
        with self._write():
            if self._latest(url) != plan.latest:
                plan = self._plan(url, page, article, packed)
            if plan.latest is None:
                page_id = self._insert("pages", {"url": url, "final_url": page.final_url, "first_seen": now,
                                                 "last_checked": now, "latest_version": 0})
                latest = 0
            else:
                page_id, latest = plan.latest.page_id, plan.latest.version
            version = latest + 1 if plan.changed else latest
            if plan.changed:
                # The id is taken here, not left to the insert, so that a blob compressed against
                # this version's text can name it; the write lock makes max(id) + 1 free.
                version_id = self.db.execute("SELECT coalesce(max(id), 0) + 1 FROM versions").fetchone()[0]
                if plan.blob is not None:
                    blob = plan.blob
                    self.db.execute(
                        "INSERT OR IGNORE INTO blobs (sha256, size, compression, content, base, text_id, dictionary_id)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [plan.html_sha256, len(page.content), blob.method, blob.content, blob.base,
                         version_id if blob.method in TEXT_METHODS else None, blob.dictionary_id],
                    )
                self.db.execute("INSERT INTO versions_fts (rowid, title, text) VALUES (?, ?, ?)",
                                [version_id, plan.title_indexed, plan.text_indexed])
                self._insert("versions", {
                    "id": version_id, "page_id": page_id, "version": version, "fetched_at": now,
                    "final_url": page.final_url, "status": page.status,
                    "headers": json.dumps(page.headers), "encoding": page.encoding,
                    "html_sha256": plan.html_sha256, "content_hash": article.content_hash,
                    "title": article.title, "author": article.author,
                    "authors": json.dumps(list(article.authors), ensure_ascii=False),
                    "published": article.published, "modified": article.modified,
                    "language": article.language,
                    "site_name": article.site_name, "description": article.description,
                    "canonical_url": article.canonical_url, "image": article.image,
                    "word_count": article.word_count, "text": article.text,
                    "markdown_zstd": plan.markdown_zstd,
                    "words_added": plan.words_added, "words_removed": plan.words_removed,
                    "cleaner": article.cleaner or _current_cleaner(),
                })
                self.db.execute(
                    "UPDATE pages SET latest_version = ?, last_changed = ? WHERE id = ?",
                    [version, now, page_id],
                )
            self.db.execute(
                "UPDATE pages SET last_checked = ?, final_url = ?, etag = ?, last_modified = ? WHERE id = ?",
                [now, page.final_url, page.headers.get("etag"), page.headers.get("last-modified"), page_id],
            )
            self._log(run_id, url, "new" if plan.changed else "unchanged", version=version, status=page.status)
        return SaveResult(url, version, plan.changed, article.title, article.word_count, page.final_url)

    def _latest(self, url: str) -> _Latest | None:
        row = self.db.execute(
            "SELECT p.id, p.latest_version, v.content_hash, v.html_sha256 FROM pages p"
            " LEFT JOIN versions v ON v.page_id = p.id AND v.version = p.latest_version WHERE p.url = ?", [url]
        ).fetchone()
        return None if row is None else _Latest(*row)

    def _plan(self, url: str, page: Page, article: Article, packed: Packed | None = None) -> _Plan:
        """What saving article as the page's next version would write, worked out from the
        page's latest version as it stands (with `packed`, checked, when given)."""
        latest = self._latest(url)
        previous = latest if latest is not None and latest.content_hash is not None else None
        if previous is not None and previous.content_hash == article.content_hash:
            return _Plan(latest, changed=False)
        if packed is None:
            packed = packing.pack(page.content, article, self.dictionary(), stored=self._stored)
            blob = packed.blob
        else:
            self._check_packed(packed, page, article)
            stored = self._stored(packed.html_sha256)
            if not stored and packed.blob is None:
                raise ArchiveError(f"the page packed for {page.url} holds no HTML, and the archive has none of it")
            blob = None if stored else packed.blob
        if blob is not None and previous is not None and previous.html_sha256 is not None:
            # An edited page mostly repeats its previous HTML: a delta against it may be smaller.
            keyframe = self._keyframe(previous.html_sha256)
            delta = Blob(compression.compress(page.content, like=self.raw_html(keyframe)), "zstd", base=keyframe)
            blob = min(blob, delta, key=lambda form: len(form.content))
        before = "" if previous is None else self.db.execute(
            "SELECT text FROM versions WHERE page_id = ? AND version = ?", [previous.page_id, previous.version]
        ).fetchone()[0]
        added, removed = word_changes(before, article.text, words_after=article.word_count)
        return _Plan(
            latest, changed=True, html_sha256=packed.html_sha256, blob=blob, markdown_zstd=packed.markdown_zstd,
            words_added=added, words_removed=removed,
            title_indexed=packed.title_indexed, text_indexed=packed.text_indexed,
        )

    def _stored(self, html_sha256: str) -> bool:
        return self.db.execute("SELECT 1 FROM blobs WHERE sha256 = ?", [html_sha256]).fetchone() is not None

    def _check_packed(self, packed: Packed, page: Page, article: Article) -> None:
        """Raise ArchiveError unless packed is page's HTML and article's Markdown: its hash is the
        HTML's, its blob names a dictionary the archive has (or none) and decompresses to the
        HTML, its Markdown to the article's. (The search index's forms are not checked: working
        them out again costs what packing them did, and a wrong one loses nothing stored.)"""
        what = f"the page packed for {page.url}"
        if packed.html_sha256 != hashlib.sha256(page.content).hexdigest():
            raise ArchiveError(f"{what} names HTML that is not the page's (sha256 {packed.html_sha256})")
        blob = packed.blob
        if blob is not None:
            trained = b""
            if blob.base is not None or blob.method not in ("zstd", *TEXT_METHODS) \
                    or (blob.dictionary_id is not None) != (blob.method == "zstd-dict-text"):
                raise ArchiveError(f"{what} holds its HTML in a form this archive does not take ({blob.method})")
            if blob.dictionary_id is not None:
                try:
                    trained = self._dictionary(blob.dictionary_id)
                except ArchiveError:
                    raise ArchiveError(f"{what} is compressed with dictionary {blob.dictionary_id},"
                                       " which this archive does not have") from None
            try:
                html = packing.unpack_text_form(blob, article.text, trained)
            except zstandard.ZstdError:
                html = None
            if html != page.content:
                raise ArchiveError(f"{what} does not decompress to the page's HTML")
        try:
            markdown = compression.unpack_markdown(packed.markdown_zstd, article.text)
        except (zstandard.ZstdError, UnicodeDecodeError):
            markdown = None
        if markdown != article.markdown:
            raise ArchiveError(f"{what} does not decompress to the article's Markdown")

    def not_modified(self, page: Page, *, run_id: int | None = None) -> SaveResult:
        """Record a 304 answer to a conditional GET: the latest version is still current."""
        url = canonical_url(page.url)
        now = iso_utc(page.fetched_at)
        with self._write():
            row = self.db.execute(
                "SELECT p.id, p.latest_version, v.title, v.word_count FROM pages p"
                " JOIN versions v ON v.page_id = p.id AND v.version = p.latest_version WHERE p.url = ?", [url]
            ).fetchone()
            if row is None:
                raise NotArchived(f"{page.url} answered 304 Not Modified but has no version in the archive")
            page_id, version, title, words = row
            self.db.execute("UPDATE pages SET last_checked = ?, final_url = ? WHERE id = ?",
                            [now, page.final_url, page_id])
            self._log(run_id, url, "unchanged", version=version, status=page.status)
        return SaveResult(url, version, False, title, words, page.final_url)

    def reclean(self, version_id: int, article: Article) -> bool:
        """Give a version the text and metadata that today's cleaner made of its HTML (article);
        True when they differ from what it held.

        The version keeps its number, its time and its word changes, and its page is not
        changed: they tell how the page changed, not the cleaner. What the version held goes to
        earlier_texts. The search index follows; the near-duplicate index makes the version's
        signature anew when next asked for; HTML compressed with the old text as dictionary is
        compressed again with the new. Either way the version is marked as made by article's
        cleaner.
        """
        cleaner = article.cleaner or _current_cleaner()
        new = {
            "content_hash": article.content_hash, "title": article.title, "author": article.author,
            "authors": json.dumps(list(article.authors), ensure_ascii=False), "published": article.published,
            "modified": article.modified, "language": article.language, "site_name": article.site_name,
            "description": article.description, "canonical_url": article.canonical_url, "image": article.image,
            "word_count": article.word_count, "text": article.text,
        }
        with self._write():
            cursor = self.db.execute(f"SELECT {', '.join(new)}, markdown_zstd, cleaner FROM versions WHERE id = ?",
                                     [version_id])
            row = cursor.fetchone()
            if row is None:
                raise NotArchived(f"no version with id {version_id}")
            old = dict(zip([column[0] for column in cursor.description], row, strict=True))
            markdown = compression.unpack_markdown(old["markdown_zstd"], old["text"])
            if all(old[key] == value for key, value in new.items()) and markdown == article.markdown:
                self.db.execute("UPDATE versions SET cleaner = ? WHERE id = ?", [cleaner, version_id])
                return False
            self._insert("earlier_texts", {"version_id": version_id, "replaced_at": iso_utc(utc_now()),
                                           "replaced_by": cleaner, **old})
            self._recompress_against(version_id, old["text"], article.text)
            # A contentless index forgets a row when given the values it was given for it.
            self.db.execute("INSERT INTO versions_fts (versions_fts, rowid, title, text) VALUES ('delete', ?, ?, ?)",
                            [version_id, fts.indexed(old["title"]), fts.indexed(old["text"])])
            self.db.execute("INSERT INTO versions_fts (rowid, title, text) VALUES (?, ?, ?)",
                            [version_id, fts.indexed(article.title), fts.indexed(article.text)])
            for table in ("minhash_bands", "minhashes"):
                self.db.execute(f"DELETE FROM {table} WHERE version_id = ?", [version_id])
            self.db.execute(
                f"UPDATE versions SET {', '.join(f'{key} = ?' for key in new)}, markdown_zstd = ?, cleaner = ?"
                " WHERE id = ?",
                [*new.values(), compression.pack_markdown(article.markdown, article.text), cleaner, version_id],
            )
        return True

    def _recompress_against(self, version_id: int, old_text: str, new_text: str) -> None:
        """Compress the HTML stored with version_id's text as dictionary again, with new_text. Only
        the version's own HTML can be: a blob names the version that brought it. (Found by its
        key: text_id has no index, and lies past the content a scan would read.)"""
        for sha256, method, content, dictionary_id in self.db.execute(
            "SELECT sha256, compression, content, dictionary_id FROM blobs"
            " WHERE sha256 = (SELECT html_sha256 FROM versions WHERE id = ?) AND text_id = ?", [version_id, version_id]
        ).fetchall():
            if method not in TEXT_METHODS:
                raise ArchiveError(f"stored HTML {sha256} is compressed as {method!r}, unknown to this version")
            trained = self._dictionary(dictionary_id) if method == "zstd-dict-text" else b""
            html = compression.decompress(content, like=trained + old_text.encode())
            packed = compression.compress(html, like=trained + new_text.encode())
            # Checked before the old form goes: the page's HTML exists nowhere else.
            if hashlib.sha256(compression.decompress(packed, like=trained + new_text.encode())).hexdigest() != sha256:
                raise ArchiveError(f"stored HTML {sha256} does not read back compressed with its new text")
            self.db.execute("UPDATE blobs SET content = ? WHERE sha256 = ?", [packed, sha256])

    def to_reclean(self, cleaner: str, *, url_prefix: str | None = None, since: datetime | None = None,
                   force: bool = False) -> Iterator[StoredVersion]:
        """The versions whose text `cleaner` did not make (with force, all of them) of pages
        whose URL starts with url_prefix, fetched since `since`, oldest first. Read a batch at
        a time: the caller may write between two, and memory stays flat."""
        where, params = _reclean_filter(cleaner, url_prefix=url_prefix, since=since, force=force)
        after = 0
        while True:
            with self._reading():
                rows = self.db.execute(
                    "SELECT v.id, p.url, v.version, coalesce(v.final_url, p.url), v.html_sha256, v.headers, v.cleaner"
                    f" FROM versions v JOIN pages p ON p.id = v.page_id WHERE v.id > ? AND {where}"
                    " ORDER BY v.id LIMIT ?", [after, *params, _RECLEAN_BATCH],
                ).fetchall()
            if not rows:
                return
            for version_id, url, version, final_url, html_sha256, headers, made_by in rows:
                content_type = str(json.loads(headers or "{}").get("content-type", ""))
                yield StoredVersion(version_id, url, version, final_url, html_sha256, content_type, made_by)
            after = rows[-1][0]

    def count_to_reclean(self, cleaner: str, *, url_prefix: str | None = None, since: datetime | None = None,
                         force: bool = False) -> int:
        """How many versions to_reclean() would give."""
        where, params = _reclean_filter(cleaner, url_prefix=url_prefix, since=since, force=force)
        with self._reading():
            return int(self.db.execute(f"SELECT count(*) FROM versions v JOIN pages p ON p.id = v.page_id"
                                       f" WHERE {where}", params).fetchone()[0])

    def tidy(self) -> None:
        """The upkeep that ends a run (merging the search index's segments, giving free pages
        back), for other commands that write many rows."""
        self._tidy()

    def record_failure(self, url: str, error: ScraperError, *, run_id: int | None = None) -> None:
        """Note that url could not be archived, and why (or that it was skipped on purpose)."""
        status = getattr(error, "status", None)
        outcome = "skipped" if isinstance(error, Skipped) else "failed"
        with self._write():
            self._log(run_id, canonical_url(url), outcome, status=status, reason=error.reason, error=error.message)

    def claim(self, url: str, run_id: int, *, seconds: float) -> int | None:
        """Lease url to run_id for `seconds`, unless another live run holds it.

        Returns None when claimed, else the id of the run that holds the URL. The claim ends
        when the run records the URL's outcome; a claim is taken over when it has expired or
        its run is over: finished, or its process gone.
        """
        url = canonical_url(url)
        now = time.time()
        with self._write():
            row = self.db.execute(
                "SELECT l.run_id, l.expires_at, r.status, r.host, r.pid FROM leases l"
                " LEFT JOIN runs r ON r.id = l.run_id WHERE l.url = ?", [url]
            ).fetchone()
            if row is not None and row[0] != run_id and row[1] >= now and _alive(*row[2:]):
                return int(row[0])
            self.db.execute(
                "INSERT OR REPLACE INTO leases (url, run_id, expires_at) VALUES (?, ?, ?)",
                [url, run_id, now + seconds],
            )
        return None

    def known(self, url: str) -> Known:
        """What a run sends with url: the ETag and Last-Modified of the page's last fetch, and its
        latest version's content hash (a page cleaned to it again is unchanged and need not be
        packed); None for what the archive does not have."""
        with self._reading():
            row = self.db.execute(
                "SELECT p.etag, p.last_modified, v.content_hash FROM pages p JOIN versions v"
                " ON v.page_id = p.id AND v.version = p.latest_version WHERE p.url = ?", [canonical_url(url)]
            ).fetchone()
        if row is None:
            return Known(None, None)
        etag, last_modified, content_hash = row
        validators = Validators(etag=etag, last_modified=last_modified) if etag or last_modified else None
        return Known(validators, content_hash)

    def start_run(self, command: str) -> int:
        """A new run, as running; runs of this machine left running by a process that is gone
        (killed with kill -9, or the machine stopped) become killed."""
        with self._write():
            host = socket.gethostname()
            for run_id, pid in self.db.execute(
                "SELECT id, pid FROM runs WHERE status = 'running' AND host = ?", [host]
            ).fetchall():
                if not _alive("running", host, pid):
                    self.db.execute("UPDATE runs SET status = 'killed' WHERE id = ?", [run_id])
            cursor = self.db.execute(
                "INSERT INTO runs (command, started_at, status, host, pid) VALUES (?, ?, 'running', ?, ?)",
                [command, iso_utc(utc_now()), socket.gethostname(), os.getpid()],
            )
        return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, *, status: str, urls: int) -> None:
        with self._write():
            counts = dict(self.db.execute(
                "SELECT outcome, count(*) FROM fetches WHERE run_id = ? GROUP BY outcome", [run_id]
            ).fetchall())
            self.db.table("runs").update(run_id, {
                "finished_at": iso_utc(utc_now()), "status": status, "urls": urls,
                "new_versions": counts.get("new", 0), "unchanged": counts.get("unchanged", 0),
                "failed": counts.get("failed", 0), "skipped": counts.get("skipped", 0),
            })
            self.db.execute("DELETE FROM leases WHERE run_id = ?", [run_id])
        if status == "finished":  # not when interrupted: Ctrl-C should end a run at once
            self._train_dictionary()
        self._tidy()

    def _tidy(self) -> None:
        """Bounded upkeep at the end of a run. Each write added a segment to the search index:
        an index of at most MERGE_PAGES pages is merged into one; a larger one has segments of
        a size merged two at a time, MERGE_PAGES pages of it a run, as merging it all would
        rewrite the whole index every run. Then free pages go back to the file system
        (in a database made with auto_vacuum; in an older one that does nothing)."""
        with self._write():
            pages = self.db.execute("SELECT count(*) FROM (SELECT 1 FROM versions_fts_data LIMIT ?)",
                                    [MERGE_PAGES + 1]).fetchone()[0]
            if pages <= MERGE_PAGES:
                self.db.execute("INSERT INTO versions_fts (versions_fts) VALUES ('optimize')")
            else:
                self.db.execute("INSERT INTO versions_fts (versions_fts, rank) VALUES ('merge', ?)", [MERGE_PAGES])
        # executescript runs the pragma to its end; execute() would free a single page. It takes
        # the write lock itself, so waits for it as _write() does.
        _patiently(lambda: self.db.conn.executescript("PRAGMA incremental_vacuum"), self.lock_patience)

    def dictionary(self) -> Dictionary:
        """The archive's trained dictionary, to pack pages with (archive.packing)."""
        row = self.db.execute("SELECT max(id) FROM dictionaries").fetchone()
        return packing.NO_DICTIONARY if row[0] is None else Dictionary(int(row[0]), self._dictionary(int(row[0])))

    def _dictionary(self, dictionary_id: int) -> bytes:
        if dictionary_id not in self._dictionaries:  # never changed once written: read once
            row = self.db.execute("SELECT content_zstd FROM dictionaries WHERE id = ?", [dictionary_id]).fetchone()
            if row is None:
                raise ArchiveError(f"compression dictionary {dictionary_id}, which some stored HTML needs, is gone")
            self._dictionaries[dictionary_id] = compression.decompress(row[0])
        return self._dictionaries[dictionary_id]

    def _train_dictionary(self) -> None:
        """Train the archive's zstd dictionary on the newest pages it holds, once it holds enough
        and has none yet, and store those pages with it: 11% smaller over 80 pages of 80 sites,
        8% for pages compressed with it later (the storage benchmark's pages; a site's own pages
        share more). Pages stored before, beyond the samples, are left as they are."""
        if self.db.execute("SELECT 1 FROM dictionaries").fetchone():
            return
        samples: dict[str, tuple[bytes, bytes, int, bytes]] = {}  # sha256 -> HTML, stored form, text_id, text
        total = 0
        for sha256, size, content, text_id in self.db.execute(
            "SELECT sha256, size, content, text_id FROM blobs WHERE compression = 'zstd-text' AND size <= ?"
            " ORDER BY rowid DESC LIMIT ?", [DICTIONARY_SAMPLE_BYTES // DICTIONARY_MIN_SAMPLES, DICTIONARY_SAMPLES],
        ).fetchall():
            if total + size > DICTIONARY_SAMPLE_BYTES:
                break
            text = self._text(text_id).encode()
            samples[sha256] = (compression.decompress(content, like=text), content, text_id, text)
            total += size
        if len(samples) < DICTIONARY_MIN_SAMPLES or total < 100 * compression.DICTIONARY_SIZE:
            return
        try:
            trained = compression.train_dictionary([html for html, *_ in samples.values()])
        except zstandard.ZstdError:
            return  # too few or too alike to learn from: the next run tries again
        with self._write():
            if self.db.execute("SELECT 1 FROM dictionaries").fetchone():
                return  # another run trained one meanwhile
            dictionary_id = self._insert("dictionaries", {
                "trained_at": iso_utc(utc_now()), "samples": len(samples), "sample_bytes": total,
                "content_zstd": compression.compress(trained),
            })
            repacked = []
            for sha256, (html, content, text_id, text) in reversed(samples.items()):  # oldest first
                like = trained + text
                packed = compression.compress(html, like=like)
                # Checked before the old form goes: the page's HTML exists nowhere else.
                if len(packed) < len(content) and compression.decompress(packed, like=like) == html:
                    repacked.append((sha256, len(html), packed, text_id, dictionary_id))
            # Rows deleted and inserted anew, not updated: updated in place, they left twice the
            # empty room in the table's pages. Versions point at them again by the commit.
            self.db.execute("PRAGMA defer_foreign_keys = ON")
            self.db.conn.executemany("DELETE FROM blobs WHERE sha256 = ?", [row[:1] for row in repacked])
            self.db.conn.executemany(
                "INSERT INTO blobs (sha256, size, compression, content, text_id, dictionary_id)"
                " VALUES (?, ?, 'zstd-dict-text', ?, ?, ?)", repacked)

    def _keyframe(self, sha256: str) -> str:
        """The blob that a delta against sha256 should use: sha256 itself, or its own base, so
        reading any blob takes at most two decompressions."""
        row = self.db.execute("SELECT base FROM blobs WHERE sha256 = ?", [sha256]).fetchone()
        return str(row[0]) if row and row[0] else sha256

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        """INSERT a row; its rowid. Plain SQL: sqlite-utils' insert() reads the table's schema
        each time, and rows are written several times a page."""
        columns = ", ".join(row)
        cursor = self.db.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(row))})",
                                 list(row.values()))
        return int(cursor.lastrowid or 0)

    def _log(self, run_id: int | None, url: str, outcome: str, **fields: Any) -> None:
        """Record what became of url in this run; the run's claim on it ends in the same transaction."""
        self._insert("fetches", {"run_id": run_id, "url": url, "at": iso_utc(utc_now()), "outcome": outcome, **fields})
        if run_id is not None:
            self.db.execute("DELETE FROM leases WHERE url = ? AND run_id = ?", [url, run_id])

    # ---- reading -------------------------------------------------------------------

    def page(self, url: str) -> dict[str, Any]:
        """The page requested as url; else the page whose last fetch ended at url after redirects
        (the one checked last, should several have)."""
        with self._reading():
            rows = list(self.db.query("SELECT * FROM pages WHERE url = ?", [canonical_url(url)]))
            if not rows:
                rows = list(self.db.query("SELECT * FROM pages WHERE final_url IN (?, ?)"
                                          " ORDER BY last_checked DESC, id DESC LIMIT 1", [url, canonical_url(url)]))
        if not rows:
            raise NotArchived(f"{url} is not in the archive")
        return rows[0]

    def history(self, url: str) -> list[dict[str, Any]]:
        """Every version of a page, oldest first, without the text."""
        page = self.page(url)
        with self._reading():
            return list(self.db.query(
                "SELECT version, fetched_at, final_url, status, content_hash, html_sha256, title,"
                " word_count, words_added, words_removed, cleaner FROM versions WHERE page_id = ? ORDER BY version",
                [page["id"]],
            ))

    def version(self, url: str, version: int | None = None) -> dict[str, Any]:
        """One version of a page with its text; the latest by default."""
        page = self.page(url)
        number = page["latest_version"] if version is None else version
        with self._reading():
            rows = list(self.db.query(
                "SELECT * FROM versions WHERE page_id = ? AND version = ?", [page["id"], number]
            ))
        if not rows:
            raise NotArchived(f"{url} has no version {number} (latest is {page['latest_version']})")
        row = rows[0]
        row["markdown"] = compression.unpack_markdown(row.pop("markdown_zstd"), row["text"])
        return row

    def search(self, query: str, *, limit: int = 20, all_versions: bool = False,
               syntax: bool = False) -> list[dict[str, Any]]:
        """Pages whose title or text match query, best first, with a snippet of the match.

        Only latest versions unless all_versions. The query is words that must all appear and
        "quoted phrases"; with syntax=True, SQLite FTS5 query syntax: OR, NOT, NEAR(), prefix*.
        """
        if not query.strip():
            raise SearchError("give at least one word to search for")
        latest = "" if all_versions else "AND v.version = p.latest_version"
        try:
            cursor = self.db.execute(
                "SELECT p.url, v.version, v.fetched_at, v.title, v.word_count, v.text,"
                " bm25(versions_fts, 3.0, 1.0) AS rank"
                " FROM versions_fts JOIN versions v ON v.rowid = versions_fts.rowid"
                " JOIN pages p ON p.id = v.page_id"
                f" WHERE versions_fts MATCH ? {latest} ORDER BY rank LIMIT ?",
                [fts.match_expression(query, syntax=syntax), limit],
            )
            columns = [column[0] for column in cursor.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor]
        except sqlite3.Error as exc:
            if isinstance(exc, sqlite3.OperationalError) and "no such table" not in str(exc):
                raise SearchError(f"cannot search for {query!r}: {exc}") from exc  # the query's syntax
            raise self._read_error(exc) from exc
        for row in rows:  # the index holds no text (see archive/fts.py): snippets are cut here
            row["snippet"] = fts.snippet(row.pop("text") or "", query, syntax=syntax)
        return [{key: row[key] for key in _RESULT} for row in rows]

    def raw_html(self, sha256: str) -> bytes:
        """The HTML exactly as fetched."""
        with self._reading():
            return self._raw_html(sha256)

    def _raw_html(self, sha256: str) -> bytes:
        row = self.db.execute(
            "SELECT content, compression, base, text_id, dictionary_id FROM blobs WHERE sha256 = ?", [sha256]
        ).fetchone()
        if row is None:
            raise NotArchived(f"no stored HTML with hash {sha256}")
        content, method, base, text_id, dictionary_id = row
        if method == "zstd-text":
            return compression.decompress(content, like=self._text(text_id).encode())
        if method == "zstd-dict-text":
            return compression.decompress(content, like=self._dictionary(dictionary_id) + self._text(text_id).encode())
        if method != "zstd":  # written by a newer version of this program
            raise ArchiveError(f"stored HTML {sha256} is compressed as {method!r}, unknown to this version")
        return compression.decompress(content, like=self._raw_html(base) if base else None)

    def _text(self, version_id: int) -> str:
        row = self.db.execute("SELECT text FROM versions WHERE id = ?", [version_id]).fetchone()
        if row is None:
            raise ArchiveError(f"version {version_id}, whose text some stored HTML is compressed against, is gone")
        return str(row[0])

    def records(
        self,
        *,
        all_versions: bool = False,
        url_prefix: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        language: str | None = None,
        min_words: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Archived versions for export, streamed from the database in URL order; until: fetched
        before then; language: whose language is it or a form of it (en matches en-GB)."""
        conditions = ["1 = 1" if all_versions else "v.version = p.latest_version"]
        values: list[Any] = []
        if until is not None:
            conditions.append("v.fetched_at < ?")
            values.append(iso_utc(until))
        if language:
            conditions.append("(lower(v.language) = lower(?) OR lower(v.language) LIKE lower(?) || '-%')")
            values += [language, language]
        if min_words is not None:
            conditions.append("v.word_count >= ?")
            values.append(min_words)
        where, params = _version_filter(" AND ".join(conditions), values, url_prefix=url_prefix, since=since)
        with self._reading():
            cursor = self.db.execute(
                "SELECT p.id AS page_id, p.url, v.final_url, v.version, v.fetched_at, v.status, v.headers,"
                " v.html_sha256, v.title, v.author, v.authors, v.published, v.modified, v.language, v.site_name,"
                " v.description, v.canonical_url, v.image, v.word_count, v.content_hash, v.cleaner, v.text,"
                " v.markdown_zstd"
                " FROM versions v JOIN pages p ON p.id = v.page_id"
                f" WHERE {where} ORDER BY p.url, v.version",
                params,
            )
            columns = [column[0] for column in cursor.description]
            for row in cursor:  # a cursor yields rows as read: constant memory
                record = dict(zip(columns, row, strict=True))
                record["authors"] = json.loads(record["authors"] or "[]")
                record["markdown"] = compression.unpack_markdown(record.pop("markdown_zstd"), record["text"])
                yield record

    def failures(self, *, runs: int = 1) -> list[dict[str, Any]]:
        """Failed fetches of the last `runs` runs, newest run first."""
        with self._reading():
            return list(self.db.query(
                "SELECT f.run_id, f.at, f.url, f.reason, f.status, f.error FROM fetches f"
                " WHERE f.outcome = 'failed' AND f.run_id IN"
                " (SELECT id FROM runs ORDER BY id DESC LIMIT ?) ORDER BY f.run_id DESC, f.id",
                [runs],
            ))

    def last_runs(self, limit: int = 1) -> list[dict[str, Any]]:
        with self._reading():
            return list(self.db.query("SELECT * FROM runs ORDER BY id DESC LIMIT ?", [limit]))


_RECLEAN_BATCH = 500


def _reclean_filter(cleaner: str, *, url_prefix: str | None, since: datetime | None,
                    force: bool) -> tuple[str, list[Any]]:
    """The WHERE clause (on versions v and pages p) and parameters of to_reclean()."""
    return _version_filter("1 = 1" if force else "v.cleaner IS NOT ?", [] if force else [cleaner],
                           url_prefix=url_prefix, since=since)


IN_LIST = 500
"""Values bound to one statement's IN list at most: SQLite caps a statement's variables (at 999
before 3.32)."""


def in_lists(values: list[Any]) -> Iterator[tuple[list[Any], str]]:
    """values in chunks of at most IN_LIST, each with its ?-marks for an IN list."""
    for start in range(0, len(values), IN_LIST):
        chunk = values[start:start + IN_LIST]
        yield chunk, ", ".join("?" * len(chunk))


def _version_filter(condition: str, params: list[Any], *, url_prefix: str | None,
                    since: datetime | None) -> tuple[str, list[Any]]:
    """condition, and the versions of URLs under url_prefix fetched since a time: a WHERE clause
    on versions v and pages p, with its parameters."""
    where = [condition]
    if url_prefix:
        where.append("substr(p.url, 1, ?) = ?")
        params = [*params, len(url_prefix), url_prefix]
    if since:
        where.append("v.fetched_at >= ?")
        params = [*params, iso_utc(since)]
    return " AND ".join(where), params


def _current_cleaner() -> str:
    """Today's cleaner's id, for an article that does not name its cleaner. Imported only then:
    the cleaner loads trafilatura (30 MB), which a run's own process does without."""
    from scraper.cleaner import CLEANER_ID

    return CLEANER_ID


@dataclass(frozen=True)
class StoredVersion:
    """An archived version, as `scraper reclean` needs it: where its HTML is and how to read it."""

    id: int
    url: str
    version: int
    final_url: str
    """The address the HTML came from, which the cleaner resolves links against."""
    html_sha256: str
    content_type: str
    """Of the response, which tells the HTML's encoding when its bytes do not."""
    cleaner: str | None
    """The cleaner that made its text; None when not recorded."""


def _alive(status: str | None, host: str | None, pid: int | None) -> bool:
    """Whether a run may still be working: running, and not a dead process on this machine."""
    if status != "running":
        return False
    if host != socket.gethostname() or pid is None:
        return True  # another machine's run: trust its lease until it expires
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


class Known(NamedTuple):
    """What the archive knows of a URL that a run sends with it (Archive.known)."""

    validators: Validators | None
    content_hash: str | None


_RESULT = ("url", "version", "fetched_at", "title", "word_count", "snippet", "rank")
"""The fields of a search result, in order."""


class _Latest(NamedTuple):
    """A page and its latest version (the hashes are None while it has none)."""

    page_id: int
    version: int
    content_hash: str | None
    html_sha256: str | None


@dataclass(frozen=True)
class _Plan:
    """The rows a save would write, worked out against the page's latest version `latest`."""

    latest: _Latest | None
    changed: bool
    html_sha256: str | None = None
    blob: Blob | None = None
    """None when the HTML is stored already."""
    markdown_zstd: bytes | None = None
    words_added: int = 0
    words_removed: int = 0
    title_indexed: str | None = None
    """Title and text as the search index is given them (see archive/fts.py)."""
    text_indexed: str | None = None


def _patiently(write: Callable[[], object], patience: float) -> None:
    """Run write, which takes the write lock; while another connection holds it (SQLite has
    waited the busy timeout), try again until `patience` seconds have gone by. SQLite errors
    become ArchiveError."""
    give_up = time.monotonic() + patience
    while True:
        try:
            write()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise ArchiveError(f"cannot write to the archive: {exc}") from exc
            if time.monotonic() >= give_up:
                raise ArchiveError(f"cannot write to the archive: {exc} (another process held the write lock"
                                   f" for over {patience:g} s)") from exc
            time.sleep(0.05)  # as long as a try takes with a busy timeout of 0
        except sqlite3.Error as exc:
            raise ArchiveError(f"cannot write to the archive: {exc}") from exc


class _Immediate:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error; SQLite errors become ArchiveError.

    While another connection holds the write lock, BEGIN waits the busy timeout and is tried
    again, until `patience` seconds have gone by."""

    def __init__(self, conn: sqlite3.Connection, *, patience: float, begin: str | None = None) -> None:
        self.conn = conn
        self.patience = patience
        self.begin = begin or "BEGIN IMMEDIATE"

    def __enter__(self) -> None:
        try:
            _patiently(lambda: self.conn.execute(self.begin), self.patience)
        except BaseException:  # Ctrl-C just after BEGIN: no transaction may be left open
            self._roll_back()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            if exc_type is None:
                self.conn.execute("COMMIT")
        except sqlite3.Error as error:
            exc = error
        finally:  # after an error, or Ctrl-C before the COMMIT ran
            self._roll_back()
        if isinstance(exc, sqlite3.Error):
            raise ArchiveError(f"cannot write to the archive: {exc}") from exc

    def _roll_back(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
