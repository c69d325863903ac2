"""Archived records -> text formats on a file object, one record at a time.

Text is made safe to look at and to open: control characters (terminal escapes) are dropped
from every text field, and a CSV cell that a spreadsheet would run as a formula gets a leading '.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

from scraper.models import strip_controls

Record = dict[str, Any]
FIELDS = (
    "url", "final_url", "version", "fetched_at", "title", "author", "authors", "published",
    "modified", "language", "site_name", "description", "canonical_url", "image", "word_count",
    "content_hash", "cleaner", "text",
)
"""Fields of jsonl and csv records. Markdown is the md format's body, not a field; cleaner is
the cleaner that made the text (None for a version made before that was recorded)."""
RECORD_SEPARATOR = "\f\n"
"""Between records of the txt format: a form feed on its own line."""
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may read as the start of a formula in a CSV cell (OWASP's list)."""


def _clean(value: Any) -> Any:
    """value with control characters taken out of its text (a list's too)."""
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def _cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula: text starting as one gets a leading '."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _jsonl(records: Iterable[Record], out: TextIO, fields: tuple[str, ...] = FIELDS) -> None:
    for record in records:
        out.write(json.dumps({name: record.get(name) for name in fields}, ensure_ascii=False) + "\n")


def _csv(records: Iterable[Record], out: TextIO, fields: tuple[str, ...] = FIELDS) -> None:
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in records:
        row = {**record, "authors": "; ".join(record.get("authors") or ())}
        writer.writerow({name: _cell(value) for name, value in row.items()})


def _txt(records: Iterable[Record], out: TextIO, fields: tuple[str, ...] = FIELDS) -> None:
    for number, record in enumerate(records):
        if number:
            out.write(RECORD_SEPARATOR)
        out.write(f"{record.get('title') or ''}\n{record['url']}\n\n{record['text']}\n")


def _md(records: Iterable[Record], out: TextIO, fields: tuple[str, ...] = FIELDS) -> None:
    for number, record in enumerate(records):
        if number:
            out.write("\n---\n\n")
        out.write(f"# {record.get('title') or record['url']}\n\n<{record['url']}>\n\n")
        byline = " · ".join(str(record[key]) for key in ("author", "published") if record.get(key))
        if byline:
            out.write(f"*{byline}*\n\n")
        out.write(f"{record.get('markdown') or record['text']}\n")


FORMATS: dict[str, Callable[[Iterable[Record], TextIO, tuple[str, ...]], None]] = {
    "txt": _txt,
    "jsonl": _jsonl,
    "csv": _csv,
    "md": _md,
}


def write_records(records: Iterable[Record], out: TextIO, format: str = "jsonl", *, markdown: bool = False) -> int:
    """Write records to out in one of FORMATS; returns how many were written. markdown: jsonl
    and csv records carry the article as Markdown too (field `markdown`, after `text`)."""
    try:
        writer = FORMATS[format]
    except KeyError:
        raise ValueError(f"unknown format {format!r}; choose from {', '.join(FORMATS)}") from None
    written = 0

    def counted() -> Iterator[Record]:
        nonlocal written
        for record in records:
            yield {name: _clean(value) for name, value in record.items()}
            written += 1

    writer(counted(), out, (*FIELDS, "markdown") if markdown else FIELDS)
    return written


def file_name(record: Record, format: str, *, versioned: bool = False) -> str:
    """A file name for one record, from its URL: host and path, runs of other characters as
    '-', at most 150 characters, a short hash of the URL so that two URLs never share one; the
    format's name as extension."""
    url = str(record["url"])
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", re.sub(r"^[a-z]+://", "", url)).strip("-.")[:150] or "page"
    tag = hashlib.sha256(url.encode()).hexdigest()[:8]
    version = f"-v{record['version']}" if versioned else ""
    return f"{slug}-{tag}{version}.{format}"
