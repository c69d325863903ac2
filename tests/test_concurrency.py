"""Several processes on one archive at once: writers over lists of their own or over one shared
list, a reader exporting while they write, and threads of one process each with its own Archive."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from archive import Archive
from archive.export import FIELDS
from scraper.cleaner import clean
from scraper.encoding import decode_html
from scraper.models import Article, Page
from scraper.urls import canonical_url
from tests.conftest import CORPUS, FAST_FLAGS, SEEDS, scraper_cli
from tests.server import FIXTURES, LocalServer

ARTICLES = sorted(path.relative_to(FIXTURES).as_posix() for path in (*SEEDS.glob("*.html"), *CORPUS.glob("*.html")))
"""Fixture pages with real article text, as paths under fixtures/."""
WAIT = 60.0
"""Seconds a test waits for its processes before it fails instead of hanging."""


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The runs a test starts; what is left of them when it ends (it failed) is killed, cleaning processes too."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=10)


def start_run(listing: Path, db_path: Path) -> subprocess.Popen[bytes]:
    """`scraper run LIST --json` as tests.test_cron starts it, but in a process group of its own: a run killed
    while its pool of cleaning processes starts leaves them running, and they would hold its stdout open."""
    return subprocess.Popen(
        [sys.executable, "-m", "scraper", "run", str(listing), "--json", "--concurrency", "4", *FAST_FLAGS],
        env={**os.environ, "SCRAPER_DB": str(db_path)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )


def article_urls(server: LocalServer, route: str, key: str, count: int) -> list[str]:
    """count distinct pages: the fixture articles in turn, each with its own ?n= (kept by canonical_url)."""
    return [server.url(f"{route}{ARTICLES[n % len(ARTICLES)]}?n={key}-{n}") for n in range(count)]


def write_list(path: Path, urls: list[str]) -> Path:
    path.write_text("\n".join(urls) + "\n")
    return path


def finish(writers: list[subprocess.Popen[bytes]], deadline: float) -> list[tuple[bytes, bytes]]:
    """stdout and stderr of each writer, once each has exited 0 without a lock error or a traceback."""
    outputs = []
    for writer in writers:
        out, err = writer.communicate(timeout=max(0.1, deadline - time.monotonic()))
        assert writer.returncode == 0, err.decode()
        assert b"locked" not in err and b"Traceback" not in err, err.decode()
        outputs.append((out, err))
    return outputs


def export(deadline: float) -> list[dict[str, Any]]:
    """The records of one `scraper export --format jsonl` of the archive at SCRAPER_DB."""
    result = scraper_cli("export", "--format", "jsonl", timeout=max(0.1, deadline - time.monotonic()))
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert "locked" not in err and "Traceback" not in err, err
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert all(list(record) == list(FIELDS) for record in records)
    return records


@contextlib.contextmanager
def checked(db_path: Path) -> Iterator[sqlite3.Connection]:
    """The archive, once found intact and with no URL still leased to a run."""
    with closing(sqlite3.connect(db_path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("SELECT count(*) FROM leases").fetchone()[0] == 0
        yield db


def test_four_writers_and_a_reader_share_one_archive(
        server: LocalServer, db_path: Path, tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    lists = [article_urls(server, "/fixtures/", f"w{writer}", 40) for writer in range(4)]
    everything = {canonical_url(url) for urls in lists for url in urls}
    assert len(everything) == 160
    deadline = time.monotonic() + WAIT
    # All four start at once on a file that does not exist yet: they race to create it, too.
    writers = [start_run(write_list(tmp_path / f"list-{n}.txt", urls), db_path) for n, urls in enumerate(lists)]
    processes.extend(writers)
    exports: list[list[dict[str, Any]]] = []
    while any(writer.poll() is None for writer in writers):
        assert time.monotonic() < deadline, "the writers did not finish in time"
        if db_path.exists():  # export refuses a missing archive
            exports.append(export(deadline))
        else:
            time.sleep(0.02)
    outputs = finish(writers, deadline)
    for out, _ in outputs:
        totals = json.loads(out)
        assert (totals["urls"], totals["new_versions"], totals["failed"], totals["skipped"]) == (40, 40, 0, 0)

    # Each export saw a consistent snapshot: pages only ever appear, each with its one version.
    assert len(exports) >= 2, "the reader had no time to read while the writers wrote"
    seen: set[str] = set()
    for records in exports:
        urls = {record["url"] for record in records}
        assert len(urls) == len(records) and seen <= urls <= everything
        assert all(record["version"] == 1 and record["text"] and record["word_count"] > 0 for record in records)
        seen = urls
    final = export(time.monotonic() + WAIT)
    assert {record["url"] for record in final} == everything and len(final) == 160

    assert {canonical_url(server.url(path)) for _, path in server.log if path != "/robots.txt"} == everything

    with checked(db_path) as db:
        assert db.execute("SELECT count(*), min(latest_version), max(latest_version) FROM pages").fetchone() == (
            160, 1, 1)
        assert db.execute("SELECT count(*), count(DISTINCT page_id), max(version) FROM versions").fetchone() == (
            160, 160, 1)
        runs = db.execute(
            "SELECT command, status, urls, new_versions, unchanged, failed, skipped FROM runs").fetchall()
        assert runs == [("run", "finished", 40, 40, 0, 0, 0)] * 4
        assert db.execute("SELECT outcome, count(*) FROM fetches GROUP BY outcome").fetchall() == [("new", 160)]


DELAY = 0.3
"""Seconds the server takes to answer each page of the shared list, so that runs overlap on it."""


def test_writers_over_the_same_list_archive_each_url_once(
        server: LocalServer, db_path: Path, tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    urls = article_urls(server, f"/delay/{DELAY}/", "same", 30)
    listing = write_list(tmp_path / "urls.txt", urls)
    deadline = time.monotonic() + WAIT
    writers = [start_run(listing, db_path) for _ in range(4)]
    processes.extend(writers)
    outputs = finish(writers, deadline)
    totals = {total["run_id"]: total for total in (json.loads(out) for out, _ in outputs)}

    # No two requests for one page overlapped: each starts after the last answer, which took DELAY.
    arrivals: dict[str, list[float]] = defaultdict(list)
    for at, path in server.log:
        if path != "/robots.txt":
            arrivals[canonical_url(server.url(path))].append(at)
    assert set(arrivals) == {canonical_url(url) for url in urls}
    for url, times in arrivals.items():
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert all(gap >= DELAY for gap in gaps), (url, gaps)

    with checked(db_path) as db:
        assert db.execute("SELECT count(*), min(latest_version), max(latest_version) FROM pages").fetchone() == (
            30, 1, 1)
        assert db.execute("SELECT count(*), max(version) FROM versions").fetchone() == (30, 1)
        # Every run accounts for every URL of the list, once: new, unchanged, or skipped while another run had it.
        runs = db.execute("SELECT id, status, urls, new_versions, unchanged, skipped, failed FROM runs").fetchall()
        assert len(runs) == 4
        for run_id, status, count, new, unchanged, skipped, failed in runs:
            assert (status, count, failed) == ("finished", 30, 0)
            assert new + unchanged + skipped == 30
            assert {key: totals[run_id][key] for key in ("new_versions", "unchanged", "skipped")} == {
                "new_versions": new, "unchanged": unchanged, "skipped": skipped}
        assert sum(run[5] for run in runs) > 0  # the runs did overlap: some found a URL claimed
        per_run = db.execute("SELECT run_id, url, count(*) FROM fetches GROUP BY run_id, url").fetchall()
        assert len(per_run) == 4 * 30 and {row[2] for row in per_run} == {1}
        # Each URL became new exactly once, and every fetch that counted was a request the server saw.
        outcomes = db.execute(
            "SELECT url, sum(outcome = 'new'), sum(outcome IN ('new', 'unchanged')) FROM fetches GROUP BY url"
        ).fetchall()
    assert {url: new for url, new, _ in outcomes} == {canonical_url(url): 1 for url in urls}
    for url, _, fetched in outcomes:
        assert len(arrivals[url]) >= fetched, url


def test_archive_writers_in_threads(db_path: Path) -> None:
    articles: list[tuple[bytes, str, str, Article]] = []
    for name in ARTICLES:
        content = (FIXTURES / name).read_bytes()
        html, encoding = decode_html(content)
        articles.append((content, html, encoding, clean(html)))
    threads, pages = 4, 20
    start = threading.Barrier(threads, timeout=WAIT)

    def writer(number: int) -> list[int]:
        start.wait()  # all open the new file at once
        with Archive(db_path) as archive:
            run_id = archive.start_run("threads")
            versions = []
            for n in range(pages):
                content, html, encoding, article = articles[n % len(articles)]
                url = f"https://example.com/{number}/{n}"
                page = Page(url=url, final_url=url, content=content, html=html, status=200, encoding=encoding)
                versions.append(archive.save(page, article, run_id=run_id).version)
            archive.finish_run(run_id, status="finished", urls=pages)
        return versions

    pool = ThreadPoolExecutor(threads)
    try:
        futures = [pool.submit(writer, number) for number in range(threads)]
        assert [future.result(timeout=WAIT) for future in futures] == [[1] * pages] * threads
    finally:
        pool.shutdown(wait=False)  # a thread stuck past WAIT fails the test rather than hanging it
    with checked(db_path) as db:
        assert db.execute("SELECT count(*), max(latest_version) FROM pages").fetchone() == (threads * pages, 1)
        assert db.execute("SELECT count(*) FROM versions").fetchone()[0] == threads * pages
        assert db.execute("SELECT status, new_versions FROM runs").fetchall() == [("finished", pages)] * threads
