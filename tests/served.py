"""An archive to serve, and `scraper serve` running on it, for the web view's tests.

The archive holds a page with two versions (the second adds INSERTED and drops a word), a
hostile page whose title, text, Markdown, metadata and HTML carry script, event-handler and
javascript:/data: payloads aimed at a canary address, a run with a failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archive import Archive
from scraper import Article, HTTPStatusError
from scraper.models import Page

STORY = "https://news.example/2026/harbour-bridge"
HOSTILE = "https://evil.example/<script>alert(1)</script>"
OTHER = "https://other.example/story"
INSERTED = "The council voted on Tuesday to keep the old bridge open to cyclists."
FIRST = ("The harbour bridge will close for repairs in March, the city said.\n\n"
         "Engineers found rust in the main cables during an inspection last autumn.\n\n"
         "Traffic will be sent through the tunnel, which adds ten minutes at rush hour.")
SECOND = ("The harbour bridge will close for repairs in April, the city said.\n\n"
          "Engineers found rust in the main cables during an inspection last autumn.\n\n"
          f"{INSERTED}\n\n"
          "Traffic will be sent through the tunnel, which adds ten minutes at rush hour.")


def hostile_payloads(canary: str) -> dict[str, str]:
    """Fields of a page that try to run script or reach canary (a loopback URL) when shown."""
    script = f"<script>fetch('{canary}/script')</script>"
    image = f"<img src=x onerror=\"fetch('{canary}/onerror')\">"
    return {
        "title": f"Breaking {script}{image} news\"'><svg onload=alert(1)>",
        "text": (f"First paragraph {script} with an {image} inside.\n\n"
                 f"<a href=\"javascript:fetch('{canary}/js')\">click me</a> and javascript:alert(1)\n\n"
                 f"<iframe src=\"{canary}/iframe\"></iframe> data:text/html,<script>alert(1)</script>"),
        "markdown": (f"# Breaking {script}\n\n[click me](javascript:fetch('{canary}/md-js')) "
                     f"[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) "
                     f"![pixel]({canary}/md-image.png)\n\n<img src=x onerror=\"fetch('{canary}/md-onerror')\">"),
        "canonical_url": f"javascript:fetch('{canary}/canonical')",
        "image": f"data:image/svg+xml,<svg onload=\"fetch('{canary}/image')\"/>",
        "site_name": f"<b onmouseover=alert(1)>{script}</b>",
        "html": (f"<html><head><title>{script}</title><meta http-equiv=\"refresh\" content=\"0;url={canary}/refresh\">"
                 f"<link rel=stylesheet href=\"{canary}/style.css\"><script src=\"{canary}/script.js\"></script>"
                 f"</head><body onload=\"fetch('{canary}/onload')\"><h1>Snapshot {script}</h1>{image}"
                 f"<img src=\"{canary}/pixel.png\"><iframe src=\"{canary}/frame\"></iframe>"
                 f"<form action=\"{canary}/form\"><button>go</button></form>"
                 f"<a href=\"javascript:fetch('{canary}/snapshot-js')\">js</a></body></html>"),
    }


def _page(url: str, html: str, when: datetime) -> Page:
    return Page(url=url, final_url=url, content=html.encode(), html=html, status=200,
                headers={"content-type": "text/html; charset=utf-8"}, fetched_at=when)


def fill(path: Path, canary: str = "http://127.0.0.1:9") -> None:
    """The archive described above, at path."""
    start = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    hostile = hostile_payloads(canary)
    with Archive(path) as archive:
        run_id = archive.start_run("run")
        archive.save(_page(STORY, f"<html><body><article><p>{FIRST}</p></article></body></html>", start),
                     Article(text=FIRST, markdown=FIRST, title="Harbour bridge to close", site_name="City News",
                             canonical_url=STORY), run_id=run_id)
        archive.save(_page(OTHER, "<p>Other</p>", start),
                     Article(text="A different story about a bakery that opens early on Sundays.",
                             title="Bakery opens early"), run_id=run_id)
        archive.save(_page(HOSTILE, hostile["html"], start),
                     Article(text=hostile["text"], markdown=hostile["markdown"], title=hostile["title"],
                             canonical_url=hostile["canonical_url"], image=hostile["image"],
                             site_name=hostile["site_name"], authors=("<script>x</script>",)), run_id=run_id)
        archive.record_failure("https://gone.example/page", HTTPStatusError("https://gone.example/page", 404),
                               run_id=run_id)
        archive.finish_run(run_id, status="finished", urls=4)
        run_id = archive.start_run("run")
        archive.save(_page(STORY, f"<html><body><article><p>{SECOND}</p></article></body></html>",
                           start + timedelta(days=1)),
                     Article(text=SECOND, markdown=SECOND, title="Harbour bridge to close in April",
                             site_name="City News"), run_id=run_id)
        archive.finish_run(run_id, status="finished", urls=1)


@contextmanager
def serving(db_path: Path, *args: str, env: dict[str, str] | None = None,
            **popen: Any) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`scraper serve --port 0` on db_path: its base URL and process, stopped at the end."""
    process = subprocess.Popen([sys.executable, "-m", "scraper", "serve", "--db", str(db_path), "--port", "0", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, **(env or {})}, **popen)
    try:
        assert process.stderr is not None
        line = process.stderr.readline().decode()
        found = re.search(r"at (http://\S+?)/? ", line)
        assert found, f"serve did not start: {line}{process.stderr.read().decode() if process.poll() else ''}"
        yield found.group(1), process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def wait_for(predicate: Any, timeout: float = 30.0) -> bool:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if predicate():
            return True
        time.sleep(0.05)
    return False
