"""`scraper run --notify`: Apprise messages to a loopback webhook (json://) about what changed;
a target that fails or hangs never fails the run."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAST_FLAGS, scraper_cli
from tests.server import LocalServer, Response

ADDED = "The council voted on Tuesday to keep the old bridge open to cyclists and walkers."


def _article(title: str, *, edited: bool = False) -> bytes:
    paragraphs = [
        f"{title}: the harbour bridge will close for repairs in {'April' if edited else 'March'}, the city said.",
        "Engineers found rust in the main cables during an inspection last autumn, and the work cannot wait.",
        *([ADDED] if edited else []),
        "Traffic will be sent through the tunnel, which adds about ten minutes to a trip at rush hour.",
        "A public meeting is planned for next month, when the final schedule will be shown to residents.",
    ]
    body = "".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{body}</article>"
            "</body></html>").encode()


class Receiver(ThreadingHTTPServer):
    """A webhook on 127.0.0.1 that keeps the JSON it is sent; mode "ok", "fail" (500) or "hang"."""

    daemon_threads = True

    def __init__(self, mode: str = "ok") -> None:
        super().__init__(("127.0.0.1", 0), _Hook)
        self.mode = mode
        self.received: list[dict[str, Any]] = []
        self.stop = threading.Event()

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.server_address[1]}{path}"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.shutdown()
        self.server_close()


class _Hook(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append(json.loads(body))
        if self.server.mode == "hang":
            self.server.stop.wait(120)
            return
        status = 500 if self.server.mode == "fail" else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[tuple[LocalServer, Path]]:
    """Two article pages on a loopback server, and a URL list of them."""
    with LocalServer() as server:
        urls = [server.set("/bridge", Response(_article("Harbour bridge"))),
                server.set("/tunnel", Response(_article("Tunnel works")))]
        path = tmp_path / "urls.txt"
        path.write_text("\n".join(urls) + "\n")
        yield server, path


def _run(listing: Path, *flags: str, env: dict[str, str] | None = None) -> tuple[int, str, float]:
    started = time.monotonic()
    result = scraper_cli("run", str(listing), *FAST_FLAGS, *flags, env=env, timeout=120)
    return result.returncode, result.stderr.decode(), time.monotonic() - started


def test_one_message_names_the_changed_page_and_nothing_is_sent_when_nothing_changed(
        pages: tuple[LocalServer, Path], db_path: Path) -> None:
    server, listing = pages
    with Receiver() as hook:
        code, stderr, _ = _run(listing, "--notify", hook.url())
        assert code == 0, stderr
        assert len(hook.received) == 1
        first = hook.received[0]
        assert first["title"] == "scraper: 2 new pages"
        assert "New:" in first["message"] and server.url("/bridge") in first["message"]
        server.set("/bridge", Response(_article("Harbour bridge", edited=True)))
        code, stderr, _ = _run(listing, env={"SCRAPER_NOTIFY": hook.url("/second")})
        assert code == 0, stderr
        assert len(hook.received) == 2
        message = hook.received[1]
        assert message["title"] == "Changed: Harbour bridge"
        assert server.url("/bridge") in message["message"] and server.url("/tunnel") not in message["message"]
        assert "v2: +" in message["message"]
        assert "{+" + ADDED.split()[0] in message["message"] and "[-March,-]{+April,+}" in message["message"]
        code, stderr, _ = _run(listing, "--notify", hook.url())
        assert code == 0 and len(hook.received) == 2  # unchanged: nothing sent


def test_notify_each_sends_one_message_per_page(pages: tuple[LocalServer, Path], db_path: Path) -> None:
    _, listing = pages
    with Receiver() as hook, Receiver() as other:
        code, stderr, _ = _run(listing, "--notify", hook.url(), "--notify", other.url(), "--notify-each")
        assert code == 0, stderr
        for receiver in (hook, other):
            assert sorted(message["title"] for message in receiver.received) == ["New: Harbour bridge",
                                                                                 "New: Tunnel works"]


def test_a_failing_hanging_or_absent_target_does_not_fail_the_run(pages: tuple[LocalServer, Path],
                                                                  db_path: Path) -> None:
    server, listing = pages
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = f"json://127.0.0.1:{closed.getsockname()[1]}/nobody"
    with Receiver("fail") as failing, Receiver("hang") as hanging, Receiver() as working:
        code, stderr, took = _run(listing, "--notify", failing.url(), "--notify", hanging.url(), "--notify", refused,
                                  "--notify", working.url())
        assert code == 0, stderr
        assert took < 60  # a hanging target (120 s here) costs the run its timeout at most
        assert len(working.received) == 1 and len(failing.received) == 1 and len(hanging.received) == 1
        assert stderr.count("notification not sent") == 3
        assert "2 new versions" in stderr
    history = scraper_cli("history", server.url("/bridge"))
    assert history.returncode == 0 and history.stdout.startswith(b"v1\t")  # the archive is kept
    failures = scraper_cli("failures", "--json")
    rows = [json.loads(line) for line in failures.stdout.decode().splitlines()]
    assert sorted(row["reason"] for row in rows) == ["notify"] * 3
    assert any("500" in row["error"] for row in rows)  # what the target answered
    assert {row["url"].split("/")[2] for row in rows} == {
        f"127.0.0.1:{receiver.server_address[1]}" for receiver in (failing, hanging)} | {refused.split("/")[2]}


def test_a_notification_url_apprise_does_not_know_is_a_usage_error(pages: tuple[LocalServer, Path],
                                                                  db_path: Path) -> None:
    _, listing = pages
    code, stderr, _ = _run(listing, "--notify", "nosuchservice://x")
    assert code == 2 and "--notify" in stderr and "Apprise" in stderr
    assert not db_path.exists()  # refused before anything ran


def test_json_log_reports_a_failed_notification(pages: tuple[LocalServer, Path], db_path: Path) -> None:
    _, listing = pages
    with Receiver("fail") as failing:
        code, stderr, _ = _run(listing, "--notify", failing.url(), "--log-format", "json")
    assert code == 0
    events = [json.loads(line) for line in stderr.splitlines()]
    failed = [event for event in events if event["event"] == "notify_failed"]
    assert len(failed) == 1 and failed[0]["reason"] == "notify" and "127.0.0.1" in failed[0]["target"]
    assert events[-1]["event"] == "summary" and events[-1]["failed"] == 0


def test_targets_that_never_answer_cost_the_timeout_at_most() -> None:
    from scraper.notify import send

    with Receiver("hang") as hanging, Receiver("hang") as other, Receiver("fail") as failing:
        patient = [hanging.url("/hook?rto=60&cto=60"), other.url("/hook?rto=60&cto=60")]  # Apprise would wait 60 s
        started = time.monotonic()
        failures = send([*patient, failing.url()], [("title", "body"), ("second", "body")], timeout=1.0)
        took = time.monotonic() - started
    assert took < 20  # side by side, cut at the timeout
    assert [failure.target for failure in failures] == [hanging.url(), other.url(), failing.url()]
    assert [failure.message for failure in failures[:2]] == ["no answer within 1 s"] * 2
    assert "500" in failures[2].message or "Internal Server Error" in failures[2].message, failures[2].message
    assert len(failing.received) == 1  # a target that failed is not tried again with the next message


def test_a_message_lists_what_changed_and_counts_what_does_not_fit() -> None:
    from scraper.notify import LISTED, PageChange, messages

    changed = PageChange("https://example.com/a", "A <b>title</b>\x1b[2J", 3, 5, 2, ("[-old-]{+new+} words",))
    new = [PageChange(f"https://example.com/n{number}", f"New {number}", 1, 40, 0, ()) for number in range(LISTED + 2)]
    [(title, body)] = messages([changed, *new])
    assert title == f"scraper: 1 page changed, {LISTED + 2} new pages"
    assert body.startswith("Changed:\n\nA <b>title</b>[2J\nhttps://example.com/a\nv3: +5 -2 words\n"
                           "  [-old-]{+new+} words")
    assert "\x1b" not in body and body.endswith("... and 2 more")
    assert "New 0\nhttps://example.com/n0\nv1: 40 words" in body
    each = messages([changed, new[0]], each=True)
    assert [title for title, _ in each] == ["Changed: A <b>title</b>[2J", "New: New 0"]
    assert messages([]) == []
