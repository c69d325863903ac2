"""Archived records -> text formats (and Parquet) on a file object, one record at a time.

Text is made safe to look at and to open: control characters (terminal escapes) are dropped
from every text field, and a CSV cell that a spreadsheet would run as a formula gets a leading '.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, TextIO

from archive.parquet import ParquetRecords
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
    written = _Counted(records)
    writer(written, out, _fields(markdown))
    return written.count


def write_parquet(records: Iterable[Record], out: IO[bytes], *, markdown: bool = False) -> int:
    """Write records to out as one Parquet file, a column per field of FIELDS (and markdown,
    with markdown); returns how many were written. Needs pyarrow. Should reading the records
    fail, the file is still closed: a Parquet file of the records before, as a text format
    would hold them, not one without its footer that nothing can read."""
    written = _Counted(records)
    with contextlib.closing(ParquetRecords(out, _fields(markdown))) as writer:
        for record in written:
            writer.write(record)
    return written.count


def _fields(markdown: bool) -> tuple[str, ...]:
    return (*FIELDS, "markdown") if markdown else FIELDS


class _Counted:
    """records, their text fields cleaned of control characters, counted as they are read."""

    def __init__(self, records: Iterable[Record]) -> None:
        self._records = records
        self.count = 0

    def __iter__(self) -> Iterator[Record]:
        for record in self._records:
            yield {name: _clean(value) for name, value in record.items()}
            self.count += 1


def file_name(record: Record, format: str, *, versioned: bool = False) -> str:
    """A file name for one record, from its URL: host and path, runs of other characters as
    '-', at most 150 characters, a short hash of the URL so that two URLs never share one; the
    format's name as extension."""
    url = str(record["url"])
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", re.sub(r"^[a-z]+://", "", url)).strip("-.")[:150] or "page"
    tag = hashlib.sha256(url.encode()).hexdigest()[:8]
    version = f"-v{record['version']}" if versioned else ""
    return f"{slug}-{tag}{version}.{format}"
