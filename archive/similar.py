"""Near-duplicate articles across pages: MinHash signatures with an LSH index kept in the archive.

Every page's latest version gets a MinHash signature of its text's word 5-grams (table
`minhashes`) and the signature cut into BANDS bands, each hashed to a bucket (table
`minhash_bands`). Two texts that agree on all rows of any one band share a bucket: an
indexed SQL lookup finds these candidates, and the signatures' agreement estimates their
Jaccard similarity. The tables are the index: nothing is held in memory between calls.
An archive opened read-only has them stored all the same when its file can be written, else
computed into temporary tables that stand in for the stored ones while it is open (see
refresh_index).

datasketch imports scipy (~0.6 s): it is imported only when a signature is computed, so
importing this module, or asking about an archive whose index is up to date, stays cheap.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from archive.schema import needs_upgrade
from archive.store import Archive, in_lists
from scraper.errors import ArchiveError
from scraper.models import CJK

NUM_PERM = 128
THRESHOLD = 0.3
# Chosen by measurement (word 5-grams, 128 permutations). Different texts score near zero: of
# the 489,555 pairs among 990 pages of the trafilatura evaluation corpus, none between
# different articles reaches 0.04, and the five seed write-ups of one news story score at most
# 0.03 against each other. Copies score high: the syndicated fixture, in another layout with
# one reworded sentence, 0.98 against seed 000. But the corpus holds two real syndications
# reworded more heavily, a press release recast in reported speech (estimate 0.45, exact
# Jaccard 0.51) and one agency story edited by two sites (0.40): each changed word costs 5
# shingles. 0.3 keeps those, and stays ten times what different articles reach.
BANDS = 32
ROWS = 2
# LSH layout: 32 bands of 2 rows over the first 64 permutations; the estimate uses all 128.
# A pair of Jaccard similarity s becomes a candidate with probability 1 - (1 - s**2)**32:
# 0.95 at 0.3 (THRESHOLD), 0.996 at 0.4, 0.9999 at 0.5; while pairs of different articles
# (s < 0.04 above) become candidates at most 5% of the time, and then only cost one signature
# comparison. The curve's midpoint, (1/32)**(1/2) ~ 0.18, must sit below THRESHOLD because a
# pair that shares no bucket is never looked at: 16 bands of 8 rows (midpoint ~0.71) would
# find a pair at 0.3 0.1% of the time, 32 of 4 (midpoint ~0.42) 23%. Each band is a row of
# minhash_bands and two index entries a page: 32 cost ~1.7 kB a page (the signature ~0.6 kB).
# Near THRESHOLD the estimate is uncertain anyway: its standard error is sqrt(s(1 - s)/128) ~ 0.04.
SHINGLE_SIZE = 5
_SCHEME = "affine32"
# datasketch 2's default scheme, pinned: signatures are stored, and a later default would make
# new signatures incomparable with old ones. Its hash values are 32-bit: 4 bytes a permutation.
_BATCH = 200  # versions indexed per write transaction: other writers wait one batch at most
# The stored rows depend on all the constants above and on shingles(). A signature of another
# size is recomputed by refresh_index on its own; after any other change, empty both tables
# (DELETE FROM minhash_bands; DELETE FROM minhashes) and the next refresh rebuilds them.

# Words as scraper.models counts them, but without punctuation: \w+ runs, and each Chinese or
# Japanese character on its own (those scripts put no spaces between words).
_WORD = re.compile(rf"[{CJK}]|[^\W{CJK}]+")


@dataclass(frozen=True)
class Match:
    url: str
    title: str | None
    similarity: float
    """Estimated Jaccard similarity of the two texts' word 5-grams, 0 to 1."""
    version: int
    """The matching page's latest version, the one compared."""


def shingles(text: str, size: int = SHINGLE_SIZE) -> set[bytes]:
    """The word `size`-grams of text, lower-cased, as UTF-8; a shorter text is one shingle.

    Punctuation, spacing and case do not count, so a change of layout or of quotation marks
    leaves a text's shingles as they were.
    """
    words = _WORD.findall(text.lower())
    if len(words) < size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


def signature(text: str) -> bytes:
    """text's MinHash signature: NUM_PERM hash values as little-endian uint32; b"" for a text
    without words, which resembles nothing."""
    grams = shingles(text)
    if not grams:
        return b""
    from datasketch import MinHash  # lazily: it imports scipy

    minhash = MinHash(num_perm=NUM_PERM, seed=1, scheme=_SCHEME)
    minhash.update_batch(grams)
    return bytes(minhash.hashvalues.astype("<u4").tobytes())


def estimate(first: bytes, second: bytes) -> float:
    """Jaccard similarity estimated from two signatures: the share of permutations whose
    minimum agrees. 0.0 when either is empty or they are of different sizes."""
    if not first or len(first) != len(second):
        return 0.0
    # Equality of 4-byte lanes does not depend on byte order: native-order views are fine.
    agree = sum(1 for a, b in zip(memoryview(first).cast("I"), memoryview(second).cast("I"), strict=True) if a == b)
    return agree / (len(first) // 4)


def _buckets(sig: bytes) -> list[tuple[int, int]]:
    """(band, bucket) of each band: a signed 64-bit hash of the band's rows, as SQLite stores it."""
    width = ROWS * 4
    return [
        (band, int.from_bytes(hashlib.blake2b(sig[band * width : (band + 1) * width], digest_size=8).digest(),
                              "little", signed=True))
        for band in range(BANDS)
    ]


# The latest version of each page after page id `?`, unless it has a signature of this size.
# Driven by pages in id order: a call with nothing new reads pages and two indexes, no text.
_UNINDEXED = (
    "SELECT p.id, v.id, v.text FROM pages p"
    " JOIN versions v ON v.page_id = p.id AND v.version = p.latest_version"
    " LEFT JOIN minhashes m ON m.version_id = v.id"
    " WHERE p.id > ? AND (m.version_id IS NULL OR m.num_perm != ?) ORDER BY p.id LIMIT ?"
)

# Before a page's latest version is indexed: its older versions' rows, and its own if it had a
# signature of another size.
_DROP_PAGE_ROWS = tuple(
    f"DELETE FROM {table} WHERE version_id IN (SELECT id FROM versions WHERE page_id = ?)"
    for table in ("minhash_bands", "minhashes")
)


def refresh_index(archive: Archive) -> int:
    """Compute and store signatures and band buckets of the latest version of every page that has
    none yet; returns how many versions were indexed (a version without words counts: it gets an
    empty signature and no buckets, so it is not looked at again).

    Rows of a page's older versions are dropped when its new latest version is indexed: the
    index then holds one entry a page, and its buckets lead only to current texts. Signatures are
    computed outside any transaction; each batch of _BATCH versions is written in one short one.

    An archive opened read-only (the read commands) has the index stored all the same, through a
    connection of its own, when the file can be written at once and its schema is current (a read
    never migrates). Else, in a read-only folder say, the new rows go to temporary tables, which
    views named as the stored tables join to them for this connection's other queries (the older
    rows stay: the queries read current versions only); nothing is stored.
    """
    minhashes, bands = "minhashes", "minhash_bands"
    if archive.readonly:
        with archive._reading():
            if archive.db.execute(_UNINDEXED, [0, NUM_PERM, 1]).fetchone() is None:
                return 0
        if not _overlaid(archive):
            try:
                return _store_elsewhere(archive)
            except ArchiveError:
                _overlay(archive)
        minhashes, bands = "temp.new_minhashes", "temp.new_minhash_bands"
    added = 0
    after = 0
    while True:
        with archive._reading():
            rows = archive.db.execute(_UNINDEXED, [after, NUM_PERM, _BATCH]).fetchall()
        if not rows:
            return added
        after = rows[-1][0]
        computed = [(page_id, version_id, signature(text or "")) for page_id, version_id, text in rows]
        with archive._write():
            for page_id, version_id, sig in computed:
                if not _is_latest(archive, page_id, version_id):
                    continue  # a newer version was saved meanwhile: the next call indexes that one
                if not archive.readonly:
                    for delete in _DROP_PAGE_ROWS:
                        archive.db.execute(delete, [page_id])
                archive.db.execute(
                    f"INSERT INTO {minhashes} (version_id, num_perm, signature) VALUES (?, ?, ?)",
                    [version_id, NUM_PERM, sig],
                )
                if sig:
                    archive.db.conn.executemany(
                        f"INSERT INTO {bands} (band, bucket, version_id) VALUES (?, ?, ?)",
                        [(band, bucket, version_id) for band, bucket in _buckets(sig)],
                    )
                added += 1


def _store_elsewhere(archive: Archive) -> int:
    """Index the read-only archive's file through a connection that writes, if it can at once."""
    if needs_upgrade(archive.db):
        raise ArchiveError(f"{archive.path} has an older schema, which only a write command upgrades")
    with Archive(archive.path, busy_timeout=1.0, lock_patience=0) as writer:
        return refresh_index(writer)


def store_nothing(archive: Archive) -> None:
    """Never store signatures for this read-only archive, even where its file could be written:
    those it lacks are computed into temporary tables for its connection (for `scraper serve`,
    which must not write)."""
    if not archive.readonly:
        raise ArchiveError("store_nothing() is for an archive opened read-only")
    if not _overlaid(archive):
        _overlay(archive)


def _overlaid(archive: Archive) -> bool:
    return archive.db.execute("SELECT 1 FROM temp.sqlite_master WHERE name = 'new_minhashes'").fetchone() is not None


def _overlay(archive: Archive) -> None:
    """Temporary tables for the rows a read-only archive cannot store, and temporary views, named
    as the stored tables (which they hide from unqualified names), holding both."""
    archive.db.conn.executescript(
        "CREATE TEMP TABLE new_minhashes (version_id INTEGER PRIMARY KEY, num_perm INTEGER, signature BLOB);"
        " CREATE TEMP TABLE new_minhash_bands (band INTEGER, bucket INTEGER, version_id INTEGER);"
        " CREATE INDEX temp.new_minhash_bands_bucket ON new_minhash_bands (band, bucket);"
        " CREATE TEMP VIEW minhashes AS SELECT version_id, num_perm, signature FROM main.minhashes"
        "  WHERE version_id NOT IN (SELECT version_id FROM temp.new_minhashes)"
        "  UNION ALL SELECT version_id, num_perm, signature FROM temp.new_minhashes;"
        " CREATE TEMP VIEW minhash_bands AS SELECT band, bucket, version_id FROM main.minhash_bands"
        "  UNION ALL SELECT band, bucket, version_id FROM temp.new_minhash_bands;"
    )


def _is_latest(archive: Archive, page_id: int, version_id: int) -> bool:
    return archive.db.execute(
        "SELECT 1 FROM versions v JOIN pages p ON p.id = v.page_id AND p.latest_version = v.version"
        " WHERE v.id = ? AND p.id = ?", [version_id, page_id]
    ).fetchone() is not None


def similar(archive: Archive, url: str, *, threshold: float = THRESHOLD, limit: int = 20) -> list[Match]:
    """Other pages whose latest version is a near-duplicate of url's latest version, most similar
    first (at most `limit`). Refreshes the index first; raises NotArchived for an unknown url.

    Candidates are the versions sharing a band bucket with url's (an indexed query); each is then
    scored by the signatures' estimate, and those at or above threshold are returned.
    """
    page_id = archive.page(url)["id"]
    with archive._reading():  # a damaged archive: one line, not a traceback
        refresh_index(archive)
        row = archive.db.execute(
            "SELECT m.signature, v.id FROM pages p JOIN versions v ON v.page_id = p.id AND v.version = p.latest_version"
            " JOIN minhashes m ON m.version_id = v.id WHERE p.id = ?", [page_id]
        ).fetchone()
        if row is None or not row[0]:
            return []  # no words, or a version saved since the refresh: nothing to compare
        mine, version_id = row
        # Bucket by bucket, each an indexed lookup: a self-join of minhash_bands would read the
        # temporary views of a read-only archive whole (0.3 s at 5,000 pages, against 10 ms).
        found: set[int] = set()
        for band, bucket in _buckets(mine):
            found.update(other for (other,) in archive.db.execute(
                "SELECT version_id FROM minhash_bands WHERE band = ? AND bucket = ?", [band, bucket]))
        found.discard(version_id)
        matches = []
        for chunk, marks in in_lists(sorted(found)):
            for other_url, title, version, sig in archive.db.execute(
                "SELECT p.url, v.title, v.version, m.signature FROM minhashes m"
                " JOIN versions v ON v.id = m.version_id"
                " JOIN pages p ON p.id = v.page_id AND p.latest_version = v.version"
                f" WHERE m.version_id IN ({marks}) AND p.id != ?", [*chunk, page_id],
            ).fetchall():
                if (score := estimate(mine, sig)) >= threshold:
                    matches.append(Match(url=other_url, title=title, similarity=score, version=version))
    matches.sort(key=lambda match: (-match.similarity, match.url))
    return matches[:limit]


def duplicate_pages(archive: Archive, *, threshold: float = THRESHOLD) -> set[int]:
    """Page ids to leave out of a deduplicated export: in each group of near-duplicate pages
    (connected through pairs at or above threshold), every page but the one archived first
    (lowest pages.id). Refreshes the index first.

    Candidate pairs stream from a self-join of the bands table; memory grows with the pages found
    in pairs over the threshold (and SQLite's temporary set of distinct candidate pairs), not
    with the archive.
    """
    with archive._reading():
        refresh_index(archive)
        parent: dict[int, int] = {}  # union-find over the pages of qualifying pairs only

        def root(page_id: int) -> int:
            while (up := parent.get(page_id, page_id)) != page_id:
                parent[page_id] = parent.get(up, up)  # path halving
                page_id = up
            return page_id

        for first, second in _pairs(archive, threshold):
            a, b = root(first), root(second)
            if a != b:
                parent[max(a, b)] = min(a, b)  # the root stays the group's lowest page id
    return {page_id for page_id in parent if root(page_id) != page_id}


def _pairs(archive: Archive, threshold: float) -> Iterator[tuple[int, int]]:
    """(page id, page id) of every candidate pair of current versions estimated at or above threshold."""
    cursor = archive.db.execute(
        "WITH pairs AS (SELECT DISTINCT a.version_id AS x, b.version_id AS y FROM minhash_bands a"
        " JOIN minhash_bands b ON b.band = a.band AND b.bucket = a.bucket AND b.version_id > a.version_id)"
        " SELECT vx.page_id, vy.page_id, mx.signature, my.signature FROM pairs"
        " JOIN minhashes mx ON mx.version_id = pairs.x JOIN minhashes my ON my.version_id = pairs.y"
        " JOIN versions vx ON vx.id = pairs.x JOIN versions vy ON vy.id = pairs.y"
        " JOIN pages px ON px.id = vx.page_id AND px.latest_version = vx.version"
        " JOIN pages py ON py.id = vy.page_id AND py.latest_version = vy.version"
    )
    for page_x, page_y, sig_x, sig_y in cursor:  # a cursor yields rows as read
        if page_x != page_y and estimate(sig_x, sig_y) >= threshold:
            yield page_x, page_y
