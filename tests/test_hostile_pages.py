"""Pages that make the cleaner run long or take much memory: each fails on its own, under
--clean-timeout and --clean-memory, and every other page goes on."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import closing, suppress
from pathlib import Path

import pytest

from archive import Archive
from scraper.cleaner import clean
from scraper.cleaning_pool import CleaningPool
from scraper.errors import ArchiveError, CleanMemory, CleanTimeout, InternalError, NoContent
from scraper.models import Page
from scraper.run import save_page
from tests.conftest import FAST_FLAGS, SEEDS, scraper_cli
from tests.server import LocalServer, Response

SEED = SEEDS / "002_60c7648376388afa.html"
INTRO = "<html><body><p>A few words of introduction before the page turns hostile.</p>"
SLOW = (INTRO + "<div>" * 120000 + "</body></html>").encode()
"""Unclosed <div>s: 600 KB that take the cleaner about 30 s (60,000 take 6 s)."""
HUNGRY = (INTRO + "<a href='/x'>link</a>" * 200000 + "</body></html>").encode()
"""200,000 links: 4 MB that take the cleaner past 200 MiB within a second."""
BOUNDS = ["--clean-timeout", "3", "--clean-memory", "200"]


def outcomes(db_path: Path) -> dict[str, tuple[str, str | None]]:
    with closing(sqlite3.connect(db_path)) as db:
        rows = db.execute("SELECT url, outcome, reason FROM fetches")
        return {url: (outcome, reason) for url, outcome, reason in rows}


def test_run_fails_a_slow_page_and_a_memory_hungry_one_and_archives_the_rest(
    server: LocalServer, db_path: Path, tmp_path: Path
) -> None:
    slow = server.set("/slow", Response(body=SLOW))
    hungry = server.set("/hungry", Response(body=HUNGRY))
    good = [server.url(f"/fixtures/seeds/{SEED.name}?n={n}") for n in range(6)]
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join([slow, hungry, *good]) + "\n")
    started = time.monotonic()
    result = scraper_cli("run", str(listing), *FAST_FLAGS, *BOUNDS, timeout=60)
    assert time.monotonic() - started < 30
    assert result.returncode == 1, result.stderr
    assert b"Traceback" not in result.stderr
    recorded = outcomes(db_path)
    assert recorded[slow] == ("failed", "clean timeout")
    assert recorded[hungry] == ("failed", "clean memory")
    assert all(recorded[url] == ("new", None) for url in good)


def test_archive_bounds_files_and_urls(server: LocalServer, db_path: Path, tmp_path: Path) -> None:
    slow_file = tmp_path / "slow.html"
    slow_file.write_bytes(SLOW)
    slow_url = server.set("/slow", Response(body=SLOW))
    good = server.url(f"/fixtures/seeds/{SEED.name}")
    started = time.monotonic()
    result = scraper_cli("archive", str(slow_file), slow_url, good, *FAST_FLAGS, *BOUNDS, timeout=60)
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert result.stderr.count(b"clean timeout") == 2, result.stderr
    recorded = outcomes(db_path)
    assert recorded[slow_url] == ("failed", "clean timeout")
    assert recorded[slow_file.resolve().as_uri()] == ("failed", "clean timeout")
    assert recorded[good] == ("new", None)


def test_clean_of_a_slow_page_ends_with_one_line_within_about_its_timeout(tmp_path: Path) -> None:
    slow_file = tmp_path / "slow.html"
    slow_file.write_bytes(SLOW)
    started = time.monotonic()
    result = scraper_cli("clean", str(slow_file), "--clean-timeout", "1", timeout=60)
    assert time.monotonic() - started < 15  # the page alone takes well over that
    assert result.returncode == 1
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and "clean timeout" in lines[0], lines


def test_clean_of_a_memory_hungry_page_fails_with_clean_memory(tmp_path: Path) -> None:
    hungry_file = tmp_path / "hungry.html"
    hungry_file.write_bytes(HUNGRY)
    result = scraper_cli("clean", str(hungry_file), "--clean-memory", "200", timeout=60)
    assert result.returncode == 1
    assert "clean memory" in result.stderr.decode()


def test_a_killed_cleaning_process_costs_only_its_page() -> None:
    html = SEED.read_text(encoding="utf-8")
    with CleaningPool(1, timeout=30) as pool:
        assert pool.clean(html, "https://example.org/a").title
        (worker,) = pool._workers

        def kill_soon() -> None:  # as the out-of-memory killer would, while the page is cleaned
            time.sleep(0.5)
            os.kill(worker.process.pid, signal.SIGKILL)

        threading.Thread(target=kill_soon).start()
        with pytest.raises(CleanMemory):
            pool.clean(SLOW.decode(), "https://example.org/slow")
        # Another process takes its place, and cleans as the caller would.
        assert pool.clean(html, "https://example.org/a") == clean(html, url="https://example.org/a")


def test_a_late_page_does_not_hold_the_others_past_its_limit() -> None:
    html = SEED.read_text(encoding="utf-8")
    with CleaningPool(1, timeout=1) as pool:
        pool.clean(html, "https://example.org/a")  # started: its start-up does not count below
        late: list[BaseException] = []

        def clean_slow() -> None:
            try:
                pool.clean(SLOW.decode(), "https://example.org/slow")
            except CleanTimeout as exc:
                late.append(exc)

        slow = threading.Thread(target=clean_slow)
        slow.start()
        time.sleep(0.2)
        started = time.monotonic()
        assert pool.clean(html, "https://example.org/a").title  # waits for the one process
        assert time.monotonic() - started < 10
        slow.join()
        assert late


def test_a_page_being_cleaned_long_holds_no_other_page_while_a_process_is_free() -> None:
    html = SEED.read_text(encoding="utf-8")
    with CleaningPool(2, timeout=60) as pool:
        def clean_slow() -> None:
            with suppress(InternalError):  # stopped when the pool closes
                pool.clean(SLOW.decode(), "https://example.org/slow")

        slow = threading.Thread(target=clean_slow)
        slow.start()
        time.sleep(0.1)  # the slow page's process is starting
        started = time.monotonic()
        others = [threading.Thread(target=pool.clean, args=(html, "https://example.org/a")) for _ in range(3)]
        for thread in others:
            thread.start()
        for thread in others:
            thread.join()
        assert time.monotonic() - started < 15  # the slow page takes 30 s
    slow.join()


def test_a_failure_the_archive_cannot_record_is_still_an_outcome(db_path: Path) -> None:
    with Archive(db_path, busy_timeout=0.2, lock_patience=0.5) as archive:
        blocker = sqlite3.connect(db_path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # another writer, holding the archive past its busy timeout
        try:
            html = "<html><body></body></html>"
            page = Page(url="https://example.org/empty", final_url="https://example.org/empty",
                        content=html.encode(), html=html, encoding="utf-8")
            outcome = save_page(archive, page)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
    assert isinstance(outcome.error, NoContent)
    assert not isinstance(outcome.error, ArchiveError)


def test_a_script_without_a_main_guard_runs_once(server: LocalServer, tmp_path: Path) -> None:
    urls = [server.url(f"/fixtures/seeds/{SEED.name}?n={n}") for n in range(3)]
    script = tmp_path / "archive_three.py"
    script.write_text(textwrap.dedent(f"""\
        from archive import Archive
        from scraper.run import run
        from scraper.politeness import Politeness, PoliteClient

        with Archive({str(tmp_path / "a.db")!r}) as archive:
            client = PoliteClient(politeness=Politeness(per_host=3, interval=0, robots=False))
            for outcome in run({urls!r}, archive, client=client, cleaners=2):
                print(outcome.ok, outcome.error and outcome.error.reason)
        """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().split("\n").count("True None") == 3, result.stdout
    pages = [path for _, path in server.log if path.startswith("/fixtures/")]
    assert len(pages) == 3
    with closing(sqlite3.connect(tmp_path / "a.db")) as db:
        assert db.execute("SELECT count(*) FROM fetches WHERE reason = 'internal error'").fetchone()[0] == 0
