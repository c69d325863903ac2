from __future__ import annotations

import dataclasses
import socket

import pytest

from scraper import (
    ConnectionFailed,
    FetchTimeout,
    HTTPStatusError,
    NotHTML,
    TooLarge,
    TooManyRedirects,
    fetch,
)
from scraper.errors import InvalidURL
from scraper.urls import canonical_url, host_of, is_web_url, shorten, url_problem
from tests.conftest import FAST
from tests.server import LocalServer, Response, fixture_response

SEED = "seeds/004_c93559280a8c89ed.html"


def test_fetch_returns_the_page(server: LocalServer) -> None:
    page = fetch(server.url(f"/fixtures/{SEED}"), settings=FAST)
    assert page.status == 200
    assert page.final_url == page.url
    assert page.content.startswith(b"<!DOCTYPE html>") or b"<html" in page.content[:200]
    assert "Japan and the United States" in page.html
    assert page.headers["content-type"].startswith("text/html")
    assert page.encoding == "utf-8"


def test_redirects_are_followed_and_final_url_recorded(server: LocalServer) -> None:
    target = server.url(f"/fixtures/{SEED}")
    url = server.set("/old", Response(status=301, headers={"Location": target}))
    page = fetch(url, settings=FAST)
    assert page.url == url
    assert page.final_url == target


def test_redirect_loop_is_a_clear_error(server: LocalServer) -> None:
    server.set("/a", Response(status=302, headers={"Location": "/b"}))
    server.set("/b", Response(status=302, headers={"Location": "/a"}))
    with pytest.raises(TooManyRedirects):
        fetch(server.url("/a"), settings=FAST)


def test_404_fails_at_once_without_retry(server: LocalServer) -> None:
    with pytest.raises(HTTPStatusError) as caught:
        fetch(server.url("/status/404"), settings=FAST)
    assert caught.value.status == 404
    assert caught.value.reason == "http 404"
    assert server.hits("/status/404") == 1


def test_500_is_retried_then_reported(server: LocalServer) -> None:
    with pytest.raises(HTTPStatusError) as caught:
        fetch(server.url("/status/500"), settings=FAST)
    assert caught.value.status == 500
    assert server.hits("/status/500") == FAST.retries + 1


def test_a_passing_503_is_retried_until_it_succeeds(server: LocalServer) -> None:
    url = server.sequence("/flaky", [Response(status=503), Response(status=429), fixture_response(SEED)])
    page = fetch(url, settings=FAST)
    assert page.status == 200
    assert server.hits("/flaky") == 3


def test_slow_server_times_out(server: LocalServer) -> None:
    url = server.set("/slow", fixture_response(SEED, delay=3.0))
    settings = dataclasses.replace(FAST, read_timeout=0.3, retries=1)
    with pytest.raises(FetchTimeout):
        fetch(url, settings=settings)
    assert server.hits("/slow") == 2


def test_deadline_bounds_retries(server: LocalServer) -> None:
    url = server.set("/slow", fixture_response(SEED, delay=0.5))
    settings = dataclasses.replace(FAST, read_timeout=0.3, retries=50, deadline=1.0)
    with pytest.raises(FetchTimeout):
        fetch(url, settings=settings)
    assert server.hits("/slow") < 6


def test_body_over_the_cap_is_refused(server: LocalServer) -> None:
    with pytest.raises(TooLarge):
        fetch(server.url(f"/fixtures/{SEED}"), settings=dataclasses.replace(FAST, max_bytes=1000))


def test_non_html_content_is_refused(server: LocalServer) -> None:
    url = server.set("/file.pdf", Response(body=b"%PDF-1.7", headers={"Content-Type": "application/pdf"}))
    with pytest.raises(NotHTML) as caught:
        fetch(url, settings=FAST)
    assert "application/pdf" in str(caught.value)


def test_connection_refused_is_a_connection_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionFailed):
        fetch(f"http://127.0.0.1:{port}/", settings=dataclasses.replace(FAST, retries=0))


def test_wrong_charset_header_falls_back_to_the_real_encoding(server: LocalServer) -> None:
    text = ("Les élèves étudient à l'école près de la forêt. Ça coûte cher, déjà, mais le maître "
            "dit que c'est nécessaire pour réussir l'année. Après le déjeuner, ils écrivent des "
            "poèmes et préparent la fête de Noël avec leurs frères et sœurs.")
    url = server.set("/latin", Response(
        body=f"<html><body><p>{text}</p></body></html>".encode("cp1252"),
        headers={"Content-Type": "text/html; charset=utf-8"},
    ))
    assert text in fetch(url, settings=FAST).html


@pytest.mark.parametrize(("text", "problem"), [
    ("ftp://example.org/file", "not an http(s) URL (its scheme is ftp:)"),
    ("example.org/story", "not an http(s) URL"),
    ("http:///story", "no host"),
    ("http://example.org:99999/", "port 99999 is out of range"),
    ("http://example.org:0/", "port 0 is out of range"),
    ("http://example.org:http/", "port 'http' is not a number"),
    ("http://[::1]:70000/", "port 70000 is out of range"),
    ("http://[::1", "invalid IPv6 address"),
    ("http://[zz]/", "invalid IPv6 address"),
    ("http://example.org/a\r\nX-Injected: 1", "control character U+000D at position 21"),
    ("http://example.org/\n", "control character U+000A at position 20"),
    ("http://exam\tple.org/", "control character U+0009 at position 12"),
    ("http://example.org/\x00", "control character U+0000 at position 20"),
    ("http://example.org/\x7f", "control character U+007F at position 20"),
    ("http://example.org/\x85", "control character U+0085 at position 20"),
    ("http://example.org/" + "a" * 102381, "URL of 102400 characters, over the 8192 limit"),
])
def test_url_problem_says_what_is_wrong(text: str, problem: str) -> None:
    assert url_problem(text) == problem
    assert not is_web_url(text)


@pytest.mark.parametrize("text", [
    "http://example.org", "HTTPS://Example.org:8443/a b?q=1#f", " http://example.org/ ", "http://[::1]:8080/",
    "http://user:pw@example.org:65535/", "http://example.org/" + "a" * 8000, "http://例え.jp/記事",
])
def test_good_urls_have_no_problem(text: str) -> None:
    assert url_problem(text) is None and is_web_url(text)


def test_host_of_names_the_server_or_the_site() -> None:
    assert host_of("HTTPS://User:pw@WWW.Example.org:443/a") == "www.example.org"
    assert host_of("http://www.example.org:8080/a", www=False) == "example.org:8080"  # another server
    assert host_of("http://[::1]:80/") == "[::1]" and host_of("http://[::1") == ""
    # A port that is no number: the host as written, never the user name with it.
    assert host_of("http://user@Example.org:x/") == "example.org:x"
    assert canonical_url("http://user@Example.org:x/a") == "http://user@example.org:x/a"


def test_shorten_keeps_both_ends_of_a_long_url() -> None:
    url = "http://example.org/" + "a" * 100_000 + "/end.html"
    shown = shorten(url, limit=200)
    assert len(shown) == 200 and shown.startswith("http://example.org/aaa") and shown.endswith("aa/end.html")
    assert "…" in shown
    assert shorten("http://example.org/") == "http://example.org/"
    assert shorten("http://example.org/a\r\nb") == "http://example.org/a\\r\\nb"  # one line, always


def test_a_huge_url_is_refused_and_never_echoed_whole() -> None:
    url = "http://127.0.0.1:1/" + "a" * 100_000
    with pytest.raises(InvalidURL) as caught:
        fetch(url, settings=FAST)
    assert caught.value.url == url and caught.value.reason == "invalid url"
    assert len(str(caught.value)) < 400
    assert "URL of 100019 characters, over the 8192 limit" in str(caught.value)


@pytest.mark.parametrize(("location", "problem"), [
    ("/next\tpage", "control character U+0009 at position 6"),  # urljoin alone would drop the TAB
    ("/next\x85page", "control character U+0085 at position 6"),  # a raw byte 0x85 is NEL in latin-1
    ("http://127.0.0.1:99999/next", "port 99999 is out of range"),
    ("http://[::1/next", "invalid IPv6 address"),
    ("mailto:someone@example.org", "not an http(s) URL (its scheme is mailto:)"),
])
def test_a_bad_redirect_target_is_refused_with_its_reason(server: LocalServer, location: str, problem: str) -> None:
    url = server.set("/moved", Response(status=302, headers={"Location": location}))
    with pytest.raises(InvalidURL) as caught:
        fetch(url, settings=FAST)
    assert caught.value.url == url and server.hits("/moved") == 1  # not retried: it will not mend
    assert caught.value.message.startswith("redirected to ") and caught.value.message.endswith(f": {problem}")
    assert "\t" not in str(caught.value) and "\x85" not in str(caught.value)
    assert server.hits("/nextpage") == 0 and server.hits("/next%C2%85page") == 0
