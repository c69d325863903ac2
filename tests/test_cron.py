"""`scraper run` as cron runs it: feeds and sitemaps, JSON logs, overlapping runs on one
archive, and a run over everything the hostile server can throw at it."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FAST_FLAGS, scraper_cli
from tests.hostile import HostileServer, bomb, max_concurrency
from tests.server import LocalServer, Response


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as running:
        yield running


def summary(result: subprocess.CompletedProcess[bytes]) -> dict[str, object]:
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def unstamped(stderr: bytes) -> str:
    """A run's text log without the time that starts each line when stderr is not a terminal."""
    return re.sub(r"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", "", stderr.decode())


def test_run_over_a_feed_and_a_sitemap_index(hostile: HostileServer, db_path: Path) -> None:
    result = scraper_cli("run", "--feed", hostile.url("/feed.xml"), "--sitemap", hostile.url("/sitemap-index.xml"),
                         "--json", *FAST_FLAGS)
    assert result.returncode == 0, result.stderr
    assert summary(result) | {"run_id": 0} == {
        "run_id": 0, "urls": 8, "fetched": 8, "new_versions": 8, "unchanged": 0, "skipped": 0, "failed": 0,
        "failed_by_reason": {}, "skipped_by_reason": {}}
    with sqlite3.connect(db_path) as db:
        urls = {row[0] for row in db.execute("SELECT url FROM pages")}
    assert urls == {hostile.url(f"/page/feed-{n}") for n in (1, 2, 3)} | {
        hostile.url(f"/page/sm-{n}") for n in (1, 2, 3, 4, 5)}


def test_a_sitemap_larger_than_the_page_cap_is_read_whole(db_path: Path) -> None:
    with LocalServer() as server:
        pages = [server.url(f"/fixtures/seeds/{name}")
                 for name in ("000_d467d9e684ffadb1.html", "001_7b6a4f0f43ad198b.html")]
        pages += [server.url(f"/status/404?n={n}") for n in range(20_000)]  # 1.3 MB of sitemap
        entries = "".join(f"<url><loc>{url}</loc></url>\n" for url in pages)
        sitemap = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</urlset>\n'.encode()
        assert len(sitemap) > 1_000_000
        server.set("/sitemap.xml", Response(sitemap, headers={"Content-Type": "application/xml"}))
        result = scraper_cli("run", "--sitemap", server.url("/sitemap.xml"), "--max-bytes", "1000000",
                             "--max-urls", "2", "--json", *FAST_FLAGS)
        too_large = scraper_cli("run", "--feed", server.url("/sitemap.xml"), "--max-bytes", "1000000", *FAST_FLAGS)
    assert result.returncode == 0, result.stderr
    assert summary(result)["new_versions"] == 2
    # Feeds keep the run's cap.
    assert too_large.returncode == 1
    assert unstamped(too_large.stderr).startswith(
        f"Error: feed {server.url('/sitemap.xml')}: {len(sitemap)} bytes declared, cap is 1000000\n0 URLs:")


def test_since_and_max_urls(hostile: HostileServer, db_path: Path) -> None:
    since = scraper_cli("run", "--feed", hostile.url("/feed.xml"), "--sitemap", hostile.url("/sitemap-index.xml"),
                        "--since", "2024-02-15", "--json", *FAST_FLAGS)
    assert summary(since)["urls"] == 4  # feed-3 (March) and sm-3..5 (March to May)
    capped = scraper_cli("run", "--feed", hostile.url("/feed.xml"), "--max-urls", "2", "--json", *FAST_FLAGS)
    assert summary(capped)["urls"] == 2


def test_a_failing_source_is_reported_and_the_others_run(hostile: HostileServer, db_path: Path) -> None:
    result = scraper_cli("run", "--feed", hostile.url("/status/404"), "--feed", hostile.url("/page/not-a-feed"),
                         "--feed", hostile.url("/atom.xml"), "--json", *FAST_FLAGS)
    err = result.stderr.decode()
    assert result.returncode == 1
    assert f"Error: feed {hostile.url('/status/404')}: HTTP 404" in err
    assert "not an RSS or Atom feed" in err and "Traceback" not in err
    assert summary(result)["new_versions"] == 2


def test_json_log_format(hostile: HostileServer, db_path: Path) -> None:
    hostile.set_robots("User-agent: *\nDisallow: /page/secret\n")
    listing = db_path.parent / "urls.txt"
    listing.write_text("\n".join(hostile.url(path) for path in ("/page/one", "/page/secret", "/status/410")))
    result = scraper_cli("run", str(listing), "--log-format", "json", *FAST_FLAGS)
    assert result.returncode == 1 and result.stdout == b""
    events = [json.loads(line) for line in result.stderr.decode().splitlines()]
    by_event = {event["event"]: event for event in events}
    assert by_event["new"]["url"] == hostile.url("/page/one")
    assert by_event["skipped"]["reason"] == "robots.txt"
    assert by_event["failed"]["reason"] == "http 410"
    assert by_event["summary"]["failed"] == 1 and by_event["summary"]["skipped"] == 1
    assert by_event["summary"]["failed_by_reason"] == {"http 410": 1}
    assert by_event["summary"]["skipped_by_reason"] == {"robots.txt": 1}
    assert all(event["time"].endswith("Z") for event in events)


def _start(listing: Path, db_path: Path, *flags: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "scraper", "run", str(listing), "--json", "--concurrency", "4", *FAST_FLAGS, *flags],
        env={**os.environ, "SCRAPER_DB": str(db_path)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def test_overlapping_runs_on_one_list_never_fetch_a_url_twice_at_once(
        hostile: HostileServer, db_path: Path) -> None:
    hostile.latency = 0.3
    listing = db_path.parent / "urls.txt"
    urls = [hostile.url(f"/page/overlap-{n}") for n in range(16)]
    listing.write_text("\n".join(urls) + "\n")
    runs = [_start(listing, db_path), _start(listing, db_path)]
    results = [(run.wait(timeout=60), *run.communicate()) for run in runs]
    for code, _, err in results:
        assert code == 0, err
        assert b"locked" not in err and b"Traceback" not in err
    for url in urls:
        path = url.removeprefix(hostile.base)
        assert max_concurrency([hit for hit in hostile.hits(path) if hit.path == path]) == 1, path
    totals = [json.loads(out) for _, out, _ in results]
    assert sum(total["skipped"] for total in totals) > 0  # each run left the other's URLs alone
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT count(*), max(latest_version) FROM pages").fetchone() == (16, 1)
        assert db.execute("SELECT count(*) FROM leases").fetchone()[0] == 0


def test_runs_over_different_lists_proceed_side_by_side(hostile: HostileServer, db_path: Path) -> None:
    hostile.latency = 0.3
    lists = []
    for name in ("a", "b"):
        listing = db_path.parent / f"{name}.txt"
        listing.write_text("\n".join(hostile.url(f"/page/{name}-{n}") for n in range(8)) + "\n")
        lists.append(listing)
    runs = [_start(listing, db_path, "--per-host", "8") for listing in lists]
    for run in runs:
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
        assert json.loads(out)["new_versions"] == 8
    a, b = hostile.hits("/page/a-"), hostile.hits("/page/b-")
    assert min(hit.started for hit in b) < max(hit.finished for hit in a)  # b did not wait for a to end


def test_a_run_over_everything_hostile(hostile: HostileServer, db_path: Path) -> None:
    for encoding in ("gzip", "deflate", "br", "zstd"):
        bomb(encoding)  # built before the clock starts
    hostile.set_robots("User-agent: *\nDisallow: /page/forbidden\n")
    good = [hostile.url(f"/page/good-{n}") for n in range(10)] + [
        hostile.url(path) for path in (
            "/retry-after/503/1/1/after", "/flaky/502/1/flaky", "/redirect/3/moved", "/slow/0.5/slow",
            "/charset/shift-jis-undeclared", "/charset/gb18030-wrong-header", "/charset/cp1252-declared-utf8")]
    bad = [hostile.url(path) for path in (
        "/hang-headers", "/hang-body", "/trickle", "/drop", "/reset", "/broken-chunked", "/loop/a",
        "/bomb/gzip", "/bomb/deflate", "/bomb/br", "/bomb/zstd", "/huge", "/huge-declared", "/binary",
        "/binary-as-html", "/pdf", "/status/404", "/status/500", "/retry-after/429/9/3600/never")]
    skipped = [hostile.url("/page/forbidden")]
    listing = db_path.parent / "hostile.txt"
    listing.write_text("\n".join(good + bad + skipped) + "\n")
    deadline = 4.0
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "scraper", "run", str(listing), "--json", "--concurrency", "8", "--per-host", "8",
         "--interval", "0", "--timeout", "1", "--deadline", str(deadline), "--retries", "1"],
        env={**os.environ, "SCRAPER_DB": str(db_path)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    peak_kib = 0
    while process.poll() is None:
        peak_kib = max(peak_kib, _high_water_kib(process.pid))
        time.sleep(0.05)
    out, err = process.communicate()
    elapsed = time.monotonic() - started
    assert process.returncode == 1, err
    assert b"Traceback" not in err
    totals = json.loads(out)
    assert totals["new_versions"] == len(good) and totals["failed"] == len(bad) and totals["skipped"] == 1
    # Every stalling URL was cut at its deadline; 8 at once, so the run is a few deadlines long at most.
    assert elapsed < 6 * deadline
    assert 0 < peak_kib < 300 * 1024  # a gigabyte bomb or a 50 MB body never sits in memory
    with sqlite3.connect(db_path) as db:
        archived = {row[0] for row in db.execute("SELECT url FROM pages WHERE latest_version = 1")}
        assert archived == set(good)
        reasons = dict(db.execute("SELECT url, reason FROM fetches WHERE outcome = 'failed'").fetchall())
    assert reasons[hostile.url("/bomb/br")] == "too large" and reasons[hostile.url("/trickle")] == "timeout"
    assert reasons[hostile.url("/loop/a")] == "redirects" and reasons[hostile.url("/binary-as-html")] == "not html"


def _high_water_kib(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), 0 once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
