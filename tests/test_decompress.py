"""scraper.decompress: every Content-Encoding round-trips, and bombs stop at the limit with bounded memory."""

from __future__ import annotations

import functools
import gzip
import random
import struct
import tracemalloc
import zlib
from collections.abc import Callable, Iterable, Iterator

import brotli
import pytest
import zstandard

from scraper.decompress import STEP, SUPPORTED, DecodeError, OverLimit, decode_body

MiB = 1024 * 1024
BOMB_MIB = 1024  # every bomb decodes to 1 GiB
LIMIT = 10 * MiB


def _text(size: int, seed: int = 1) -> bytes:
    """Random-ish prose with some incompressible runs, so streams span many blocks and steps."""
    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyzäöü") for _ in range(rng.randint(1, 9))) for _ in range(500)]
    parts: list[bytes] = []
    length = 0
    while length < size:
        part = " ".join(rng.choice(words) for _ in range(40)).encode() + b".\n"
        if rng.random() < 0.1:
            part += rng.randbytes(300)
        parts.append(part)
        length += len(part)
    return b"".join(parts)[:size]


TEXT = _text(300_000)


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True).compress(data)


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


# Cached: brotli at its default quality 11 takes about half a second for TEXT, and many tests reuse a body.
COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    name: functools.cache(compress)
    for name, compress in {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "deflate-raw": _raw_deflate,
        "br": brotli.compress,
        "zstd": _zstd,
        "identity": lambda data: data,
    }.items()
}


def _header(name: str) -> str:
    return "deflate" if name == "deflate-raw" else name


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _decode(chunks: Iterable[bytes], encoding: str | None, limit: int = 100 * MiB) -> bytes:
    pieces = list(decode_body(chunks, encoding, limit))
    assert all(0 < len(piece) <= STEP for piece in pieces)
    return b"".join(pieces)


# --- round trips ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(COMPRESS))
@pytest.mark.parametrize("chunk_size", [1, 7, 64 * 1024])
def test_round_trip(name: str, chunk_size: int) -> None:
    # One-byte chunks of a smaller body keep the test quick; the odd sizes still cut through every header.
    data = TEXT[:40_000] if chunk_size == 1 else TEXT
    body = COMPRESS[name](data)
    assert _decode(_split(body, chunk_size), _header(name)) == data


@pytest.mark.parametrize("name", list(COMPRESS))
def test_empty_chunks_anywhere_are_ignored(name: str) -> None:
    body = COMPRESS[name](TEXT)
    chunks = [b""]
    for chunk in _split(body, 1000):
        chunks += [chunk, b"", b""]
    assert _decode(chunks, _header(name)) == TEXT


@pytest.mark.parametrize("encoding", [None, "", "identity", " , ", *SUPPORTED])
@pytest.mark.parametrize("chunks", [[], [b""], [b"", b""]])
def test_empty_body_decodes_to_nothing(encoding: str | None, chunks: list[bytes]) -> None:
    assert _decode(chunks, encoding) == b""


@pytest.mark.parametrize("header", ["GZIP", " Gzip ", "x-gzip", "X-GZip", "gzip, identity", "identity,gzip,"])
def test_coding_names_are_case_insensitive_and_identity_is_a_no_op(header: str) -> None:
    assert _decode([gzip.compress(TEXT)], header) == TEXT


def test_identity_splits_large_chunks() -> None:
    body = TEXT * 4
    pieces = list(decode_body([body], None, len(body)))
    assert max(len(piece) for piece in pieces) == STEP
    assert b"".join(pieces) == body


@pytest.mark.parametrize(
    ("header", "layers"),
    [
        ("gzip, br", ["gzip", "br"]),
        ("br, gzip", ["br", "gzip"]),
        ("deflate, zstd, gzip", ["deflate-raw", "zstd", "gzip"]),
    ],
)
def test_stacked_codings_are_undone_last_first(header: str, layers: list[str]) -> None:
    body = TEXT
    for name in layers:  # applied in header order
        body = COMPRESS[name](body)
    assert _decode(_split(body, 7), header) == TEXT


def test_stacked_codings_in_the_wrong_order_fail() -> None:
    body = COMPRESS["br"](COMPRESS["gzip"](TEXT))  # that is "gzip, br"
    with pytest.raises(DecodeError, match="gzip"):
        _decode([body], "br, gzip")


def test_error_from_an_inner_coding_passes_through_zstd() -> None:
    # "zstd, gzip": gzip is undone first and feeds zstandard's reader, whose read() calls back into our generator.
    body = gzip.compress(_zstd(TEXT))
    with pytest.raises(DecodeError, match="truncated gzip data"):
        _decode(_split(body[:-5], 1000), "zstd, gzip")


# --- gzip and deflate specifics ------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 7, 64 * 1024])
def test_multi_member_gzip_is_one_body(chunk_size: int) -> None:
    parts = [TEXT[:1000], b"", TEXT[1000:50_000], TEXT[50_000:]]
    body = b"".join(gzip.compress(part) for part in parts)
    assert _decode(_split(body, chunk_size), "gzip") == TEXT


@pytest.mark.parametrize(
    "garbage",
    [b"\x00", b"\x1f", b"\x00" * 100, b"<html>trailing junk</html>", b"\x8b\x1f"],
    ids=["nul", "half-magic", "nul-padding", "html", "reversed-magic"],
)
@pytest.mark.parametrize("name", ["gzip", "deflate", "deflate-raw"])
def test_trailing_garbage_after_a_complete_stream_is_ignored(name: str, garbage: bytes) -> None:
    data = TEXT[:20_000]
    body = COMPRESS[name](data) + garbage
    for size in (1, 7, len(body)):
        assert _decode(_split(body, size), _header(name)) == data


def test_trailing_bytes_that_start_a_gzip_member_must_be_one() -> None:
    body = gzip.compress(TEXT) + b"\x1f\x8b not a member"
    with pytest.raises(DecodeError, match="invalid gzip data"):
        _decode([body], "gzip")


def test_deflate_detects_zlib_wrapper_and_raw() -> None:
    wrapped, raw = zlib.compress(TEXT), _raw_deflate(TEXT)
    assert wrapped[:2] != raw[:2]
    assert _decode([wrapped], "deflate") == TEXT
    assert _decode([raw], "deflate") == TEXT
    # The wrong wbits would fail either way: zlib data is no raw stream and raw data has no zlib header.
    with pytest.raises(zlib.error):
        zlib.decompress(raw)


# --- zstd specifics ------------------------------------------------------------------------------------------------


def test_zstd_concatenated_and_skippable_frames() -> None:
    skippable = struct.pack("<II", 0x184D2A53, 5) + b"hello"
    body = skippable + _zstd(TEXT[:1000]) + zstandard.ZstdCompressor().compress(TEXT[1000:]) + skippable
    for size in (1, 7, 64 * 1024):
        assert _decode(_split(body, size), "zstd") == TEXT


def _zstd_with_window(window_log: int, data: bytes) -> bytes:
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=window_log)
    c = zstandard.ZstdCompressor(compression_params=params).compressobj()  # streaming: no content size, window kept
    body = c.compress(data) + c.flush()
    assert zstandard.get_frame_parameters(body).window_size == 1 << window_log
    return body


def test_zstd_window_up_to_8_mib_is_accepted() -> None:
    assert _decode([_zstd_with_window(23, TEXT)], "zstd") == TEXT


def test_zstd_window_over_8_mib_is_refused() -> None:
    # Without max_window_size libzstd would accept this (its default ceiling is 128 MiB) and allocate the window.
    body = _zstd_with_window(24, TEXT)
    assert zstandard.ZstdDecompressor().decompress(body, max_output_size=len(TEXT)) == TEXT
    with pytest.raises(DecodeError, match=r"^invalid zstd data: .*too much memory"):
        _decode([body], "zstd")


# --- truncated and corrupt input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gzip", "deflate", "deflate-raw", "br", "zstd"])
@pytest.mark.parametrize("cut", [1, 2, 11, 0.5, -4, -1])
def test_truncated_stream(name: str, cut: float) -> None:
    body = COMPRESS[name](TEXT)
    end = int(len(body) * cut) if isinstance(cut, float) else cut % len(body)
    with pytest.raises(DecodeError, match=f"^truncated {_header(name)} data$"):
        _decode(_split(body[:end], 7), _header(name))


def _flip(body: bytes, index: int) -> bytes:
    return body[:index] + bytes([body[index] ^ 0x55]) + body[index + 1 :]


CORRUPT: list[tuple[str, Callable[[], bytes]]] = [
    ("gzip", lambda: b"\x1f\x8c" + gzip.compress(TEXT)[2:]),  # bad magic
    ("gzip", lambda: _flip(gzip.compress(TEXT), -6)),  # CRC mismatch
    ("gzip", lambda: _flip(gzip.compress(TEXT), -1)),  # length mismatch
    ("deflate", lambda: _flip(zlib.compress(TEXT), -1)),  # Adler-32 mismatch
    ("deflate", lambda: b"\xff" * 100),
    ("br", lambda: bytes(100)),
    ("br", lambda: COMPRESS["br"](TEXT) + b"x"),  # unlike gzip, the brotli decoder refuses trailing bytes
    ("zstd", lambda: _flip(_zstd(TEXT), -1)),  # checksum mismatch
    ("zstd", lambda: b"\x28\xb5\x2f\xfe" + _zstd(TEXT)[4:]),  # bad magic
    ("zstd", lambda: _zstd(TEXT) + b"garbage!"),
]


@pytest.mark.parametrize(("encoding", "make"), CORRUPT)
def test_corrupt_stream(encoding: str, make: Callable[[], bytes]) -> None:
    body = make()
    for size in (7, len(body)):
        with pytest.raises(DecodeError, match=f"^invalid {encoding} data") as caught:
            _decode(_split(body, size), encoding)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("header", ["compress", "gzip, foo", "br;q=1", "x-deflate"])
def test_unsupported_coding_fails_before_reading(header: str) -> None:
    def untouchable() -> Iterator[bytes]:
        raise AssertionError("read the body of an undecodable response")
        yield b""

    with pytest.raises(DecodeError, match=r"^unsupported content encoding: "):
        next(decode_body(untouchable(), header, LIMIT))


def test_unsupported_coding_message_names_it() -> None:
    with pytest.raises(DecodeError) as caught:
        _decode([b"x"], "gzip, Compress")
    assert str(caught.value) == "unsupported content encoding: Compress"


# --- the limit -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(COMPRESS))
def test_exactly_the_limit_passes_one_more_byte_fails(name: str) -> None:
    body = COMPRESS[name](TEXT)
    assert _decode(_split(body, 1000), _header(name), limit=len(TEXT)) == TEXT
    with pytest.raises(OverLimit):
        _decode(_split(body, 1000), _header(name), limit=len(TEXT) - 1)


def test_zero_limit_allows_only_an_empty_body() -> None:
    assert _decode([gzip.compress(b"")], "gzip", limit=0) == b""
    with pytest.raises(OverLimit):
        _decode([gzip.compress(b"a")], "gzip", limit=0)


def test_errors_are_value_errors() -> None:
    assert issubclass(DecodeError, ValueError)
    assert issubclass(OverLimit, ValueError)


# --- bombs ---------------------------------------------------------------------------------------------------------

_ZEROS = bytes(MiB)


def _deflate_zeros(mib: int) -> bytes:
    """Raw deflate of ``mib`` MiB of zeros, built in milliseconds.

    A full flush byte-aligns the output and resets the compressor, so every MiB compresses to the same bytes:
    compress one and repeat it, instead of running zlib over the whole GiB (seconds at any useful level).
    """
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    segment = c.compress(_ZEROS) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(_ZEROS) + c.flush(zlib.Z_FULL_FLUSH) == segment
    return segment * mib + c.flush()


def _gzip_zeros(mib: int) -> bytes:
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(_ZEROS, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + _deflate_zeros(mib) + struct.pack("<II", crc, (mib * MiB) & 0xFFFFFFFF)


def _zlib_zeros(mib: int) -> bytes:
    adler = ((mib * MiB) % 65521) << 16 | 1  # Adler-32 of n zeros: a stays 1, b sums to n
    return b"\x78\xda" + _deflate_zeros(mib) + struct.pack(">I", adler)


def _brotli_zeros(mib: int) -> bytes:
    c = brotli.Compressor(quality=1)
    return b"".join([c.process(_ZEROS) for _ in range(mib)] + [c.finish()])


def _zstd_zeros(mib: int) -> bytes:
    c = zstandard.ZstdCompressor(level=1).compressobj()
    return b"".join([c.compress(_ZEROS) for _ in range(mib)] + [c.flush()])


BOMB_BUILDERS: dict[str, Callable[[int], bytes]] = {
    "gzip": _gzip_zeros,
    "deflate": _zlib_zeros,
    "deflate-raw": _deflate_zeros,
    "br": _brotli_zeros,
    "zstd": _zstd_zeros,
}


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    return {name: build(BOMB_MIB) for name, build in BOMB_BUILDERS.items()}


@pytest.mark.parametrize("name", list(BOMB_BUILDERS))
def test_bomb_builders_make_valid_streams(name: str) -> None:
    # The same code at 3 MiB, checked by the standard decoders, so the 1 GiB bombs are real streams.
    body = BOMB_BUILDERS[name](3)
    decoded = {
        "gzip": gzip.decompress,
        "deflate": zlib.decompress,
        "deflate-raw": lambda b: zlib.decompress(b, -zlib.MAX_WBITS),
        "br": brotli.decompress,
        "zstd": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
    }[name](body)
    assert decoded == bytes(3 * MiB)


def test_gzip_bomb_declares_1_gib(bombs: dict[str, bytes]) -> None:
    body = bombs["gzip"]
    assert struct.unpack("<I", body[-4:])[0] == (BOMB_MIB * MiB) & 0xFFFFFFFF
    assert len(body) < 2 * MiB  # more than 1000:1


@pytest.mark.parametrize("name", list(BOMB_BUILDERS))
def test_bomb_stops_at_the_limit_with_bounded_memory(bombs: dict[str, bytes], name: str) -> None:
    body = bombs[name]
    assert len(body) < BOMB_MIB * MiB // 1000  # a real bomb: over 1000:1 (deflate's ceiling is about 1030:1)
    pulled = 0

    def chunks() -> Iterator[bytes]:
        nonlocal pulled
        for start in range(0, len(body), 64 * 1024):
            pulled += 1
            yield body[start : start + 64 * 1024]

    decoded = 0
    largest = 0
    tracemalloc.start()
    try:
        with pytest.raises(OverLimit):
            for piece in decode_body(chunks(), _header(name), LIMIT):
                decoded += len(piece)
                largest = max(largest, len(piece))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Pieces are dropped as they come, so a streaming decoder needs a few steps of memory; one that inflated a
    # whole chunk, or buffered up to the limit, would need 10 MiB or more. This is stronger than limit + 1 MiB.
    assert peak < 1 * MiB, f"peak {peak} bytes"
    # It decoded right up to the limit, in bounded pieces, and read only the input needed to get there.
    assert largest <= STEP
    assert LIMIT - STEP < decoded <= LIMIT
    assert pulled * 64 * 1024 < 2 * MiB
