"""fetch() against a server that misbehaves on purpose (tests/hostile.py), on loopback."""

from __future__ import annotations

import ipaddress
import re
import socket
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from scraper import addresses, clean
from scraper.errors import (
    BadContent,
    BlockedAddress,
    ConnectionFailed,
    FetchTimeout,
    HTTPStatusError,
    NotHTML,
    TooLarge,
    TooManyRedirects,
)
from scraper.fetcher import FetchSettings, Validators, fetch, parse_retry_after
from tests.conftest import FAST
from tests.hostile import CHARSET_CASES, HostileServer


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as running:
        yield running


def test_retry_after_in_seconds_is_honoured(hostile: HostileServer) -> None:
    url = hostile.url("/retry-after/503/1/1/wait-seconds")
    started = time.monotonic()
    page = fetch(url, settings=FAST)
    assert page.status == 200 and "wait-seconds" in page.html
    assert time.monotonic() - started >= 0.9  # FAST's own backoff is 0.01 s: the wait came from Retry-After
    assert len(hostile.hits("/retry-after/503/1/1/wait-seconds")) == 2


def test_retry_after_as_an_http_date_is_honoured(hostile: HostileServer) -> None:
    url = hostile.url("/retry-after/429/1/date+2/wait-date")
    started = time.monotonic()
    assert fetch(url, settings=FAST).status == 200
    assert time.monotonic() - started >= 0.9  # an HTTP date has one-second resolution


def test_a_retry_after_past_the_cap_is_not_waited_for(hostile: HostileServer) -> None:
    url = hostile.url("/retry-after/503/3/3600/wait-long")
    started = time.monotonic()
    with pytest.raises(HTTPStatusError) as caught:
        fetch(url, settings=replace(FAST, max_retry_after=5))
    assert time.monotonic() - started < 2
    assert caught.value.retry_after == 3600 and "Retry-After 3600s" in caught.value.message
    assert len(hostile.hits("/retry-after/503/3/3600/wait-long")) == 1


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past: no wait
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize("status", [408, 429, 502, 503, 504])
def test_passing_trouble_is_retried(hostile: HostileServer, status: int) -> None:
    path = f"/flaky/{status}/1/flaky-{status}"
    assert fetch(hostile.url(path), settings=FAST).status == 200
    assert len(hostile.hits(path)) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_other_client_errors_are_not_retried(hostile: HostileServer, status: int) -> None:
    path = f"/status/{status}"
    before = len(hostile.hits(path))
    with pytest.raises(HTTPStatusError) as caught:
        fetch(hostile.url(path), settings=FAST)
    assert caught.value.status == status and not caught.value.retryable
    assert len(hostile.hits(path)) == before + 1


def test_redirect_chain_is_followed_to_the_final_url(hostile: HostileServer) -> None:
    page = fetch(hostile.url("/redirect/3/chain"), settings=FAST)
    assert page.url == hostile.url("/redirect/3/chain") and "chain" in page.html
    assert page.final_url == hostile.url("/redirect/0/chain")  # which serves the page itself


def test_redirect_loop_is_named_as_a_loop(hostile: HostileServer) -> None:
    with pytest.raises(TooManyRedirects, match="redirect loop"):
        fetch(hostile.url("/loop/a"), settings=FAST)
    assert len(hostile.hits("/loop/a")) == 1  # a loop is not retried


def test_too_many_redirects(hostile: HostileServer) -> None:
    with pytest.raises(TooManyRedirects, match="more than 4 redirects"):
        fetch(hostile.url("/redirect/6/far"), settings=replace(FAST, max_redirects=4))


@pytest.mark.parametrize("path", ["/hang-headers", "/hang-body", "/trickle"])
def test_a_server_that_stalls_is_cut_off_at_the_deadline(hostile: HostileServer, path: str) -> None:
    settings = replace(FAST, read_timeout=1.5, deadline=3.0, retries=5)
    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        fetch(hostile.url(path), settings=settings)
    assert time.monotonic() - started < settings.deadline + settings.read_timeout + 0.5


@pytest.mark.parametrize("path", ["/drop", "/reset"])
def test_a_dropped_connection_is_retried_then_reported(hostile: HostileServer, path: str) -> None:
    before = len(hostile.hits(path))
    with pytest.raises(ConnectionFailed):
        fetch(hostile.url(path), settings=FAST)
    assert len(hostile.hits(path)) == before + FAST.retries + 1


def test_broken_chunked_encoding_is_bad_content(hostile: HostileServer) -> None:
    with pytest.raises(BadContent):
        fetch(hostile.url("/broken-chunked"), settings=replace(FAST, retries=0))


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_decompression_bombs_stop_at_the_cap(hostile: HostileServer, encoding: str) -> None:
    cap = 10 * 1024 * 1024
    with httpx.Client() as client:  # build the bomb on the server before measuring
        client.head(hostile.url(f"/bomb/{encoding}"))
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge, match="after decompression"):
            fetch(hostile.url(f"/bomb/{encoding}"), settings=replace(FAST, max_bytes=cap, deadline=30))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * cap  # the body so far plus one bounded piece, never the inflated whole


@pytest.mark.parametrize("path", ["/huge", "/huge-declared"])
def test_huge_bodies_stop_at_the_cap(hostile: HostileServer, path: str) -> None:
    with pytest.raises(TooLarge):
        fetch(hostile.url(path), settings=replace(FAST, max_bytes=1024 * 1024))


@pytest.mark.parametrize("path", ["/binary", "/binary-as-html", "/pdf"])
def test_what_is_not_a_web_page_is_refused(hostile: HostileServer, path: str) -> None:
    with pytest.raises(NotHTML):
        fetch(hostile.url(path), settings=FAST)


@pytest.mark.parametrize("case", sorted(CHARSET_CASES))
def test_pages_in_legacy_encodings_come_out_as_correct_text(hostile: HostileServer, case: str) -> None:
    _, _, sentence = CHARSET_CASES[case]
    page = fetch(hostile.url(f"/charset/{case}"), settings=FAST)
    assert sentence in page.html
    assert sentence in clean(page.html, url=page.final_url).text


def test_conditional_get_gives_304_for_an_unchanged_page(hostile: HostileServer) -> None:
    first = fetch(hostile.url("/page/conditional"), settings=FAST)
    validators = Validators(first.headers.get("etag"), first.headers.get("last-modified"))
    assert validators.etag and validators.last_modified
    again = fetch(hostile.url("/page/conditional"), settings=FAST, validators=validators)
    assert again.status == 304 and again.content == b""
    hit = hostile.hits("/page/conditional")[-1]
    assert hit.headers["if-none-match"] == validators.etag and hit.status == 304


def test_block_private_refuses_loopback(hostile: HostileServer) -> None:
    with pytest.raises(BlockedAddress, match="private address"):
        fetch(hostile.url("/page/private"), settings=replace(FAST, block_private=True))
    assert hostile.hits("/page/private") == []
    assert fetch(hostile.url("/page/private"), settings=FAST).status == 200  # off by default


def test_block_private_checks_every_redirect_hop(monkeypatch: pytest.MonkeyPatch) -> None:
    # A public name that redirects to the metadata address of a cloud machine: shaped with a
    # mock transport, since a test cannot reach a public host.
    real_getaddrinfo = socket.getaddrinfo

    def resolve(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "public.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 80))]
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    settings = replace(FAST, block_private=True)
    with httpx.Client(transport=httpx.MockTransport(answer)) as client, \
            pytest.raises(BlockedAddress, match=r"169\.254\.169\.254"):
        fetch("http://public.example/story", client=client, settings=settings)
    assert asked == ["http://public.example/story"]


def fake_names(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[tuple[str, str]]:
    """socket.getaddrinfo answering for made-up names, the next of their addresses on each
    lookup (the last one repeats), as a rebinding DNS server would. Returns the lookups made."""
    real_getaddrinfo = socket.getaddrinfo
    lookups: list[tuple[str, str]] = []

    def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return real_getaddrinfo(host, port, *args, **kwargs)
        queue = answers[host]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        lookups.append((host, address))
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, int(port), 0, 0) if family == socket.AF_INET6 else (address, int(port))
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return lookups


def test_block_private_connects_to_the_address_it_checked(
        hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Public when checked, loopback when asked again to connect: DNS rebinding.
    lookups = fake_names(monkeypatch, {"rebind.example": ["93.184.216.34", "127.0.0.1"]})
    url = f"http://rebind.example:{hostile.port}/page/rebound"
    with pytest.raises(BlockedAddress, match=r"rebind\.example is 127\.0\.0\.1, a private address") as caught:
        fetch(url, settings=replace(FAST, block_private=True, retries=0))
    assert caught.value.reason == "blocked address" and caught.value.url == url
    assert hostile.hits("/page/rebound") == []
    assert lookups == [("rebind.example", "93.184.216.34"), ("rebind.example", "127.0.0.1")]


def test_block_private_connects_by_the_checked_address_keeping_the_name(
        hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Loopback let through for once, to see the guarded transport reach the very address it
    # resolved while the request still names the host.
    lookups = fake_names(monkeypatch, {"news.example": ["127.0.0.1"]})
    monkeypatch.setattr(addresses, "is_public", lambda address: True)
    page = fetch(f"http://news.example:{hostile.port}/page/guarded", settings=replace(FAST, block_private=True))
    assert page.status == 200 and "guarded" in page.html
    assert hostile.hits("/page/guarded")[-1].headers["host"] == f"news.example:{hostile.port}"
    assert len(lookups) == 2  # the check before the request, and the transport's own


@pytest.mark.parametrize(("address", "inner"), [
    ("64:ff9b::7f00:1", "127.0.0.1"),  # NAT64
    ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
    ("2002:a00:1::1", "10.0.0.1"),  # 6to4
    ("::192.168.1.1", "192.168.1.1"),  # IPv4-compatible
    ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped
    ("::ffff:0:7f00:1", "127.0.0.1"),  # IPv4-translated
])
def test_block_private_sees_the_ipv4_inside_ipv6(monkeypatch: pytest.MonkeyPatch, address: str, inner: str) -> None:
    fake_names(monkeypatch, {"sneaky.example": [address]})
    with pytest.raises(BlockedAddress, match=re.escape(f"IPv4 {inner}")):
        fetch("http://sneaky.example/", settings=replace(FAST, block_private=True, retries=0, connect_timeout=0.5))


@pytest.mark.parametrize("address", [
    "64:ff9b::7f00:1", "64:ff9b::c0a8:1", "64:ff9b:1::a00:1", "2002:7f00:1::", "2002:c0a8:101::1", "::127.0.0.1",
    "::10.0.0.1", "::ffff:10.1.2.3", "::ffff:0:a00:1", "::1", "::", "fe80::1", "fc00::1", "2001::1", "ff02::1",
    "127.0.0.1", "100.64.0.1", "224.0.0.1",
])
def test_addresses_that_reach_private_space_are_not_public(address: str) -> None:
    assert not addresses.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", [
    "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "64:ff9b::5db8:d822", "2002:5db8:d822::1",
    "::ffff:93.184.216.34", "::ffff:0:5db8:d822",
])
def test_public_addresses_are_public(address: str) -> None:
    assert addresses.is_public(ipaddress.ip_address(address))


def test_default_settings_are_sane() -> None:
    settings = FetchSettings()
    assert settings.user_agent.startswith("scraper/") and settings.block_private is False
    assert settings.deadline >= settings.read_timeout
