"""What the commands print: text from pages made fit for a terminal, tab-separated fields,
JSON lines, counts and sizes for people, and the lines long commands report on stderr."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import click

from scraper.models import strip_controls
from scraper.urls import shorten

_C1_AND_DEL = re.compile("[\x7f-\x9f]")


def safe(text: object) -> str:
    """Text from a page (or a user) fit for a terminal: control characters dropped (C0 but
    newline and tab, DEL, C1), so that a title cannot clear the screen, colour it or retitle
    the window."""
    return strip_controls("" if text is None else str(text))


def message(text: object) -> str:
    """An error's text fit for a one-line message: safe, its middle cut if long."""
    return shorten(safe(text), 400)


def field(text: object) -> str:
    """One field of a tab-separated line: safe, and on one line."""
    return " ".join(safe(text).split())


def json_line(record: Any) -> str:
    """One JSON line. json.dumps escapes C0 controls; DEL and C1 (which terminals may obey) too."""
    line = json.dumps(record, ensure_ascii=False)
    return _C1_AND_DEL.sub(lambda match: f"\\u{ord(match.group()):04x}", line)


def echo_rows(rows: Iterable[dict[str, Any]], line: Callable[[dict[str, Any]], str], *, as_json: bool) -> None:
    """Each row on stdout as it comes: a JSON line, or the line made for people."""
    for row in rows:
        click.echo(json_line(row) if as_json else line(row))


def count(number: int, noun: str) -> str:
    """"1 word", "2 words"."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def reasons(counts: Counter[str]) -> str:
    """"timeout 3, http 404 1": the reasons counted, most frequent first."""
    return ", ".join(f"{safe(reason)} {n}" for reason, n in counts.most_common())


def size(number: int) -> str:
    """Bytes for people: 512 B, 3.4 MB."""
    value = float(number)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def log_lines() -> Callable[[str], None]:
    """A printer of report lines on stderr. They start with the time (UTC) when stderr is not
    a terminal: cron appends them to a log."""
    stamped = not sys.stderr.isatty()

    def line(text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ ") if stamped else ""
        click.echo(stamp + text, err=True)

    return line
