"""A run stopped mid-way keeps every page it saved, and a rerun finishes the rest."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import FAST_FLAGS
from tests.server import LocalServer

PAGES = 24


def start_run(server: LocalServer, db_path: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    # Each page takes 0.25 s to serve and two are fetched at once: the run lasts about 3 s.
    urls = [server.url(f"/delay/0.25/seeds/002_60c7648376388afa.html?n={n}") for n in range(PAGES)]
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join(urls) + "\n")
    return subprocess.Popen(
        [sys.executable, "-m", "scraper", "run", str(listing), "--concurrency", "2", *FAST_FLAGS],
        env={**os.environ, "SCRAPER_DB": str(db_path)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def saved_versions(db_path: Path) -> int:
    try:
        with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
            return int(db.execute("SELECT count(*) FROM versions").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not created yet


def wait_for_versions(db_path: Path, count: int, process: subprocess.Popen[bytes]) -> None:
    give_up = time.monotonic() + 30
    while saved_versions(db_path) < count:
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < give_up
        time.sleep(0.02)


def rerun(db_path: Path, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "scraper", "run", str(tmp_path / "urls.txt"), "--concurrency", "8",
         *FAST_FLAGS],
        env={**os.environ, "SCRAPER_DB": str(db_path)}, capture_output=True, timeout=60,
    )


def test_killed_run_leaves_a_valid_database_and_a_rerun_completes(
    server: LocalServer, db_path: Path, tmp_path: Path
) -> None:
    process = start_run(server, db_path, tmp_path)
    wait_for_versions(db_path, 4, process)
    process.kill()  # SIGKILL: no chance to clean up
    process.communicate(timeout=10)
    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kept = db.execute("SELECT count(*) FROM versions").fetchone()[0]
    assert 4 <= kept < PAGES
    # Every page row has the version it claims: no half-saved page.
    assert db.execute(
        "SELECT count(*) FROM pages p LEFT JOIN versions v"
        " ON v.page_id = p.id AND v.version = p.latest_version WHERE v.id IS NULL").fetchone()[0] == 0
    db.close()

    result = rerun(db_path, tmp_path)
    assert result.returncode == 0, result.stderr
    summary = f"{PAGES} URLs: {PAGES} fetched, {PAGES - kept} new versions, {kept} unchanged"
    assert summary in result.stderr.decode()
    db = sqlite3.connect(db_path)
    assert db.execute("SELECT count(*), max(version) FROM versions").fetchone() == (PAGES, 1)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_says_so_and_keeps_its_pages(
    signum: int, server: LocalServer, db_path: Path, tmp_path: Path
) -> None:
    process = start_run(server, db_path, tmp_path)
    wait_for_versions(db_path, 3, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=15)
    assert process.returncode == 130
    assert b"Traceback" not in err
    assert b"Interrupted: everything archived so far is saved." in err
    db = sqlite3.connect(db_path)
    status, new_versions = db.execute("SELECT status, new_versions FROM runs").fetchone()
    assert status == "interrupted"
    assert new_versions == db.execute("SELECT count(*) FROM versions").fetchone()[0] >= 3


def test_a_cleaning_process_started_after_its_run_died_ends() -> None:
    """A run killed while its cleaning pool starts: the new process must not outlive it."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    started = time.monotonic()
    orphan = subprocess.run(
        [sys.executable, "-c", "import time; from scraper.cleaning_pool import init_cleaning_process;"
         f" init_cleaning_process({dead_pid}); time.sleep(30)"],
        capture_output=True, timeout=20,
    )
    assert orphan.returncode == 0 and time.monotonic() - started < 10
