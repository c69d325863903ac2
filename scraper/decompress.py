"""Content-Encoding decoding with a hard bound on output: raw HTTP body bytes in, decoded body out.

This module owns turning the raw bytes of a response (``response.iter_raw()``) and its Content-Encoding header into
the decoded body, for gzip, deflate, br and zstd, stacked in any order.

Why it exists: httpx's own decoders inflate each network chunk with no output limit, so a few MB of gzip, brotli or
zstd can expand to gigabytes in memory before any size cap looks at it. Here every decoder step produces at most
``STEP`` bytes, and decoding stops with ``OverLimit`` once the caller's limit would be passed.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import IO, cast

import brotli
import zstandard

STEP = 64 * 1024
"""Most decoded bytes one decoder step may produce, and the largest piece ``decode_body`` yields."""

ZSTD_MAX_WINDOW = 8 * 1024 * 1024
"""Largest zstd window accepted. RFC 9659 forbids HTTP zstd encoders windows over 8 MB and browsers refuse larger
ones; without this cap a hostile frame could make libzstd allocate up to 128 MiB (its default ceiling)."""

SUPPORTED: tuple[str, ...] = ("gzip", "x-gzip", "deflate", "br", "zstd", "identity")

# Brotli's binding grows its output in blocks, the first just under 32 KiB, and stops growing once the limit is
# reached; a limit under that first block therefore caps each call at one block (brotli's own tests rely on it).
_BROTLI_OUTPUT_LIMIT = 16 * 1024
GZIP_MAGIC = b"\x1f\x8b"


class DecodeError(ValueError):
    """Corrupt, truncated or unsupported compressed data. The message is one line."""


class OverLimit(ValueError):
    """The decoded body would exceed the limit."""


def decode_body(chunks: Iterable[bytes], content_encoding: str | None, limit: int) -> Iterator[bytes]:
    """Yield the decoded body piece by piece, each piece at most ``STEP`` bytes.

    ``content_encoding`` is the raw header value: None or empty means identity; codings are case-insensitive and
    listed in the order they were applied, so they are undone last to first. An empty body decodes to nothing
    whatever the coding. Raises OverLimit as soon as more than ``limit`` decoded bytes would be produced, and
    DecodeError on an unsupported coding (before any chunk is read) or corrupt/truncated data.
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    stream: Iterable[bytes] = chunks
    codings = [c for c in _parse_codings(content_encoding) if c != "identity"]
    if not codings:
        stream = _identity(stream)
    for coding in reversed(codings):
        stream = _DECODERS[coding](stream)
    total = 0
    for piece in stream:
        total += len(piece)
        if total > limit:
            raise OverLimit(f"decoded body exceeds the limit of {limit} bytes")
        if piece:
            yield piece


def _parse_codings(value: str | None) -> list[str]:
    codings = []
    for token in (value or "").split(","):
        coding = token.strip().lower()
        if not coding:
            continue
        if coding not in SUPPORTED:
            raise DecodeError(f"unsupported content encoding: {token.strip()}")
        codings.append("gzip" if coding == "x-gzip" else coding)
    return codings


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _identity(chunks: Iterable[bytes]) -> Iterator[bytes]:
    # Network chunks can be any size; slicing keeps the "no piece over STEP" promise for identity too.
    for chunk in chunks:
        if len(chunk) <= STEP:
            yield chunk
        else:
            for start in range(0, len(chunk), STEP):
                yield chunk[start : start + STEP]


def _inflate(d: zlib._Decompress, data: bytes, name: str) -> Generator[bytes, None, bytes]:
    """Feed ``data`` to a zlib decompressor, yielding at most STEP bytes per step.

    Returns the bytes after the end of the stream if it ended here, else b"".
    """
    while True:
        try:
            out = d.decompress(data, STEP)
        except zlib.error as exc:
            raise DecodeError(f"invalid {name} data: {_one_line(exc)}") from None
        if out:
            yield out
        if d.eof:
            return d.unused_data
        data = d.unconsumed_tail
        # Output short of STEP with no input left means zlib needs more input; a full STEP may have more pending.
        if not data and len(out) < STEP:
            return b""


def _gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    fed = False
    tail = b""  # after a finished member: the first bytes of what follows, until we know if it is another member
    for chunk in chunks:
        data = chunk
        while data:
            if d.eof:
                tail += data
                data = b""
                if len(tail) < len(GZIP_MAGIC):
                    break
                if not tail.startswith(GZIP_MAGIC):
                    # Trailing garbage after a complete member: browsers ignore it, so do we (and stop reading).
                    return
                # Concatenated members form one body (RFC 1952 §2.2).
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                data, tail = tail, b""
            fed = True
            data = yield from _inflate(d, data, "gzip")
    if fed and not d.eof:
        raise DecodeError("truncated gzip data")


def _is_zlib_header(head: bytes) -> bool:
    cmf, flg = head[0], head[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and ((cmf << 8) | flg) % 31 == 0


def _inflate_deflate(chunks: Iterable[bytes]) -> Iterator[bytes]:
    # "deflate" should be zlib-wrapped (RFC 9110 §8.4.1.2) but many servers send raw deflate; like browsers, tell
    # them apart by whether the first two bytes are a valid zlib header.
    d: zlib._Decompress | None = None
    head = b""
    for chunk in chunks:
        if d is None:
            head += chunk
            if len(head) < 2:
                continue
            d = zlib.decompressobj(zlib.MAX_WBITS if _is_zlib_header(head) else -zlib.MAX_WBITS)
            chunk, head = head, b""
        if d.eof:
            return  # trailing garbage after the stream: ignored, as for gzip
        if chunk:
            yield from _inflate(d, chunk, "deflate")
    if head or (d is not None and not d.eof):
        raise DecodeError("truncated deflate data")


def _unbrotli(chunks: Iterable[bytes]) -> Iterator[bytes]:
    d = brotli.Decompressor()
    fed = False
    for chunk in chunks:
        if not chunk:
            continue
        fed = True
        data = chunk
        while True:
            try:
                out: bytes = d.process(data, output_buffer_limit=_BROTLI_OUTPUT_LIMIT)
            except brotli.error as exc:
                raise DecodeError(f"invalid br data: {_one_line(exc)}") from None
            if out:
                yield out
            # Stopping at the limit leaves output pending: either input the binding kept back (then it refuses new
            # input, can_accept_more_data() is False) or output already inside the decoder (then only the full
            # buffer tells). Both are drained by calls with empty input.
            if d.can_accept_more_data() and len(out) < _BROTLI_OUTPUT_LIMIT:
                break
            data = b""
    if fed and not d.is_finished():
        raise DecodeError("truncated br data")


class _ZstdFrames:
    """Follows zstd frame boundaries in the compressed bytes (RFC 8878 §3.1) without decoding them.

    Why: zstandard's stream_reader, the one bounded-output zstd reader, reports a clean end of stream when the
    input stops mid-frame, so truncation is only visible by knowing where frames end. libzstd still validates
    everything; this only walks headers and block sizes.
    """

    _MAGIC, _SKIPPABLE_SIZE, _FRAME_HEADER, _BLOCK_HEADER = range(4)
    _FRAME_MAGIC = 0xFD2FB528
    _SKIPPABLE_MAGIC = 0x184D2A50  # low four bits are free

    def __init__(self) -> None:
        self._state = self._MAGIC
        self._want = 4  # header bytes the current state needs
        self._head = bytearray()
        self._skip = 0  # payload bytes to pass over before the next header
        self._checksum = False

    @property
    def at_boundary(self) -> bool:
        return self._state == self._MAGIC and not self._head and not self._skip

    def feed(self, data: bytes) -> None:
        pos, end = 0, len(data)
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            take = min(self._want - len(self._head), end - pos)
            self._head += data[pos : pos + take]
            pos += take
            if len(self._head) == self._want:
                head = bytes(self._head)
                self._head.clear()
                self._advance(head)

    def _advance(self, head: bytes) -> None:
        value = int.from_bytes(head, "little")
        if self._state == self._MAGIC:
            if value == self._FRAME_MAGIC:
                self._state, self._want = self._FRAME_HEADER, 1
            elif value & 0xFFFFFFF0 == self._SKIPPABLE_MAGIC:
                self._state, self._want = self._SKIPPABLE_SIZE, 4
            else:
                raise DecodeError("invalid zstd data: unknown frame magic")
        elif self._state == self._SKIPPABLE_SIZE:
            self._skip = value
            self._state, self._want = self._MAGIC, 4
        elif self._state == self._FRAME_HEADER:
            single_segment = bool(value & 0x20)
            self._checksum = bool(value & 0x04)
            window = 0 if single_segment else 1
            dictionary_id = (0, 1, 2, 4)[value & 0x03]
            content_size = (1 if single_segment else 0, 2, 4, 8)[value >> 6]
            self._skip = window + dictionary_id + content_size
            self._state, self._want = self._BLOCK_HEADER, 3
        else:
            last, block_type, size = value & 1, (value >> 1) & 3, value >> 3
            if block_type == 3:
                raise DecodeError("invalid zstd data: reserved block type")
            self._skip = 1 if block_type == 1 else size  # an RLE block stores one byte
            if last:
                self._skip += 4 if self._checksum else 0
                self._state, self._want = self._MAGIC, 4


class _ChunkSource:
    """File-like ``read(n)`` over the chunk iterator, for zstandard's stream_reader; shows each byte to the tracker."""

    def __init__(self, chunks: Iterable[bytes], frames: _ZstdFrames) -> None:
        self._chunks = iter(chunks)
        self._frames = frames
        self._buffer = b""
        self._pos = 0

    def read(self, size: int) -> bytes:
        while self._pos >= len(self._buffer):
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buffer, self._pos = chunk, 0
        if self._pos == 0 and len(self._buffer) <= size:
            piece = self._buffer
        else:
            piece = self._buffer[self._pos : self._pos + size]
        self._pos += len(piece)
        self._frames.feed(piece)
        return piece


def _unzstd(chunks: Iterable[bytes]) -> Iterator[bytes]:
    # ZstdDecompressor().decompressobj() returns all output of a call at once; stream_reader.read(n) returns at
    # most n bytes and pulls input only as needed, so it is the bounded way.
    frames = _ZstdFrames()
    source = _ChunkSource(chunks, frames)
    decompressor = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    # stream_reader only ever calls read(n) on its source.
    reader = decompressor.stream_reader(cast(IO[bytes], source), read_size=STEP, read_across_frames=True, closefd=False)
    while True:
        try:
            out: bytes = reader.read(STEP)
        except zstandard.ZstdError as exc:
            raise DecodeError(f"invalid zstd data: {_one_line(exc)}") from None
        if not out:
            break
        yield out
    if not frames.at_boundary:
        raise DecodeError("truncated zstd data")


_DECODERS: dict[str, Callable[[Iterable[bytes]], Iterator[bytes]]] = {
    "gzip": _gunzip,
    "deflate": _inflate_deflate,
    "br": _unbrotli,
    "zstd": _unzstd,
}
