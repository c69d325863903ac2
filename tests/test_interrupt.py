"""A run stopped mid-way keeps every page it saved, and a rerun finishes the rest."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing, suppress
from pathlib import Path

import pytest

from tests.conftest import FAST_FLAGS, SEEDS
from tests.server import LocalServer, Response

PAGES = 24
SEED = SEEDS / "002_60c7648376388afa.html"


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


def wait_for_versions(db_path: Path, count: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    give_up = time.monotonic() + seconds
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
    assert process.returncode == 130, err.decode()
    assert b"Traceback" not in err
    assert b"Interrupted: everything archived so far is saved." in err
    db = sqlite3.connect(db_path)
    status, new_versions = db.execute("SELECT status, new_versions FROM runs").fetchone()
    assert status == "interrupted"
    assert new_versions == db.execute("SELECT count(*) FROM versions").fetchone()[0] >= 3


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stopping_waits_neither_for_a_hanging_fetch_nor_for_a_page_being_cleaned(
    signum: int, server: LocalServer, db_path: Path, tmp_path: Path
) -> None:
    slow = server.set("/slow", Response(body=b"<html><body><p>Hostile.</p>" + b"<div>" * 120000))  # 30 s to clean
    hanging = server.set("/hanging", Response(body=b"<html></html>", delay=60))
    good = [server.url(f"/delay/0.25/seeds/002_60c7648376388afa.html?n={n}") for n in range(PAGES)]
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join([slow, hanging, *good]) + "\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "scraper", "run", str(listing), "--concurrency", "4", "--timeout", "30",
         "--deadline", "60", "--retries", "0", "--interval", "0", "--per-host", "8", "--clean-timeout", "60"],
        env={**os.environ, "SCRAPER_DB": str(db_path)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        wait_for_versions(db_path, 2, process, seconds=90)  # one core is busy with the slow page
        cleaners = children(process.pid)
        assert cleaners
        started = time.monotonic()
        process.send_signal(signum)
        time.sleep(0.1)
        process.send_signal(signum)  # a second Ctrl-C while it stops
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
        process.communicate()
    assert time.monotonic() - started < 10  # the clean would take 30 s, the fetch 30
    assert process.returncode == 130
    assert b"Traceback" not in err, err
    assert b"Interrupted: everything archived so far is saved." in err
    db = sqlite3.connect(db_path)
    status, new_versions = db.execute("SELECT status, new_versions FROM runs").fetchone()
    assert status == "interrupted"
    assert new_versions == db.execute("SELECT count(*) FROM versions").fetchone()[0] >= 2
    give_up = time.monotonic() + 10
    while any(alive(pid) for pid in cleaners):
        assert time.monotonic() < give_up, "a cleaning process outlived its run"
        time.sleep(0.05)


def test_cleaning_processes_end_when_their_run_is_killed(tmp_path: Path) -> None:
    """kill -9 of the run: an idle cleaning process ends as its stdin closes, a busy one by
    its own deadline."""
    script = (
        "import sys, threading, time\n"
        "from scraper.cleaning_pool import CleaningPool\n"
        f"html = open({str(SEED)!r}).read()\n"
        "idle, busy = CleaningPool(1), CleaningPool(1, timeout=2)\n"
        "idle.clean(html, 'https://example.org/a')\n"
        "busy.clean(html, 'https://example.org/a')\n"
        "threading.Thread(target=busy.clean, args=('<div>' * 120000, 'https://example.org/slow')).start()\n"
        "time.sleep(0.5)\n"
        "print(*[w.process.pid for pool in (idle, busy) for w in pool._workers], flush=True)\n"
        "time.sleep(60)\n"
    )
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert run.stdout is not None
    pids = [int(pid) for pid in run.stdout.readline().split()]
    assert len(pids) == 2
    run.kill()
    run.communicate()
    give_up = time.monotonic() + 20
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < give_up, "a cleaning process outlived its run"
        time.sleep(0.05)
