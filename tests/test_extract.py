"""`scraper extract`: WARC files made here with warcio, from the fixture pages and hostile
records beside them, cleaned into shards (or into the archive), and what a rerun, a kill,
a truncated file and Ray do to them."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from scraper import extract
from scraper.cleaner import CLEANER_ID, clean
from scraper.cleaning_pool import PAGES_A_PROCESS
from scraper.errors import OutputUnavailable
from tests.conftest import CORPUS, SEEDS, scraper_cli
from tests.server import FIXTURES

PAGES = sorted(CORPUS.glob("*.html")) + sorted(SEEDS.glob("*.html"))
SLOW = ("<html><body><p>A few words of introduction before the page turns hostile.</p>"
        + "<div>" * 120000 + "</body></html>").encode()
"""Unclosed <div>s: 600 KB that take the cleaner about 30 s (as in test_hostile_pages)."""
HUNGRY = ("<html><body><p>A few words of introduction before the page turns hostile.</p>"
          + "<a href='/x'>link</a>" * 200000 + "</body></html>").encode()
"""200,000 links: 4 MB that take the cleaner past 200 MiB within a second."""
BOUNDS = ["--clean-timeout", "3", "--clean-memory", "200"]


@dataclass
class Record:
    url: str
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("Content-Type", "text/html; charset=utf-8")])
    date: str = "2024-03-01T10:00:00Z"
    status: str = "200 OK"
    kind: str = "response"


def page(path: Path, date: str = "2024-03-01T10:00:00Z", url: str | None = None) -> Record:
    return Record(url or f"https://example.org/{path.stem}", path.read_bytes(), date=date)


def write_warc(path: Path, records: list[Record]) -> Path:
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=path.name.endswith(".gz"))
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "tests"}))
        for record in records:
            http = StatusAndHeaders(record.status, record.headers, protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                record.url, record.kind, payload=io.BytesIO(record.body), length=len(record.body),
                http_headers=http if record.kind == "response" else None,
                warc_content_type=None if record.kind == "response" else "text/html",
                warc_headers_dict={"WARC-Date": record.date}))
            if record.kind == "response":  # a request record between responses, as crawlers write
                request = StatusAndHeaders("GET / HTTP/1.1", [("Host", "example.org")], is_http_request=True)
                writer.write_record(writer.create_warc_record(record.url, "request", http_headers=request))
    return path


def shard(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def summary(result: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    return json.loads(result.stdout.decode().splitlines()[-1])  # type: ignore[no-any-return]


def chunked(body: bytes, size: int = 1000) -> bytes:
    pieces = [body[start:start + size] for start in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def test_every_html_page_becomes_a_record_and_hostile_records_are_skipped_by_reason(tmp_path: Path) -> None:
    html = PAGES[0].read_bytes()
    hostile = [
        Record("https://example.org/image.png", b"\x89PNG\r\n\x1a\n" + bytes(300), [("Content-Type", "image/png")]),
        Record("https://example.org/binary", bytes(range(256)) * 10),  # binary served as text/html
        Record("https://example.org/huge", b"<html><body>" + b"<p>filler</p>" * 800_000),  # 10 MB, cap 8 MiB
        Record("https://example.org/bomb", gzip.compress(b"<html><body>" + b" " * 50_000_000),
               [("Content-Type", "text/html"), ("Content-Encoding", "gzip")]),  # 50 KB that inflate to 50 MB
        Record("https://example.org/corrupt", b"\x1f\x8b\x08\x00garbage",
               [("Content-Type", "text/html"), ("Content-Encoding", "gzip")]),
        Record("https://example.org/missing", html, status="404 Not Found"),
        Record("https://example.org/slow", SLOW),
        Record("https://example.org/hungry", HUNGRY),
        Record("https://example.org/feed", b"<?xml version='1.0'?><rss><channel></channel></rss>", []),
    ]
    encoded = [  # bodies as servers send them: gzip, chunked, both
        Record("https://example.org/gzipped", gzip.compress(PAGES[1].read_bytes()),
               [("Content-Type", "text/html"), ("Content-Encoding", "gzip")]),
        Record("https://example.org/chunked", chunked(PAGES[2].read_bytes()),
               [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")]),
        Record("https://example.org/both", chunked(zlib.compress(PAGES[3].read_bytes())),
               [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked"), ("Content-Encoding", "deflate")]),
        Record("https://example.org/saved-file", PAGES[4].read_bytes(), kind="resource"),
    ]
    pages = [page(path) for path in PAGES[5:]]
    write_warc(tmp_path / "crawl-1.warc.gz", pages[:4] + hostile + pages[4:6])
    write_warc(tmp_path / "crawl-2.warc", encoded + pages[6:])
    out = tmp_path / "out"
    started = time.monotonic()
    result = scraper_cli("extract", str(tmp_path / "crawl-*.warc*"), "--output", str(out), "--json", "-j", "2",
                         "--max-bytes", str(8 << 20), *BOUNDS, timeout=180)
    assert time.monotonic() - started < 120  # the slow page ends at its limit
    assert result.returncode == 0, result.stderr.decode()
    assert b"Traceback" not in result.stderr
    totals = summary(result)
    assert totals["failed"] == 0 and totals["read"] == 2
    assert totals["skipped_by_reason"] == {"not html": 3, "too large": 2, "bad content": 1, "http 404": 1,
                                           "clean timeout": 1, "clean memory": 1}
    assert totals["extracted"] == len(PAGES) - 1  # PAGES[0] is only the 404's body
    assert totals["pages"] == len(PAGES) - 1 + len(hostile)
    assert sorted(os.listdir(out)) == ["crawl-1.done", "crawl-1.jsonl.gz", "crawl-2.done", "crawl-2.jsonl.gz"]

    records = shard(out / "crawl-1.jsonl.gz") + shard(out / "crawl-2.jsonl.gz")
    assert [record["url"] for record in records] == [record.url for record in [*pages[:6], *encoded, *pages[6:]]]
    sources = {record.url: path for record, path in zip(pages, PAGES[5:], strict=True)}
    sources.update({"https://example.org/gzipped": PAGES[1], "https://example.org/chunked": PAGES[2],
                    "https://example.org/both": PAGES[3], "https://example.org/saved-file": PAGES[4]})
    for record in records:
        article = clean(sources[record["url"]].read_bytes(), url=record["url"])
        assert record["text"] == article.text
        assert record["title"] == article.title and record["authors"] == list(article.authors)
        assert record["cleaner"] == CLEANER_ID
        assert record["warc_date"] == "2024-03-01T10:00:00Z"
        assert record["warc_record_id"].startswith("<urn:uuid:")
    assert len({record["warc_record_id"] for record in records}) == len(records)
    stderr = result.stderr.decode()
    assert "pages/s" in stderr and "clean timeout 1" in stderr


class _HoldingFirst:
    """A stand-in for a CleaningPool of `processes` processes whose first page takes until the
    pages after it have been handed out too (or 10 s): how many were, while it took its time."""

    def __init__(self, processes: int) -> None:
        self.processes, self.handed = processes, 0
        self._lock, self._others_out = threading.Lock(), threading.Event()

    def clean(self, html: str, url: str | None) -> Any:
        with self._lock:
            self.handed += 1
            first, enough = self.handed == 1, self.handed == PAGES_A_PROCESS * self.processes
        if enough:
            self._others_out.set()
        if first:
            self._others_out.wait(10)
        return clean(html, url=url)


def test_a_slow_page_does_not_hold_back_the_pages_after_it(tmp_path: Path) -> None:
    # Records are written in order, so the pages after a slow one wait for it; cleaning them
    # need not: the other processes go on with the next pages meanwhile.
    pool = _HoldingFirst(processes=2)
    warc = write_warc(tmp_path / "in.warc.gz", [page(path) for path in PAGES[:12]])
    items = extract.cleaned(warc, extract.Settings(), pool, bodies=False)  # type: ignore[arg-type]
    first = next(items)
    assert pool.handed >= PAGES_A_PROCESS * pool.processes  # handed out before the first page was done
    captures = [item[0] for item in [first, *items] if not isinstance(item, extract.Rejected)]
    assert [capture.url for capture in captures] == [f"https://example.org/{path.stem}" for path in PAGES[:12]]
    assert all(capture.html == "" and capture.content == b"" for capture in captures)


def test_a_target_uri_with_spaces_is_read_without_a_line_on_stderr_for_it(tmp_path: Path) -> None:
    warc = write_warc(tmp_path / "spaces.warc.gz", [page(PAGES[5], url="https://example.org/a page")])
    result = scraper_cli("extract", str(warc), "-o", str(tmp_path / "out"), "-j", "1", timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert [record["url"] for record in shard(tmp_path / "out" / "spaces.jsonl.gz")] == ["https://example.org/a%20page"]
    assert "WARC-Target-URI" not in result.stderr.decode()  # warcio's warning, once a record


def test_a_response_without_a_target_uri_is_skipped_and_the_records_after_it_are_read(tmp_path: Path) -> None:
    # warcio fails on such a record with an AttributeError, which would stop the whole file.
    warc = write_warc(tmp_path / "crawl.warc.gz", [page(PAGES[5]), Record("", PAGES[6].read_bytes()), page(PAGES[7])])
    result = scraper_cli("extract", str(warc), "-o", str(tmp_path / "out"), "--json", "-j", "1", timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert summary(result)["skipped_by_reason"] == {"invalid url": 1}
    assert [record["url"] for record in shard(tmp_path / "out" / "crawl.jsonl.gz")] == [
        f"https://example.org/{PAGES[5].stem}", f"https://example.org/{PAGES[7].stem}"]


def test_markdown_and_parquet_hold_the_same_records(tmp_path: Path) -> None:
    pyarrow = pytest.importorskip("pyarrow.parquet")
    warc = write_warc(tmp_path / "crawl.warc.gz", [page(path) for path in PAGES[:4]])
    as_jsonl = scraper_cli("extract", str(warc), "--output", str(tmp_path / "jsonl"), "--markdown", timeout=120)
    as_parquet = scraper_cli("extract", str(warc), "--output", str(tmp_path / "parquet"), "--markdown",
                             "--format", "parquet", timeout=120)
    assert as_jsonl.returncode == as_parquet.returncode == 0, as_parquet.stderr.decode()
    records = shard(tmp_path / "jsonl" / "crawl.jsonl.gz")
    assert records == pyarrow.read_table(tmp_path / "parquet" / "crawl.parquet").to_pylist()
    assert records[0]["text"] == clean(PAGES[0].read_bytes(), url=records[0]["url"]).markdown
    assert (tmp_path / "parquet" / "crawl.done").is_file()


def test_a_truncated_input_keeps_its_readable_records_fails_alone_and_is_redone(tmp_path: Path) -> None:
    good = write_warc(tmp_path / "good.warc.gz", [page(path) for path in PAGES[:3]])
    whole = write_warc(tmp_path / "cut.warc.gz", [page(path) for path in PAGES[3:9]]).read_bytes()
    (tmp_path / "cut.warc.gz").write_bytes(whole[:len(whole) * 2 // 3])  # ends inside a gzip member
    plain = write_warc(tmp_path / "short.warc", [page(path) for path in PAGES[9:12]]).read_bytes()
    (tmp_path / "short.warc").write_bytes(plain[:-3000])  # the last record short of its Content-Length
    wrong = write_warc(tmp_path / "wrong.warc", [page(path) for path in PAGES[:3]]).read_bytes()
    declared = list(re.finditer(rb"Content-Length: (\d+)", wrong))[3]  # of the second response
    (tmp_path / "wrong.warc").write_bytes(  # 100 bytes more than the record holds
        wrong[:declared.start(1)] + str(int(declared.group(1)) + 100).encode() + wrong[declared.end(1):])
    manifest = tmp_path / "inputs.txt"
    manifest.write_text("# the day's files\ncut.warc.gz\n\ngood.warc.gz\nshort.warc\nwrong.warc\n")
    out = tmp_path / "out"
    result = scraper_cli("extract", f"@{manifest}", "--output", str(out), "--json", timeout=120)
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr
    assert result.stderr.count(b"failed: ") == 3, result.stderr.decode()
    assert b"truncated" in result.stderr and b"Invalid WARC record" in result.stderr
    assert summary(result)["failed"] == 3 and summary(result)["read"] == 1
    assert shard(out / "wrong.jsonl.gz")[0]["url"] == f"https://example.org/{PAGES[0].stem}"
    kept = shard(out / "cut.jsonl.gz")
    assert 0 < len(kept) < 6 and [record["url"] for record in kept] == [
        f"https://example.org/{path.stem}" for path in PAGES[3:3 + len(kept)]]
    assert [record["url"] for record in shard(out / "short.jsonl.gz")] == [
        f"https://example.org/{path.stem}" for path in PAGES[9:11]]
    assert sorted(name for name in os.listdir(out) if name.endswith(".done")) == ["good.done"]
    assert len(shard(out / "good.jsonl.gz")) == 3
    # The rerun passes over the finished input, and redoes the failed ones from their start.
    again = scraper_cli("extract", f"@{manifest}", "--output", str(out), "--json", timeout=120)
    assert again.returncode == 1
    assert summary(again)["done_before"] == 1 and summary(again)["failed"] == 3
    assert shard(out / "cut.jsonl.gz") == kept
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")]
    assert good.is_file()


def test_a_rerun_passes_over_finished_inputs_and_redoes_a_changed_one(tmp_path: Path) -> None:
    first = write_warc(tmp_path / "a.warc.gz", [page(path) for path in PAGES[:2]])
    write_warc(tmp_path / "b.warc.gz", [page(path) for path in PAGES[2:4]])
    out = tmp_path / "out"
    assert scraper_cli("extract", str(tmp_path / "a.warc.gz"), str(tmp_path / "b.warc.gz"), "-o", str(out),
                       timeout=120).returncode == 0
    written = (out / "a.jsonl.gz").stat().st_mtime_ns
    write_warc(first, [page(path) for path in PAGES[:3]])  # a.warc.gz grew: redone
    again = scraper_cli("extract", str(tmp_path / "a.warc.gz"), str(tmp_path / "b.warc.gz"), "-o", str(out),
                        "--json", timeout=120)
    assert again.returncode == 0
    assert summary(again)["done_before"] == 1 and summary(again)["read"] == 1
    assert len(shard(out / "a.jsonl.gz")) == 3 and len(shard(out / "b.jsonl.gz")) == 2
    assert (out / "a.jsonl.gz").stat().st_mtime_ns != written


def test_a_killed_extract_leaves_no_duplicates_and_the_rerun_finishes(tmp_path: Path) -> None:
    # The second input holds slow pages: the command is killed while it cleans them.
    write_warc(tmp_path / "1.warc.gz", [page(path) for path in PAGES[:6]])
    write_warc(tmp_path / "2.warc.gz", [page(path) for path in PAGES[6:9]]
               + [Record(f"https://example.org/slow/{n}", SLOW) for n in range(2)] + [page(PAGES[9])])
    out = tmp_path / "out"
    command = [sys.executable, "-m", "scraper", "extract", str(tmp_path / "1.warc.gz"), str(tmp_path / "2.warc.gz"),
               "-o", str(out), "-j", "1", "--clean-timeout", "60"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    give_up = time.monotonic() + 120
    while not [name for name in os.listdir(out) if name.startswith(".2.")] if out.exists() else True:
        assert process.poll() is None and time.monotonic() < give_up
        time.sleep(0.05)
    time.sleep(1)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert (out / "1.done").is_file() and not (out / "2.done").exists()
    assert not (out / "2.jsonl.gz").exists()  # only its temporary file
    rerun = scraper_cli("extract", str(tmp_path / "1.warc.gz"), str(tmp_path / "2.warc.gz"), "-o", str(out),
                        "--clean-timeout", "2", "--json", timeout=180)
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert summary(rerun)["done_before"] == 1 and summary(rerun)["skipped_by_reason"] == {"clean timeout": 2}
    records = shard(out / "1.jsonl.gz") + shard(out / "2.jsonl.gz")
    ids = [record["warc_record_id"] for record in records]
    assert len(ids) == len(set(ids)) == 10
    assert sorted(os.listdir(out)) == ["1.done", "1.jsonl.gz", "2.done", "2.jsonl.gz"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_stops_with_130_and_keeps_finished_inputs(tmp_path: Path, signum: int) -> None:
    write_warc(tmp_path / "1.warc.gz", [page(path) for path in PAGES[:2]])
    write_warc(tmp_path / "2.warc.gz", [Record("https://example.org/slow", SLOW)])
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "scraper", "extract", str(tmp_path / "1.warc.gz"),
                                str(tmp_path / "2.warc.gz"), "-o", str(out), "--clean-timeout", "60"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    give_up = time.monotonic() + 120
    while not (out / "1.done").exists():
        assert process.poll() is None and time.monotonic() < give_up
        time.sleep(0.05)
    time.sleep(0.5)
    started = time.monotonic()
    process.send_signal(signum)  # while it waits for the slow page
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert process.returncode == 130
    assert b"Interrupted" in stderr and b"Traceback" not in stderr
    assert sorted(os.listdir(out)) == ["1.done", "1.jsonl.gz"]


def test_a_second_extract_into_the_same_folder_is_refused_and_leaves_the_first_alone(tmp_path: Path) -> None:
    write_warc(tmp_path / "1.warc.gz", [page(PAGES[0]), Record("https://example.org/slow", SLOW)])
    write_warc(tmp_path / "2.warc.gz", [page(PAGES[1])])
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "scraper", "extract", str(tmp_path / "1.warc.gz"), "-o", str(out),
                              "--clean-timeout", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        give_up = time.monotonic() + 120
        while not [name for name in os.listdir(out) if name.endswith(".tmp")] if out.exists() else True:
            assert first.poll() is None and time.monotonic() < give_up
            time.sleep(0.05)
        unfinished = sorted(os.listdir(out))
        second = scraper_cli("extract", str(tmp_path / "1.warc.gz"), str(tmp_path / "2.warc.gz"), "-o", str(out),
                             timeout=120)
        assert second.returncode == 1
        assert second.stderr.decode().strip() == \
            f"Error: {out} is being written by another scraper extract: wait for it to end, or give another --output"
        assert sorted(os.listdir(out)) == unfinished  # the first job's shard in the making is still there
        assert first.poll() is None
    finally:
        first.kill()
        first.wait(timeout=30)
    rerun = scraper_cli("extract", str(tmp_path / "1.warc.gz"), str(tmp_path / "2.warc.gz"), "-o", str(out),
                        "--clean-timeout", "2", "--json", timeout=180)  # the folder is free once the job is gone
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert sorted(os.listdir(out)) == ["1.done", "1.jsonl.gz", "2.done", "2.jsonl.gz"]


def test_into_the_archive_versions_are_dated_by_warc_date_and_a_rerun_adds_none(tmp_path: Path,
                                                                                 db_path: Path) -> None:
    story = "https://example.org/news/story"
    html = (SEEDS / "000_d467d9e684ffadb1.html").read_text(encoding="utf-8")
    paragraph = json.loads((SEEDS / "expected.json").read_text())["000_d467d9e684ffadb1.txt"]["body"][1]
    edited = html.replace(paragraph, f"{paragraph} Officials declined to comment.").encode()
    january = write_warc(tmp_path / "january.warc.gz", [
        Record(story, html.encode(), date="2024-01-05T08:00:00Z"),
        Record(story, html.encode(), date="2024-01-06T08:00:00Z"),  # unchanged: no new version
        page(PAGES[0], date="2024-01-07T09:30:00Z"),
        Record("https://example.org/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(100), [("Content-Type", "image/png")])])
    february = write_warc(tmp_path / "february.warc.gz", [Record(story, edited, date="2024-02-01T12:00:00Z")])
    result = scraper_cli("extract", str(january), str(february), "--into-archive", "--json", timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert summary(result)["new_versions"] == 3 and summary(result)["unchanged"] == 1
    with closing(sqlite3.connect(db_path)) as db:
        assert db.execute("SELECT v.version, v.fetched_at, v.cleaner FROM versions v JOIN pages p ON p.id = v.page_id"
                          " WHERE p.url = ? ORDER BY v.version", [story]).fetchall() == [
            (1, "2024-01-05T08:00:00Z", CLEANER_ID), (2, "2024-02-01T12:00:00Z", CLEANER_ID)]
        assert db.execute("SELECT last_checked FROM pages WHERE url = ?", [story]).fetchone() == (
            "2024-02-01T12:00:00Z",)
        assert db.execute("SELECT reason FROM fetches WHERE outcome = 'failed'").fetchall() == [("not html",)]
    history = scraper_cli("history", story)
    assert history.stdout.decode().splitlines()[1].startswith("v2\t2024-02-01T12:00:00Z")
    # Again, and the January file after the February one: nothing older than the archive's
    # last check of a page is saved, so no version is made twice or out of order.
    again = scraper_cli("extract", str(february), str(january), "--into-archive", "--json", timeout=120)
    assert again.returncode == 0
    assert summary(again)["new_versions"] == 0
    assert scraper_cli("history", story).stdout == history.stdout
    with closing(sqlite3.connect(db_path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM versions").fetchone() == (3,)


def test_dedupe_drops_near_copies_across_shards_and_a_second_pass_drops_none(tmp_path: Path) -> None:
    original = SEEDS / "000_d467d9e684ffadb1.html"
    copy = FIXTURES / "syndicated" / "000_other_layout.html"
    write_warc(tmp_path / "a.warc.gz", [page(original), page(PAGES[0])])
    write_warc(tmp_path / "b.warc.gz", [page(PAGES[1]), page(copy, url="https://elsewhere.example/copy"),
                                        page(original, url="https://example.org/again")])
    out = tmp_path / "out"
    inputs = [str(tmp_path / "a.warc.gz"), str(tmp_path / "b.warc.gz")]
    result = scraper_cli("extract", *inputs, "-o", str(out), "--dedupe", "--json", timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert summary(result)["duplicates_dropped"] == 2
    assert b"2 near-duplicates dropped" in result.stderr
    assert [record["url"] for record in shard(out / "a.jsonl.gz")] == [
        f"https://example.org/{original.stem}", f"https://example.org/{PAGES[0].stem}"]
    assert [record["url"] for record in shard(out / "b.jsonl.gz")] == [f"https://example.org/{PAGES[1].stem}"]
    again = scraper_cli("extract", *inputs, "-o", str(out), "--dedupe", "--json", timeout=120)
    assert summary(again)["duplicates_dropped"] == 0 and summary(again)["done_before"] == 2


def test_a_job_holds_its_folder_until_its_near_duplicates_are_dropped(tmp_path: Path) -> None:
    """Else a second job could start in between and take the shard being rewritten for a killed
    run's leftover."""
    original = SEEDS / "000_d467d9e684ffadb1.html"
    warc = write_warc(tmp_path / "a.warc.gz", [page(original), page(original, url="https://example.org/again")])
    out = tmp_path / "out"
    out.mkdir()
    job = extract.extract([warc], extract.Settings(), out_dir=out, jobs=1, dedupe=True)
    assert [type(item) for item in itertools.islice(job, 2)] == [extract.InputResult, extract.Deduplicated]
    assert [record["url"] for record in shard(out / "a.jsonl.gz")] == [f"https://example.org/{original.stem}"]
    with pytest.raises(OutputUnavailable):  # the job is at its end, and the folder still its own
        next(extract.extract([warc], extract.Settings(), out_dir=out, jobs=1))
    assert list(job) == []
    again = list(extract.extract([warc], extract.Settings(), out_dir=out, jobs=1))
    assert [item.state for item in again if isinstance(item, extract.InputResult)] == ["passed"]


@pytest.mark.timeout(300)
def test_ray_gives_the_same_shards_as_the_local_pool(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    write_warc(tmp_path / "a.warc.gz", [page(path) for path in PAGES[:5]]
               + [Record("https://example.org/slow", SLOW)])
    cut = write_warc(tmp_path / "b.warc.gz", [page(path) for path in PAGES[5:]]).read_bytes()
    (tmp_path / "b.warc.gz").write_bytes(cut[:-40])
    inputs = [str(tmp_path / "a.warc.gz"), str(tmp_path / "b.warc.gz")]
    env = {"RAY_ADDRESS": ""}  # a local instance, started and stopped with the command
    local = scraper_cli("extract", *inputs, "-o", str(tmp_path / "local"), "--clean-timeout", "2", "--json",
                        timeout=120)
    ray = scraper_cli("extract", *inputs, "-o", str(tmp_path / "ray"), "--clean-timeout", "2", "--ray", "-j", "2",
                      "--json", env=env, timeout=240)
    assert local.returncode == ray.returncode == 1, ray.stderr.decode()
    assert b"Traceback" not in ray.stderr
    for name in ("a.jsonl.gz", "b.jsonl.gz"):
        assert shard(tmp_path / "ray" / name) == shard(tmp_path / "local" / name)
    assert sorted(os.listdir(tmp_path / "ray")) == sorted(os.listdir(tmp_path / "local"))
    totals = summary(ray)
    assert totals == {**summary(local), "seconds": totals["seconds"]}
    assert totals["skipped_by_reason"] == {"clean timeout": 1}
    # Into the archive: the tasks send the pages back, and this process saves them.
    archived = scraper_cli("extract", *inputs, "--into-archive", "--db", str(tmp_path / "ray.db"), "--ray",
                           "--clean-timeout", "2", "-j", "2", "--json", env=env, timeout=240)
    assert archived.returncode == 1, archived.stderr.decode()
    assert summary(archived)["new_versions"] == len(shard(tmp_path / "local" / "a.jsonl.gz")) + len(
        shard(tmp_path / "local" / "b.jsonl.gz"))
    with closing(sqlite3.connect(tmp_path / "ray.db")) as db:
        texts = dict(db.execute("SELECT p.url, v.text FROM versions v JOIN pages p ON p.id = v.page_id"))
        assert db.execute("SELECT reason FROM fetches WHERE outcome = 'failed'").fetchall() == [("clean timeout",)]
    assert texts == {record["url"]: record["text"] for name in ("a.jsonl.gz", "b.jsonl.gz")
                     for record in shard(tmp_path / "local" / name)}


@pytest.mark.parametrize(("arguments", "message"), [
    (["missing.warc.gz", "-o", "out"], "missing.warc.gz: no such file"),
    (["*.nothing", "-o", "out"], "matches no file"),
    (["@absent.txt", "-o", "out"], "cannot read the manifest"),
    (["."], "give --output DIR, or --into-archive"),
    ([".", "-o", "out", "--into-archive"], "give --output DIR, or --into-archive"),
    (["crawl.warc", "--into-archive", "--dedupe"], "--dedupe and --markdown are for shards"),
])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path: Path, arguments: list[str], message: str) -> None:
    (tmp_path / "crawl.warc").write_bytes(b"")
    result = subprocess.run([sys.executable, "-m", "scraper", "extract", *arguments], cwd=tmp_path,
                            capture_output=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr.decode()
    assert b"Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("module", "option", "extra"),
                         [("pyarrow", ["--format", "parquet"], "parquet"), ("ray", ["--ray"], "ray")])
def test_an_extra_not_installed_is_named_in_one_line(tmp_path: Path, module: str, option: list[str],
                                                     extra: str) -> None:
    # As where `pip install scraper` was run without [ray]: the module cannot be imported.
    code = (f"import sys; sys.modules[{module!r}] = None; "
            f"sys.argv = ['scraper', 'extract', 'in.warc', '-o', 'out', *{option!r}]; "
            "from scraper.__main__ import main; main()")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, timeout=60)
    assert done.returncode == 2
    assert f"needs {module}: pip install 'scraper[{extra}]'" in done.stderr.decode()
    assert b"Traceback" not in done.stderr and not (tmp_path / "out").exists()
