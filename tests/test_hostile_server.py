"""The hostile server misbehaves exactly as documented, so fetcher tests can rely on it."""

from __future__ import annotations

import gzip
import io
import re
import threading
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import brotli
import httpx
import pytest
import zstandard

from tests.hostile import (
    BOMB_SIZE,
    CHARSET_CASES,
    CHARSET_CODECS,
    HUGE_SIZE,
    HostileServer,
    max_concurrency,
    page_etag,
    start_gaps,
)


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server
    assert server.errors == []


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as opened:
        yield opened


def test_page_and_conditional_get(hostile: HostileServer, client: httpx.Client) -> None:
    url = hostile.url("/page/alpha")
    first = client.get(url)
    assert first.status_code == 200
    assert first.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>Alpha</title>" in first.text and first.text.count("<p>") == 6 and "alpha" in first.text
    etag = first.headers["etag"]
    assert etag == page_etag(first.content) and client.get(url).content == first.content  # deterministic

    not_modified = client.get(url, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b"" and not_modified.headers["etag"] == etag
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get(url, headers={"If-Modified-Since": first.headers["last-modified"]}).status_code == 304
    assert client.get(url, headers={"If-Modified-Since": "Wed, 01 Jan 2020 00:00:00 GMT"}).status_code == 200
    head = client.head(url)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) == len(first.content)

    custom = hostile.set_page("/custom?x=1", "<html><body>custom</body></html>", etag="v1",
                              last_modified=datetime(2023, 5, 1, tzinfo=UTC))
    response = client.get(custom)
    assert response.text == "<html><body>custom</body></html>" and response.headers["etag"] == '"v1"'
    assert response.headers["last-modified"] == "Mon, 01 May 2023 00:00:00 GMT"
    assert client.get(custom, headers={"If-None-Match": 'W/"v1"'}).status_code == 304
    plain = hostile.set_page("/plain", b"<p>no validators</p>", content_type="text/plain")
    response = client.get(plain, headers={"If-None-Match": "*"})
    assert response.status_code == 200 and "etag" not in response.headers and "last-modified" not in response.headers


def test_retry_after_and_flaky_count_then_serve(hostile: HostileServer, client: httpx.Client) -> None:
    url = hostile.url("/retry-after/429/2/1/ra")
    responses = [client.get(url) for _ in range(3)]
    assert [r.status_code for r in responses] == [429, 429, 200]
    assert [r.headers.get("retry-after") for r in responses] == ["1", "1", None]

    dated = client.get(hostile.url("/retry-after/503/1/date+5/rb"))
    assert dated.status_code == 503
    wait = (parsedate_to_datetime(dated.headers["retry-after"]) - datetime.now(UTC)).total_seconds()
    assert 4.0 <= wait <= 6.5
    assert client.get(hostile.url("/retry-after/503/1/date+5/rb")).status_code == 200

    flaky = [client.get(hostile.url("/flaky/503/1/fl")) for _ in range(2)]
    assert [r.status_code for r in flaky] == [503, 200] and "retry-after" not in flaky[0].headers
    hostile.reset_counters()
    assert client.get(hostile.url("/flaky/503/1/fl")).status_code == 503


def test_redirect_chain_loop_and_redirect_to(hostile: HostileServer, client: httpx.Client) -> None:
    first = client.get(hostile.url("/redirect/2/r"))
    assert first.status_code == 302 and first.headers["location"] == "/redirect/1/r"
    assert client.get(hostile.url("/loop/a")).headers["location"] == "/loop/b"
    assert client.get(hostile.url("/loop/b")).headers["location"] == "/loop/a"
    target = "http://127.0.0.2:1/secret?a=b"
    away = client.get(hostile.url("/redirect-to"), params={"url": target})
    assert away.status_code == 302 and away.headers["location"] == target

    with httpx.Client(timeout=5.0, follow_redirects=True, max_redirects=5) as following:
        final = following.get(hostile.url("/redirect/3/r"))
        assert final.status_code == 200 and len(final.history) == 3 and final.url.path == "/redirect/0/r"
        assert "<title>R</title>" in final.text
        with pytest.raises(httpx.TooManyRedirects):
            following.get(hostile.url("/loop/a"))


def _inflate_prefix(encoding: str, raw: bytes, size: int) -> bytes:
    if encoding in ("gzip", "deflate"):
        return zlib.decompressobj(31 if encoding == "gzip" else 15).decompress(raw, size)
    if encoding == "br":
        out: bytes = brotli.Decompressor().process(raw, output_buffer_limit=size)
        return out[:size]
    assert zstandard.frame_content_size(raw) == BOMB_SIZE
    return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read(size)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_bombs_are_small_on_the_wire(hostile: HostileServer, client: httpx.Client, encoding: str) -> None:
    with client.stream("GET", hostile.url(f"/bomb/{encoding}")) as response:
        assert response.headers["content-encoding"] == encoding
        assert response.headers["content-type"] == "text/html"
        raw = b"".join(response.iter_raw())
    assert len(raw) == int(response.headers["content-length"]) < 2_000_000
    assert _inflate_prefix(encoding, raw, 1 << 20) == bytes(1 << 20)


@pytest.mark.parametrize("case", sorted(CHARSET_CASES))
def test_charset_cases_decode_only_with_the_right_codec(hostile: HostileServer, client: httpx.Client,
                                                        case: str) -> None:
    body, content_type, sentence = CHARSET_CASES[case]
    response = client.get(hostile.url(f"/charset/{case}"))
    assert response.headers["content-type"] == content_type and response.content == body
    text = body.decode(CHARSET_CODECS[case])
    assert sentence in text and "<h1>" in text and text.count("<p>") >= 3
    visible = re.sub(r"<[^>]+>|\s", "", text.split("<body>", 1)[1])
    assert len(visible) >= 300
    naive = body.decode(response.charset_encoding or "utf-8", errors="replace")
    assert sentence not in naive  # trusting the header (or assuming UTF-8) gets it wrong


def test_two_loopback_addresses(client: httpx.Client) -> None:
    try:
        second = HostileServer("127.0.0.2")
    except OSError as exc:
        pytest.fail(f"cannot bind 127.0.0.2 on this machine (per-host tests need it): {exc}")
    with HostileServer("127.0.0.1") as one, second as two:
        assert two.base.startswith("http://127.0.0.2:")
        assert client.get(one.url("/page/x")).status_code == 200
        assert client.get(two.url("/page/y")).status_code == 200
        assert [(hit.host, hit.path) for hit in one.hits()] == [("127.0.0.1", "/page/x")]
        assert [(hit.host, hit.path) for hit in two.hits()] == [("127.0.0.2", "/page/y")]


def test_stop_is_prompt_while_clients_hang() -> None:
    server = HostileServer().start()
    outcomes: dict[str, object] = {}

    def fetch(path: str) -> None:
        try:
            with httpx.Client(timeout=3.0) as stuck, stuck.stream("GET", server.url(path)) as response:
                outcomes[path] = b"".join(response.iter_raw())
        except Exception as exc:  # recorded, asserted below
            outcomes[path] = exc

    paths = ["/hang-headers", "/hang-body", "/trickle"]
    threads = [threading.Thread(target=fetch, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 3
    while server.in_flight() < len(paths) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.in_flight() == len(paths)
    time.sleep(1.2)  # the trickle sends a second byte

    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 1.5
    server.stop()  # idempotent
    for thread in threads:
        thread.join(2.0)
        assert not thread.is_alive()
    assert time.monotonic() - began < 2.5  # the clients were released too, long before their 3 s timeouts
    assert isinstance(outcomes["/hang-headers"], httpx.RemoteProtocolError)  # no response at all
    assert isinstance(outcomes["/hang-body"], httpx.RemoteProtocolError)  # body shorter than Content-Length
    assert outcomes["/trickle"] == b"<h"  # close-delimited: two bytes, one a second, then the close
    statuses = {hit.path: hit.status for hit in server.hits()}
    assert statuses == {"/hang-headers": None, "/hang-body": 200, "/trickle": 200}
    assert all(hit.finished - hit.started > 1.0 for hit in server.hits())
    assert server.errors == []


def test_log_shows_overlap_spacing_and_latency(hostile: HostileServer) -> None:
    def fetch() -> None:
        with httpx.Client(timeout=5.0) as own:
            own.get(hostile.url("/slow/0.3/c"))

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    hits = hostile.hits("/slow/")
    assert len(hits) == 3 and max_concurrency(hits) == 3 and all(hit.status == 200 for hit in hits)
    assert all(hit.method == "GET" and "user-agent" in hit.headers for hit in hits)

    hostile.reset_log()
    hostile.latency = 0.15
    fast = hostile.set_page("/fast", "<p>fast</p>", latency=0)
    with httpx.Client(timeout=5.0) as one_connection:
        for _ in range(3):
            one_connection.get(hostile.url("/page/seq"))
        began = time.monotonic()
        one_connection.get(fast)
        assert time.monotonic() - began < 0.15
    sequential = hostile.hits("/page/")
    assert len(sequential) == 3 and max_concurrency(sequential) == 1
    assert all(gap >= 0.15 for gap in start_gaps(sequential))
    assert all(hit.finished - hit.started >= 0.15 for hit in sequential)


def test_broken_connections_and_odd_content(hostile: HostileServer, client: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(hostile.url("/drop"))
    with pytest.raises(httpx.ReadError, match="reset"):
        client.get(hostile.url("/reset"))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(hostile.url("/broken-chunked"))
    assert client.get(hostile.url("/status/418")).status_code == 418
    assert client.get(hostile.url("/nothing/here")).status_code == 404

    assert client.get(hostile.url("/robots.txt")).status_code == 404
    hostile.set_robots("User-agent: *\nDisallow: /private\n")
    robots = client.get(hostile.url("/robots.txt"))
    assert robots.status_code == 200 and robots.text.endswith("Disallow: /private\n")

    feed = client.get(hostile.url("/feed.xml")).text
    assert feed.count("<item>") == 3 and f"{hostile.base}/page/feed-3" in feed and "01 Mar 2024" in feed
    assert client.get(hostile.url("/atom.xml")).text.count("<entry>") == 2
    assert f"{hostile.base}/sitemap-2.xml.gz" in client.get(hostile.url("/sitemap-index.xml")).text
    gz = client.get(hostile.url("/sitemap-2.xml.gz"))
    assert gz.headers["content-type"] == "application/gzip" and "content-encoding" not in gz.headers
    assert f"{hostile.base}/page/sm-5" in gzip.decompress(gz.content).decode()

    fake_png = client.get(hostile.url("/binary-as-html"))
    assert fake_png.headers["content-type"] == "text/html" and b"\x00" in fake_png.content
    assert len(client.get(hostile.url("/binary")).content) == 100_000
    assert client.get(hostile.url("/pdf")).content.startswith(b"%PDF-")

    for path in ("/huge", "/huge-declared"):
        with client.stream("GET", hostile.url(path)) as response:
            assert response.headers.get("content-length") == (None if path == "/huge" else str(HUGE_SIZE))
            received = 0
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > 1 << 20:
                    break  # hang up mid-stream: the server must shrug it off
        assert received > 1 << 20
