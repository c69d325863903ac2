"""archive.warc: pages archived by the real CLI from a real local server, exported as WARC/1.1,
then judged by warcio itself (its `check` and `index` commands and ArchiveIterator)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive import Archive
from archive.warc import write_warc
from scraper import __version__
from tests.conftest import FAST_FLAGS, SEEDS, scraper_cli, seed_expectations
from tests.server import LocalServer, Response

PLAIN = ("000_d467d9e684ffadb1.html", "002_60c7648376388afa.html")
GZIPPED = "003_968b57e5d640ddbd.html"
LOCAL = "004_c93559280a8c89ed.html"
WARCIO = str(Path(sys.executable).parent / "warcio")  # warcio has no `python -m warcio`; its console script


@dataclass(frozen=True)
class Captured:
    """What a reader gets back from one WARC record."""

    type: str
    uri: str
    date: str
    status: str | None
    headers: dict[str, str]
    """HTTP headers, names lower-cased; empty for a resource record."""
    content_type: str
    payload: bytes


def archive_ok(*targets: str) -> None:
    result = scraper_cli("archive", *targets, *FAST_FLAGS)
    assert result.returncode == 0, result.stderr.decode()


def export(db_path: Path, path: Path, gzip: bool = True, **select: Any) -> int:
    with Archive(db_path) as archive, path.open("wb") as out:
        return write_warc(archive.records(**select), out, archive.raw_html, gzip=gzip)


def read(path: Path) -> list[Captured]:
    """Every record after the warcinfo, with its payload as stored (raw_stream: nothing decoded)."""
    captured = []
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type == "warcinfo":
                continue
            http = record.http_headers
            captured.append(Captured(
                type=record.rec_type,
                uri=record.rec_headers.get_header("WARC-Target-URI"),
                date=record.rec_headers.get_header("WARC-Date"),
                status=http.get_statuscode() if http else None,
                headers={name.lower(): value for name, value in http.headers} if http else {},
                content_type=record.rec_headers.get_header("Content-Type"),
                payload=record.raw_stream.read(),
            ))
    return captured


def warcio(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WARCIO, *args], capture_output=True, text=True, timeout=60)


def check(path: Path) -> str:
    """warcio check, verbose so that it names each digest it verified; fails the test on any problem."""
    result = warcio("check", "-v", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def index(path: Path) -> list[dict[str, str]]:
    result = warcio("index", "-f", "warc-type,warc-target-uri,http:status", str(path))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def stored_body(db_path: Path, url: str, version: int | None = None) -> bytes:
    with Archive(db_path) as archive:
        return archive.raw_html(archive.version(url, version)["html_sha256"])


@pytest.fixture
def urls(server: LocalServer, db_path: Path) -> dict[str, str]:
    """Two fixture pages served as they are and one served gzip-compressed, archived by the CLI."""
    pages = {name: server.url(f"/fixtures/seeds/{name}") for name in PLAIN}
    pages[GZIPPED] = server.set("/gzipped/story", Response(
        body=gzip.compress((SEEDS / GZIPPED).read_bytes()),
        headers={"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip", "X-Kept": "yes"},
    ))
    archive_ok(*pages.values())
    return pages


def test_warcio_check_and_index_accept_the_file(urls: dict[str, str], db_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "out.warc.gz"
    assert export(db_path, path) == 3
    assert check(path).count("digest pass") == 4  # warcinfo's block digest, then each response's
    listed = index(path)
    assert listed[0]["warc-type"] == "warcinfo"
    assert listed[1:] == [{"warc-type": "response", "warc-target-uri": url, "http:status": "200"}
                          for url in sorted(urls.values())]
    with path.open("rb") as stream:
        info = next(iter(ArchiveIterator(stream)))
        assert info.rec_headers.protocol == "WARC/1.1"
        assert info.rec_headers.get_header("WARC-Filename") == "out.warc.gz"
        fields = info.content_stream().read().decode()
    assert f"software: scraper/{__version__}" in fields
    assert "format: WARC File Format 1.1" in fields


def test_response_records_hold_status_headers_and_the_stored_body(urls: dict[str, str], db_path: Path,
                                                                 tmp_path: Path) -> None:
    path = tmp_path / "out.warc.gz"
    export(db_path, path)
    records = {record.uri: record for record in read(path)}
    with Archive(db_path) as archive:
        for name, url in urls.items():
            record = records[url]
            version = archive.version(url)
            assert (record.type, record.status) == ("response", "200")
            assert record.content_type == "application/http; msgtype=response"
            assert record.date == version["fetched_at"]
            assert record.payload == archive.raw_html(version["html_sha256"]) == (SEEDS / name).read_bytes()
            assert record.headers["content-length"] == str(len(record.payload))
            assert record.headers["content-type"] == "text/html; charset=utf-8"
    served_gzipped = records[urls[GZIPPED]]
    assert "content-encoding" not in served_gzipped.headers  # the body is stored decoded
    assert served_gzipped.headers["x-kept"] == "yes"  # other headers stay as fetched


def test_all_versions_url_prefix_and_since(server: LocalServer, urls: dict[str, str], db_path: Path,
                                           tmp_path: Path) -> None:
    original = (SEEDS / PLAIN[0]).read_text(encoding="utf-8")
    paragraph = seed_expectations()[PLAIN[0].replace(".html", ".txt")]["body"][1]
    assert paragraph in original
    edited = original.replace(paragraph, paragraph + " A correction was added later.")
    story = server.sequence("/story", [Response(body=original.encode()), Response(body=edited.encode())])
    archive_ok(story)
    archive_ok(story)  # changed text: version 2

    path = tmp_path / "out.warc.gz"
    assert export(db_path, path) == 4
    assert [record.payload for record in read(path) if record.uri == story] == [edited.encode()]

    assert export(db_path, path, all_versions=True) == 5
    check(path)
    versions = [record.payload for record in read(path) if record.uri == story]
    assert versions == [stored_body(db_path, story, 1), stored_body(db_path, story, 2)] == [
        original.encode(), edited.encode()]

    assert export(db_path, path, all_versions=True, url_prefix=server.url("/story")) == 2
    assert {record.uri for record in read(path)} == {story}
    assert export(db_path, path, url_prefix=server.url("/fixtures/")) == 2
    assert {record.uri for record in read(path)} == {urls[name] for name in PLAIN}

    assert export(db_path, path, since=datetime.now(UTC) + timedelta(days=1)) == 0
    assert [entry["warc-type"] for entry in index(path)] == ["warcinfo"]
    assert export(db_path, path, since=datetime.now(UTC) - timedelta(days=1)) == 4


def test_a_page_archived_from_a_file_is_a_resource_record(db_path: Path, tmp_path: Path) -> None:
    archive_ok(str(SEEDS / LOCAL), "--url", "https://example.org/x")
    path = tmp_path / "out.warc.gz"
    assert export(db_path, path) == 1
    check(path)
    [record] = read(path)
    assert (record.type, record.uri, record.content_type) == ("resource", "https://example.org/x", "text/html")
    assert record.status is None and record.headers == {}  # no HTTP exchange, no HTTP headers block
    assert record.payload == (SEEDS / LOCAL).read_bytes() == stored_body(db_path, "https://example.org/x")


def test_uncompressed_output_is_valid_too(urls: dict[str, str], db_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "out.warc"
    assert export(db_path, path, gzip=False) == 3
    assert path.read_bytes().startswith(b"WARC/1.1\r\n")  # plain text, not a gzip member
    assert check(path).count("digest pass") == 4
    assert [entry["warc-target-uri"] for entry in index(path)[1:]] == sorted(urls.values())
    assert {record.uri: record.payload for record in read(path)}[urls[PLAIN[1]]] == (SEEDS / PLAIN[1]).read_bytes()


def test_a_status_without_a_reason_phrase(server: LocalServer, db_path: Path, tmp_path: Path) -> None:
    url = server.set("/odd", Response(status=299, body=(SEEDS / PLAIN[0]).read_bytes()))
    archive_ok(url)
    path = tmp_path / "out.warc.gz"
    assert export(db_path, path) == 1
    check(path)
    [record] = read(path)
    assert record.status == "299"


def test_the_cli_streams_to_a_pipe(urls: dict[str, str], db_path: Path) -> None:
    """`scraper export --format warc | warcio index`: written to a pipe, which cannot seek."""
    env = {**os.environ, "SCRAPER_DB": str(db_path)}
    with subprocess.Popen([sys.executable, "-m", "scraper", "export", "--format", "warc"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as export:
        indexed = subprocess.run([WARCIO, "index"], stdin=export.stdout, capture_output=True, timeout=60)
        assert export.wait(timeout=60) == 0, export.stderr.read() if export.stderr else ""
    assert indexed.returncode == 0, indexed.stderr
    listed = [json.loads(line) for line in indexed.stdout.splitlines()]
    assert [entry["warc-target-uri"] for entry in listed[1:]] == sorted(urls.values())
