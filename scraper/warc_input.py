"""WARC files -> the HTML pages they hold, each decoded as the fetcher decodes a body.

Records are read with warcio (its gzip members inflated by zlib-ng). Each `response` record
(and each `resource` record of an HTML type, as `scraper export --format warc` writes for saved
files) becomes a Capture, or a Rejected record with the reason it is no page to clean: a
payload over the size cap, not HTML, an HTTP status other than 2xx, or a body that cannot be
decoded. The HTTP payload is de-chunked (warcio's reader, which takes a body sent as chunked
but stored whole as it is) and decompressed from its Content-Encoding by scraper.decompress,
whose output stops at the cap however well the body compresses.

warcio reads a truncated file as if it ended there: a record cut short, or a gzip member
without its end, is found here and raised as BrokenInput, after the records read before it.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader, DecompressingBufferedReader
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecordLoader
from zlib_ng import zlib_ng

from scraper.decompress import STEP, DecodeError, OverLimit, decode_body
from scraper.encoding import decode_html, html_problem, is_binary
from scraper.errors import BadContent, HTTPStatusError, InvalidURL, NotHTML, ScraperError, SourceError, TooLarge
from scraper.fetcher import HTML_TYPES

WARC_SUFFIXES = (".warc", ".warc.gz")


class BrokenInput(ScraperError):
    """A WARC file that cannot be read to its end: truncated, or not a WARC at all."""

    reason = "broken warc"


@dataclass(frozen=True)
class Capture:
    """An HTML page as a WARC record holds it, its body decoded."""

    url: str
    warc_date: str
    record_id: str
    status: int | None
    """HTTP status; None for a resource record."""
    headers: dict[str, str]
    """The HTTP response headers, names lower-cased."""
    content: bytes
    """The body, de-chunked and decompressed."""
    html: str
    encoding: str


@dataclass(frozen=True)
class Rejected:
    """A record that is no page to keep, and why: the reason label of the error that rejected
    it, and its message (plain strings, which pickle whatever the error was)."""

    url: str
    warc_date: str
    record_id: str
    reason: str
    message: str

    @classmethod
    def of(cls, url: str, warc_date: str, record_id: str, error: ScraperError) -> Rejected:
        return cls(url, warc_date, record_id, error.reason, error.message)


@dataclass
class Counts:
    """What a reading saw: records of any type, and the page records among them."""

    records: int = 0
    pages: int = 0


def expand_inputs(arguments: Iterable[str]) -> list[Path]:
    """The WARC files that INPUT arguments name: files, globs, or @manifest (a file listing
    paths or globs, one a line, relative to the manifest's folder; blank lines and # comments
    skipped). Each file once, in the order named. SourceError for a name that matches no file,
    a directory, or an unreadable manifest."""
    paths: list[Path] = []
    for argument in arguments:
        if argument.startswith("@"):
            manifest = Path(argument[1:])
            try:
                lines = manifest.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise SourceError(f"cannot read the manifest {manifest}: {getattr(exc, 'strerror', None) or exc}"
                                  ) from None
            for number, line in enumerate(lines, 1):
                line = line.strip()
                if line and not line.startswith("#"):
                    paths += _matches(str(manifest.parent / line), f"{manifest} line {number}")
        else:
            paths += _matches(argument, None)
    seen: set[Path] = set()
    unique = []
    for path in paths:
        if (resolved := path.resolve()) not in seen:
            seen.add(resolved)
            unique.append(path)
    return unique


def _matches(pattern: str, where: str | None) -> list[Path]:
    prefix = f"{where}: " if where else ""
    if glob.has_magic(pattern):
        found = sorted(Path(name) for name in glob.glob(pattern) if os.path.isfile(name))
        if not found:
            raise SourceError(f"{prefix}{pattern} matches no file")
        return found
    path = Path(pattern)
    if path.is_dir():
        raise SourceError(f"{prefix}{pattern} is a directory, not a WARC file")
    if not path.is_file():
        raise SourceError(f"{prefix}{pattern}: no such file")
    return [path]


class _Loader(ArcWarcRecordLoader):  # type: ignore[misc]  # warcio has no types
    """warcio's record reader, taking a record without a WARC-Target-URI as one with an empty
    URI: warcio itself stops the whole file at it with an AttributeError."""

    def load_http_headers(self, rec_type: str, uri: str | None, stream: Any, length: int | None) -> Any:
        return super().load_http_headers(rec_type, uri or "", stream, length)


class _Reader(DecompressingBufferedReader):  # type: ignore[misc]
    """warcio's reader of a (gzipped or plain) WARC file, inflating with zlib-ng: the same
    bytes as zlib's, in 0.6 of its time."""

    DECOMPRESSORS: ClassVar[dict[str, Callable[[], Any]]] = {
        **DecompressingBufferedReader.DECOMPRESSORS, "gzip": lambda: zlib_ng.decompressobj(16 + zlib_ng.MAX_WBITS)}


class _Iterator(ArchiveIterator):  # type: ignore[misc]  # warcio has no types
    """warcio's iterator, with its reader inflating by zlib-ng, noting whether the file ended
    inside a gzip member."""

    ended_inside_member = False

    def __init__(self, fileobj: Any) -> None:
        super().__init__(fileobj)
        self.reader = _Reader(self.fh)  # nothing read yet: warcio's own, replaced
        self.loader = _Loader()

    def close(self) -> None:
        decompressor = getattr(self.reader, "decompressor", None)
        if decompressor is not None and not getattr(decompressor, "eof", True):
            self.ended_inside_member = True
        super().close()


def read_pages(path: Path, *, max_bytes: int, counts: Counts | None = None) -> Iterator[Capture | Rejected]:
    """Each page record of the WARC file at path, in order: a Capture, or Rejected with why.

    Raises BrokenInput where the file stops being readable (after yielding every record read
    before it), and OSError if it cannot be opened.
    """
    counts = counts if counts is not None else Counts()
    with open(path, "rb") as handle:
        records = _Iterator(handle)
        try:
            for record in records:
                counts.records += 1
                page = _page(record, max_bytes)
                if page is not None:
                    counts.pages += 1
                    yield page
                _drain(record)
        except ArchiveLoadFailed as exc:
            raise BrokenInput(f"{path}: {' '.join(str(exc).split())[:300]}") from None
        except (OSError, EOFError, ValueError) as exc:  # zlib.error is an Exception too: caught below
            raise BrokenInput(f"{path}: {type(exc).__name__}: {exc}") from None
        except Exception as exc:
            if type(exc).__module__ in ("zlib", "zlib_ng"):
                raise BrokenInput(f"{path}: corrupt gzip data ({exc})") from None
            raise
        if records.ended_inside_member:
            raise BrokenInput(f"{path}: truncated (the file ends inside a gzip member)")


def _drain(record: Any) -> None:
    """Read the rest of the record; BrokenInput if the file ends before it does."""
    stream = record.raw_stream
    while stream.read(STEP):
        pass
    if getattr(stream, "limit", 0) > 0:
        raise ArchiveLoadFailed(f"truncated: the record of {record.rec_headers.get_header('WARC-Target-URI')} "
                                f"ends {stream.limit} bytes short of its Content-Length")


def _page(record: Any, max_bytes: int) -> Capture | Rejected | None:
    """The record as a page, or None when it is no page record (request, metadata, ...)."""
    headers = record.rec_headers
    kind = record.rec_type
    url = headers.get_header("WARC-Target-URI") or ""
    warc_date = headers.get_header("WARC-Date") or ""
    record_id = headers.get_header("WARC-Record-ID") or ""
    http = record.http_headers
    if kind == "response" and not url:  # the format requires one; without it, no HTTP headers are read
        return Rejected.of(url, warc_date, record_id, InvalidURL("", "a response record without a WARC-Target-URI"))
    if kind == "response" and http is not None:
        mime_header = http.get_header("Content-Type") or ""
    elif kind == "resource" and _mime(record.content_type or "") in HTML_TYPES:
        mime_header = record.content_type
    else:
        return None

    def rejected(error: ScraperError) -> Rejected:
        return Rejected.of(url, warc_date, record_id, error)

    status = None
    if kind == "response":
        code = http.get_statuscode()
        status = int(code) if code and code.isdigit() else None
        if status is None or not 200 <= status < 300:
            return rejected(HTTPStatusError(url, status or 0))
    mime = _mime(mime_header)
    if mime and mime not in HTML_TYPES:
        return rejected(NotHTML(url, f"content type {mime}"))
    # Compressed bodies are smaller than decoded ones, and chunk headers add little: a record
    # far over the cap cannot decode under it, and is not read into memory.
    length = record.payload_length if record.payload_length >= 0 else record.length
    if length is not None and length > 2 * max_bytes:
        return rejected(TooLarge(url, f"a {length}-byte payload, cap is {max_bytes}"))
    stream = record.raw_stream
    encoding = http.get_header("Content-Encoding") if http is not None else None
    if http is not None and "chunked" in (http.get_header("Transfer-Encoding") or "").lower():
        stream = ChunkedDataReader(stream, decomp_type=None)
    try:
        content = b"".join(decode_body(iter(lambda: stream.read(STEP), b""), encoding, max_bytes))
    except OverLimit:
        return rejected(TooLarge(url, f"body over the cap of {max_bytes} bytes (after decompression)"))
    except DecodeError as exc:
        _drain(record)  # a body cut off by the end of the file is a broken input, not bad content
        return rejected(BadContent(url, str(exc)))
    _drain(record)  # before the page is kept: a record cut short holds part of a page
    if is_binary(content):
        return rejected(NotHTML(url, "binary content" + (f" served as {mime}" if mime else "")))
    if not mime and (problem := html_problem(content)) is not None:
        return rejected(NotHTML(url, problem))
    http_headers = {name.lower(): value for name, value in http.headers} if http is not None else {}
    html, charset = decode_html(content, mime_header)
    return Capture(url, warc_date, record_id, status, http_headers, content, html, charset)


def _mime(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()
