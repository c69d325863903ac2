"""Archived versions -> WARC/1.1, the format web archives (Wayback, pywb, Heritrix tools) read.

Each version becomes one `response` record: the HTTP status line and headers as fetched,
then the stored body. The archive keeps bodies decoded from their Content-Encoding, so the
headers that described the bytes on the wire are replaced: a record must say what it holds,
or replay tools would try to gunzip plain HTML. Pages archived from a file or stdin had no
HTTP exchange and become `resource` records.
"""

from __future__ import annotations

import http
import io
import json
import os
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from scraper import __version__

WARC_VERSION = "WARC/1.1"
_WIRE_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})
"""Headers about the body as sent, not as stored: dropped, and Content-Length written anew."""


def write_warc(records: Iterable[dict[str, Any]], out: BinaryIO, body: Callable[[str], bytes], *,
               gzip: bool = True) -> int:
    """Write records of Archive.records() as WARC/1.1 to out, each with the raw HTML that
    body(sha256) returns (Archive.raw_html); returns how many captures were written.

    The file opens with a warcinfo record, then one record per version. Records and bodies
    are read one at a time, so memory stays flat however large the archive. With gzip, each
    record is its own gzip member, as WARC tools expect of .warc.gz.
    """
    writer = WARCWriter(out, gzip=gzip, warc_version=WARC_VERSION)
    writer.write_record(writer.create_warcinfo_record(
        _filename(out), {"software": f"scraper/{__version__}", "format": "WARC File Format 1.1"}
    ))
    written = 0
    for row in records:
        writer.write_record(_record(writer, row, body(row["html_sha256"])))
        written += 1
    return written


def _record(writer: Any, row: dict[str, Any], body: bytes) -> Any:
    """One version as a warcio record; warcio adds the block and payload digests."""
    uri = row["final_url"] or row["url"]
    warc_headers = {"WARC-Date": row["fetched_at"]}  # stored as 2026-01-02T03:04:05Z, valid WARC-Date
    if row["status"] is None:  # read from a file or stdin: no HTTP exchange to record
        return writer.create_warc_record(uri, "resource", payload=io.BytesIO(body), length=len(body),
                                         warc_content_type="text/html", warc_headers_dict=warc_headers)
    stored: dict[str, str] = json.loads(row["headers"] or "{}")
    headers = [(name, value) for name, value in stored.items() if name.lower() not in _WIRE_HEADERS]
    headers.append(("Content-Length", str(len(body))))
    http_headers = StatusAndHeaders(f"{row['status']} {_reason(row['status'])}", headers, protocol="HTTP/1.1")
    return writer.create_warc_record(uri, "response", payload=io.BytesIO(body), length=len(body),
                                     warc_headers_dict=warc_headers, http_headers=http_headers)


def _reason(status: int) -> str:
    """The standard reason phrase, or "" for a code Python does not know (an empty reason is valid HTTP)."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _filename(out: BinaryIO) -> str | None:
    """The name of the file being written, for warcinfo's WARC-Filename; None for pipes and buffers."""
    name = getattr(out, "name", None)
    if isinstance(name, str) and not name.startswith("<"):
        return os.path.basename(name)
    return None
