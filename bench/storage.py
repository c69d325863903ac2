"""Size of the archive beside the same captures written as WARC.gz, and growth of an unchanged rerun.

    python bench/storage.py                  # 80 pages, three runs with edits, then an unchanged rerun
    python bench/storage.py --pages 160      # more pages (edits stay one eighth of them per run)
    python bench/storage.py --keep           # keep the temp dir: archive, WARC.gz, served pages

Pages of the evaluation corpus (../shared/eval/trafilatura-corpus, or --corpus) that the
cleaner finds an article in are picked every k-th of the sorted list, and served over real
HTTP from 127.0.0.1 at /p/<n> (n: the page's index in the sorted corpus) by a server thread
that reads each body from a temp directory on every request: text/html with no charset,
the bytes as the page has them, no validators (no ETag or Last-Modified, so every rerun is a
full fetch and the archive's own "is it unchanged?" check is what is measured).

`scraper run` (in a subprocess, --interval 0 --per-host 8 -c 8 --ignore-robots) archives them
three times; before the second and third runs a different eighth of the pages is edited the
way a correction is: a few words of the longest paragraph changed and one sentence appended,
bytes elsewhere untouched (the next longest paragraph, or a long run of text for a page without
<p> elements, when the cleaner drops the longest; another page when no edit changes the article).
The 240 responses of those runs, exactly as served (status line, headers, body), are then
written with warcio as one gzipped WARC/1.1 response record each after a warcinfo record, and
the archive, checkpointed, is compared with it (target: at most 0.5x). A fourth run of the
unchanged pages gives the growth per URL (target: at most 1 KiB).
Exits 0 when a target is missed (a benchmark, not a test), 1 when something breaks.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import ThreadingHTTPServer
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pages import DEFAULT_CORPUS, require
from bench.throughput import BenchServer, QuietHandler, load_pages, page_number

REPO = Path(__file__).resolve().parents[1]
EDIT_SHARE = 8
"""One page in this many is edited before each of runs 2 and 3."""
RATIO_TARGET = 0.5
GROWTH_TARGET = 1024
FAST = ["--interval", "0", "--per-host", "8", "-c", "8", "--ignore-robots"]
SERVER_NAME = "bench-storage/1"


# ---- choosing and editing pages ------------------------------------------------------


def content_hash(html: bytes) -> str | None:
    """The archive's identity of a page's cleaned content; None when the cleaner finds no article."""
    from scraper.cleaner import clean
    from scraper.errors import ScraperError

    try:
        return clean(html).content_hash
    except ScraperError:
        return None


def pick_pages(pages: list[bytes], count: int) -> tuple[list[int], int]:
    """Indices of `count` pages the cleaner accepts: every k-th of the sorted corpus first, then
    the pages after those (k-th + 1, ...) until there are enough. Returns them and how many were skipped."""
    step = max(1, len(pages) // count)
    picked: list[int] = []
    skipped = 0
    for offset in range(step):
        for index in range(offset, len(pages), step):
            if len(picked) == count:
                return sorted(picked), skipped
            if content_hash(pages[index]) is None:
                skipped += 1
            else:
                picked.append(index)
    if len(picked) < count:
        raise SystemExit(f"only {len(picked)} pages of the corpus have an article; asked for {count}")
    return sorted(picked), skipped


_PARAGRAPH = re.compile(rb"(<p(?:\s[^>]*)?>)(.*?)(</p\s*>)", re.I | re.S)
_BLOCK_INSIDE = re.compile(rb"<(?:p|div|li|td|th|h[1-6]|section|article|table|ul|ol|blockquote)[\s>/]", re.I)
_MARKUP = re.compile(r"(<[^>]*>|&#?\w+;)")  # tags and character references: never edited
_WORD = re.compile(r"[^\W\d_]{4,}")
_TAGS = re.compile(rb"<[^>]*>")
_TEXT_BLOCK = re.compile(rb">([^<]{80,})<")
_HIDDEN = re.compile(rb"<(script|style|textarea)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S)
REPLACEMENTS = ("Tuesday", "seventeen", "council", "reportedly")


def _reword(inner: str, label: str) -> str:
    """A paragraph's inner HTML with three of its words replaced and a sentence appended."""
    parts = _MARKUP.split(inner)
    words = [(i, match) for i, part in enumerate(parts) if i % 2 == 0 for match in _WORD.finditer(part)]
    if len(words) < 6:
        raise ValueError("too few words")
    chosen = {(i, match.start()): match for i, match in (words[1], words[len(words) // 2], words[-2])}
    # Replace from the end of each text part so the earlier offsets stay valid.
    for n, ((i, _), match) in enumerate(sorted(chosen.items(), key=lambda item: item[0], reverse=True)):
        new = REPLACEMENTS[n % len(REPLACEMENTS)]
        if match.group()[0].isupper():
            new = new.capitalize()
        if new.lower() == match.group().lower():
            new = new[::-1]
        parts[i] = parts[i][: match.start()] + new + parts[i][match.end():]
    return "".join(parts).rstrip() + f" Correction ({label}): an earlier version of this article misstated a date."


def edit_page(html: bytes, label: str, tries: int = 5) -> tuple[bytes, str] | None:
    """The page with its longest paragraph corrected (bytes outside it untouched, its encoding kept),
    and where the edit went: "longest <p>", "<p> number 2 by length", ..., or "text block" for a page whose
    article is not in <p> elements (the longest run of text between tags that the cleaner keeps).
    None when no edit of the `tries` longest paragraphs, nor of the `tries` longest text blocks, changes
    the cleaned text."""
    from scraper.encoding import decode_html

    _, encoding = decode_html(html)
    before = content_hash(html)
    paragraphs = [m.span(2) for m in _PARAGRAPH.finditer(html) if not _BLOCK_INSIDE.search(m.group(2))]
    paragraphs.sort(key=lambda span: len(_TAGS.sub(b"", html[span[0]:span[1]]).strip()), reverse=True)
    hidden = [m.span() for m in _HIDDEN.finditer(html)]
    blocks = [m.span(1) for m in _TEXT_BLOCK.finditer(html)
              if not any(start <= m.start() < end for start, end in hidden)]
    blocks.sort(key=lambda span: span[1] - span[0], reverse=True)
    candidates = [(start, end, "longest <p>" if rank == 0 else f"<p> number {rank + 1} by length")
                  for rank, (start, end) in enumerate(paragraphs[:tries])]
    candidates += [(start, end, "text block") for start, end in blocks[:tries]]
    for start, end, where in candidates:
        try:
            inner = _reword(html[start:end].decode(encoding), label).encode(encoding, errors="xmlcharrefreplace")
        except (UnicodeError, ValueError):
            continue
        edited = html[:start] + inner + html[end:]
        if content_hash(edited) not in (None, before):
            return edited, where
    return None


# ---- the site: a loopback server that keeps what it sent ------------------------------


@dataclass(frozen=True)
class Capture:
    url: str
    at: datetime
    status_line: str
    headers: list[tuple[str, str]]
    body: bytes

    def head(self) -> bytes:
        lines = [self.status_line, *(f"{name}: {value}" for name, value in self.headers), "", ""]
        return "\r\n".join(lines).encode("latin-1")


@dataclass
class Site:
    """Pages served from files in `root` (read on every request); each response to /p/<n> is kept."""

    root: Path
    run: int = 0
    captures: dict[int, list[Capture]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def page_path(self, index: int) -> Path:
        return self.root / f"{index}.html"

    def keep(self, capture: Capture) -> None:
        with self.lock:
            self.captures.setdefault(self.run, []).append(capture)


def start_server(site: Site) -> ThreadingHTTPServer:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            number = page_number(self.path)
            body: bytes | None = None
            if number is not None:
                with contextlib.suppress(OSError):
                    body = site.page_path(number).read_bytes()
            status, content_type = ("200 OK", "text/html") if body is not None else ("404 Not Found", "text/plain")
            if body is None:
                body = b"not found\n"
            headers = [("Date", formatdate(usegmt=True)), ("Server", SERVER_NAME),
                       ("Content-Type", content_type), ("Content-Length", str(len(body)))]
            # Written by hand, not with send_header(), so the bytes kept are the bytes sent.
            capture = Capture(f"http://{self.headers.get('Host', '127.0.0.1')}{self.path}", datetime.now(UTC),
                              f"HTTP/1.1 {status}", headers, body)
            self.wfile.write(capture.head() + body)
            if status.startswith("200"):
                site.keep(capture)

    server = BenchServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# ---- running the scraper and measuring the file ---------------------------------------


def run_scraper(listing: Path, db: Path) -> dict[str, object]:
    """One `scraper run` of the list; its JSON summary. Exits the benchmark if the run fails."""
    command = [sys.executable, "-m", "scraper", "run", str(listing), *FAST, "--json"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO,
                            env={**os.environ, "SCRAPER_DB": str(db)}, timeout=600)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise RunFailed(f"`{' '.join(command[2:])}` exited {result.returncode}")
    summary: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary


class RunFailed(Exception):
    pass


@dataclass(frozen=True)
class Size:
    file: int
    """The main file's size after a TRUNCATE checkpoint."""
    used: int
    """(page_count - freelist_count) * page_size."""
    wal: int
    """The -wal file's size after the checkpoint: 0 (or no file) when everything is in the main file."""
    records: int | None
    """Bytes of the records themselves (dbstat's payload: no page headers, free space or free pages)."""


def measure(db: Path) -> Size:
    """Checkpoint the WAL into the main file, truncate it, and size the file."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise RunFailed(f"{db}: WAL checkpoint blocked by another connection")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        try:
            records = conn.execute("SELECT sum(payload) FROM dbstat").fetchone()[0]
        except sqlite3.OperationalError:  # no SQLITE_ENABLE_DBSTAT_VTAB
            records = None
        wal = Path(f"{db}-wal")
        size = Size(db.stat().st_size, (pages - free) * page_size, wal.stat().st_size if wal.exists() else 0,
                    records)
    finally:
        conn.close()
    if size.wal:
        raise RunFailed(f"{db}-wal still holds {size.wal} bytes after a TRUNCATE checkpoint")
    return size


def breakdown(db: Path) -> tuple[bool, list[tuple[str, str, int]]]:
    """Whether dbstat was there, and (table, object, bytes) for every table and index, largest first;
    without dbstat, the bytes of the largest columns instead (payload only, no b-tree overhead)."""
    conn = sqlite3.connect(db)
    try:
        owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_master"))
        try:
            rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
            dbstat = True
        except sqlite3.OperationalError:  # no SQLITE_ENABLE_DBSTAT_VTAB
            rows = [(f"{table}.{column}", conn.execute(f"SELECT coalesce(sum(length({column})), 0) FROM {table}")
                     .fetchone()[0])
                    for table, column in (("blobs", "content"), ("versions", "text"), ("versions", "markdown"),
                                          ("versions", "headers"), ("minhashes", "signature"))
                    if table in owner]
            dbstat = False
    finally:
        conn.close()

    def table_of(name: str) -> str:
        table = owner.get(name.split(".")[0], name)
        return "versions_fts" if table.startswith("versions_fts") else table

    return dbstat, sorted(((table_of(name), name, size) for name, size in rows), key=lambda row: -row[2])


def payloads(db: Path) -> list[tuple[str, int]]:
    """Bytes of the column values that hold most of the data (before b-tree overhead)."""
    conn = sqlite3.connect(db)
    try:
        blob_stored, blob_raw, blobs = conn.execute(
            "SELECT coalesce(sum(length(content)), 0), coalesce(sum(size), 0), count(*) FROM blobs").fetchone()
        count, stored, raw = conn.execute("SELECT count(*), coalesce(sum(length(content)), 0),"
                                          " coalesce(sum(size), 0) FROM blobs WHERE base IS NOT NULL").fetchone()
        deltas = f"; {count} of them deltas: {stored:,} bytes for {raw:,} of HTML"
        text, markdown, headers, versions = conn.execute(
            "SELECT coalesce(sum(length(CAST(text AS BLOB))), 0), coalesce(sum(length(markdown_zstd)), 0),"
            " coalesce(sum(length(CAST(headers AS BLOB))), 0), count(*) FROM versions").fetchone()
    finally:
        conn.close()
    return [(f"blobs.content ({blobs} blobs, {blob_raw:,} bytes of HTML before compression{deltas})", blob_stored),
            (f"versions.text ({versions} versions)", text), ("versions.markdown_zstd", markdown),
            ("versions.headers", headers)]


# ---- WARC -------------------------------------------------------------------------------


def write_warc(captures: list[Capture], path: Path) -> int:
    """The captures as a WARC/1.1 file, one gzip member per record, as a crawler writes it;
    read back to check each record holds the bytes served. Returns the file's size."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True, warc_version="WARC/1.1")
        writer.write_record(writer.create_warcinfo_record(path.name, {
            "software": "bench/storage.py (warcio)", "format": "WARC File Format 1.1",
            "description": f"{len(captures)} HTTP responses served to `scraper run` on loopback"}))
        for capture in captures:
            http_headers = StatusAndHeaders(capture.status_line.split(" ", 1)[1], capture.headers,
                                            protocol="HTTP/1.1")
            at = capture.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            writer.write_record(writer.create_warc_record(
                capture.url, "response", payload=io.BytesIO(capture.body), length=len(capture.body),
                http_headers=http_headers, warc_headers_dict={"WARC-Date": at, "WARC-IP-Address": "127.0.0.1"}))
    with path.open("rb") as stream:
        records = [(record.http_headers.to_bytes(), record.content_stream().read())
                   for record in ArchiveIterator(stream) if record.rec_type == "response"]
    expected = [(capture.head(), capture.body) for capture in captures]
    if records != expected:
        raise RunFailed(f"{path}: the records read back differ from the responses served")
    return path.stat().st_size


# ---- the benchmark ----------------------------------------------------------------------


def show_run(number: int, summary: dict[str, object], served: int, expect_new: int) -> bool:
    keys = ("urls", "fetched", "new_versions", "unchanged", "skipped", "failed")
    counts = ", ".join(f"{key} {summary.get(key)}" for key in keys)
    print(f"run {number}: {counts}; {served} responses served; {summary['seconds']} s")
    ok = summary.get("new_versions") == expect_new and summary.get("fetched") == summary.get("urls")
    if not ok:
        print(f"  !!! WARNING: run {number} should have fetched every URL and made {expect_new} new versions: "
              f"the figures below do not measure what they claim to !!!")
    return ok


def human(size: int) -> str:
    return f"{size:,} B ({size / 1024:,.0f} KiB)" if size < 1 << 20 else f"{size:,} B ({size / (1 << 20):,.2f} MiB)"


def edit_group(pages: list[bytes], chosen: list[int], run: int, shift: int, used: set[int]) -> dict[int, bytes]:
    """The edited bodies of one eighth of the chosen pages, those at positions shift, shift + 8, ...
    A page that no edit changes the cleaned text of (its "article" has no paragraph, say) is replaced
    by the next page at another position, loudly. Pages in `used` (edited before another run) are
    not taken, and the pages taken are added to it."""
    share = max(1, len(chosen) // EDIT_SHARE)
    order = sorted(range(len(chosen)), key=lambda position: ((position - shift) % EDIT_SHARE != 0, position))
    edited: dict[int, bytes] = {}
    places: dict[str, int] = {}
    replaced: list[int] = []
    for position in order:
        index = chosen[position]
        if len(edited) == share:
            break
        if index in used:
            continue
        result = edit_page(pages[index], f"run {run}")
        if result is None:
            if (position - shift) % EDIT_SHARE == 0:
                replaced.append(index)
            continue
        edited[index], where = result
        used.add(index)
        places[where] = places.get(where, 0) + 1
    for page in replaced:
        print(f"  !!! no edit of page {page} changes its cleaned text (no paragraph of it is in the article): "
              f"another page is edited before run {run} instead !!!")
    if len(edited) < share:
        print(f"  !!! WARNING: only {len(edited)} pages could be edited before run {run}, not {share} !!!")
    where = ", ".join(f"{n} in the {place}" for place, n in sorted(places.items(), key=lambda item: -item[1]))
    print(f"edits before run {run}: {len(edited)} pages ({where}); each changes the page's cleaned text")
    return edited


def benchmark(corpus: Path, count: int, work: Path) -> None:
    started = time.perf_counter()
    pages = load_pages(corpus)
    if count > len(pages):
        raise SystemExit(f"--pages {count}: the corpus has {len(pages)} pages")
    chosen, skipped = pick_pages(pages, count)
    print(f"{count} pages picked from {len(pages)} in {corpus} (every {max(1, len(pages) // count)}th; "
          f"{skipped} skipped: no article); {sum(len(pages[i]) for i in chosen):,} bytes of HTML")

    # One eighth edited before run 2, another before run 3: positions 1, 9, 17, ... then 2, 10, 18, ...
    edited_before: set[int] = set()
    edits = [edit_group(pages, chosen, run, shift, edited_before) for run, shift in ((2, 1), (3, 2))]

    site = Site(work / "site")
    site.root.mkdir()
    for index in chosen:
        site.page_path(index).write_bytes(pages[index])
    db = work / "archive.db"
    server = start_server(site)
    try:
        port = server.server_address[1]
        listing = work / "urls.txt"
        listing.write_text("".join(f"http://127.0.0.1:{port}/p/{index}\n" for index in chosen))
        print(f"serving on 127.0.0.1:{port}; scraper run {' '.join(FAST)} --json, SCRAPER_DB={db}")

        all_ok = True
        for run in (1, 2, 3):
            if run > 1:
                for index, body in edits[run - 2].items():
                    site.page_path(index).write_bytes(body)
            site.run = run
            summary = run_scraper(listing, db)
            expect = count if run == 1 else len(edits[run - 2])
            all_ok &= show_run(run, summary, len(site.captures.get(run, [])), expect)

        after3 = measure(db)
        captures = [capture for run in (1, 2, 3) for capture in site.captures.get(run, [])]
        warc_size = write_warc(captures, work / "captures.warc.gz")
        served = sum(len(capture.head()) + len(capture.body) for capture in captures)
        dbstat, objects = breakdown(db)
        columns = payloads(db)

        site.run = 4
        summary = run_scraper(listing, db)
        all_ok &= show_run(4, summary, len(site.captures.get(4, [])), 0)
        after4 = measure(db)
    finally:
        server.shutdown()
        server.server_close()

    ratio = after3.file / warc_size
    growth_file = (after4.file - after3.file) / count
    growth = (after4.used - after3.used) / count
    print()
    print(f"after runs 1-3 (WAL checkpointed with TRUNCATE: -wal file {after3.wal} bytes)")
    print(f"  archive file           {human(after3.file)}; pages in use {human(after3.used)}")
    print(f"  WARC.gz                {human(warc_size)}: {len(captures)} response records + warcinfo, "
          f"{served:,} bytes served")
    print(f"  ratio archive / WARC   {ratio:.3f}  (pages in use: {after3.used / warc_size:.3f})")
    print("where the archive's bytes go (dbstat: pages of each table and index):" if dbstat
          else "where the archive's bytes go (no dbstat in this SQLite: column payloads):")
    total = sum(size for _, _, size in objects) or 1
    tables: dict[str, int] = {}
    for table, _, size in objects:
        tables[table] = tables.get(table, 0) + size
    for table, size in sorted(tables.items(), key=lambda item: -item[1]):
        names = ", ".join(f"{name} {size:,}" for owner, name, size in objects if owner == table and size)
        print(f"  {table:<18} {size:>11,} B  {100 * size / total:5.1f}%   [{names}]")
    print("column payloads:")
    for label, size in columns:
        print(f"  {size:>11,} B  {label}")
    print()
    print(f"after run 4, unchanged (WAL checkpointed again: -wal file {after4.wal} bytes)")
    print(f"  archive file           {human(after4.file)}: +{after4.file - after3.file:,} B, "
          f"{growth_file:,.0f} B per URL (free pages left by runs 1-3 are reused first)")
    print(f"  pages in use           +{after4.used - after3.used:,} B, {growth:,.0f} B per URL"
          "  <- the target's measure")
    if after3.records is not None and after4.records is not None:
        added = after4.records - after3.records
        print(f"  record bytes (dbstat)  +{added:,} B, {added / count:,.0f} B per URL"
              " (rows written, without page slack)")
    print()
    print("=" * 78)
    print(f"storage: {count} pages, 3 runs ({len(captures)} captures), then an unchanged rerun "
          f"[{time.perf_counter() - started:.0f} s]")
    print(f"  archive / WARC.gz      {ratio:6.3f}   target <= {RATIO_TARGET}    "
          f"{'PASS' if ratio <= RATIO_TARGET else 'MISS'}")
    print(f"  rerun growth per URL   {growth:6.0f} B target <= {GROWTH_TARGET} B "
          f"{'PASS' if growth <= GROWTH_TARGET else 'MISS'}")
    if not all_ok:
        print("  !!! some run did not fetch every URL or made an unexpected number of versions: see above !!!")
    command = "python bench/storage.py" + (f" --pages {count}" if count != 80 else "")
    if corpus.resolve() != DEFAULT_CORPUS.resolve():
        command += f" --corpus {corpus}"
    print(f"  reproduce: {command}")
    print("=" * 78)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--pages", type=int, default=80, help="pages archived by each run (default 80)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and print its path")
    args = parser.parse_args()
    require(args.corpus)
    if args.pages < EDIT_SHARE:
        sys.exit(f"--pages must be at least {EDIT_SHARE}")
    work = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    try:
        benchmark(args.corpus, args.pages, work)
    except (RunFailed, subprocess.TimeoutExpired) as error:
        sys.exit(f"error: {error}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
