"""Archived records -> text formats on a file object, one record at a time."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from typing import Any, TextIO

FIELDS = (
    "url", "final_url", "version", "fetched_at", "title", "author", "published", "language",
    "site_name", "description", "canonical_url", "image", "word_count", "content_hash", "text",
)
RECORD_SEPARATOR = "\f\n"
"""Between records of the txt format: a form feed on its own line."""


def _jsonl(records: Iterable[dict[str, Any]], out: TextIO) -> int:
    count = 0
    for record in records:
        out.write(json.dumps({name: record.get(name) for name in FIELDS}, ensure_ascii=False) + "\n")
        count += 1
    return count


def _csv(records: Iterable[dict[str, Any]], out: TextIO) -> int:
    writer = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    count = 0
    for record in records:
        writer.writerow(record)
        count += 1
    return count


def _txt(records: Iterable[dict[str, Any]], out: TextIO) -> int:
    count = 0
    for record in records:
        if count:
            out.write(RECORD_SEPARATOR)
        out.write(f"{record.get('title') or ''}\n{record['url']}\n\n{record['text']}\n")
        count += 1
    return count


def _md(records: Iterable[dict[str, Any]], out: TextIO) -> int:
    count = 0
    for record in records:
        if count:
            out.write("\n---\n\n")
        byline = " · ".join(
            str(value) for value in (record.get("author"), record.get("published")) if value
        )
        out.write(f"# {record.get('title') or record['url']}\n\n<{record['url']}>\n\n")
        if byline:
            out.write(f"*{byline}*\n\n")
        out.write(f"{record['text']}\n")
        count += 1
    return count


FORMATS: dict[str, Callable[[Iterable[dict[str, Any]], TextIO], int]] = {
    "txt": _txt,
    "jsonl": _jsonl,
    "csv": _csv,
    "md": _md,
}


def write_records(records: Iterable[dict[str, Any]], out: TextIO, format: str = "jsonl") -> int:
    """Write records to out in one of FORMATS; returns how many were written."""
    try:
        writer = FORMATS[format]
    except KeyError:
        raise ValueError(f"unknown format {format!r}; choose from {', '.join(FORMATS)}") from None
    return writer(records, out)
