"""The archive's tables, as an ordered list of migrations applied in place."""

from __future__ import annotations

from collections.abc import Iterator

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from archive.compression import pack_markdown
from archive.diff import word_changes
from archive.fts import indexed

migrations = Migrations("scraper.archive")


@migrations()
def m001_initial(db: Database) -> None:
    db.table("pages").create(
        {
            "id": int,
            "url": str,  # canonical form of the URL as requested: the page's identity
            "final_url": str,  # where the last fetch ended after redirects
            "first_seen": str,
            "last_checked": str,  # last successful fetch, changed or not
            "last_changed": str,  # when the latest version was made
            "latest_version": int,
        },
        pk="id",
        not_null={"url", "first_seen", "last_checked", "latest_version"},
        defaults={"latest_version": 0},
    )
    db.table("pages").create_index(["url"], unique=True)
    db.table("blobs").create(
        {"sha256": str, "size": int, "compression": str, "content": bytes},
        pk="sha256",
        not_null={"size", "compression", "content"},
    )
    db.table("versions").create(
        {
            "id": int,
            "page_id": int,
            "version": int,
            "fetched_at": str,
            "final_url": str,
            "status": int,
            "headers": str,  # JSON object of the response headers
            "encoding": str,
            "html_sha256": str,
            "content_hash": str,  # of title and text: a new version only when it changes
            "title": str,
            "author": str,
            "published": str,
            "language": str,
            "site_name": str,
            "description": str,
            "canonical_url": str,
            "image": str,
            "word_count": int,
            "text": str,
        },
        pk="id",
        foreign_keys=[("page_id", "pages", "id"), ("html_sha256", "blobs", "sha256")],
        not_null={"page_id", "version", "fetched_at", "html_sha256", "content_hash", "text"},
    )
    db.table("versions").create_index(["page_id", "version"], unique=True)
    db.table("versions").create_index(["fetched_at"])
    db.table("runs").create(
        {
            "id": int,
            "command": str,
            "started_at": str,
            "finished_at": str,
            "status": str,  # running | finished | interrupted
            "urls": int,
            "new_versions": int,
            "unchanged": int,
            "failed": int,
        },
        pk="id",
    )
    db.table("fetches").create(
        {
            "id": int,
            "run_id": int,
            "url": str,
            "at": str,
            "outcome": str,  # new | unchanged | failed | skipped (from schema 3)
            "version": int,
            "status": int,
            "reason": str,  # short label for failures: "http 404", "timeout", ...
            "error": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
        not_null={"url", "at", "outcome"},
    )
    db.table("fetches").create_index(["run_id"])
    db.table("fetches").create_index(["outcome", "at"])


@migrations()
def m002_markdown_authors_modified(db: Database) -> None:
    versions = db.table("versions")
    versions.add_column("markdown", str)  # the article as Markdown: headings, lists, links
    versions.add_column("authors", str)  # JSON list; "author" keeps them joined by "; "
    versions.add_column("modified", str)  # when the page says the article last changed


@migrations()
def m003_validators_and_leases(db: Database) -> None:
    pages = db.table("pages")
    pages.add_column("etag", str)  # validators of the last fetch, sent back for a conditional GET
    pages.add_column("last_modified", str)
    runs = db.table("runs")
    runs.add_column("skipped", int)  # robots.txt said no, or another run held the URL
    runs.add_column("host", str)  # the machine and process of a run: whether it is still alive
    runs.add_column("pid", int)
    # A run's claim on a URL while it fetches it, so overlapping runs never fetch the same
    # URL at once; a claim left by a dead run expires.
    db.table("leases").create(
        {"url": str, "run_id": int, "expires_at": float},
        pk="url",
        not_null={"run_id", "expires_at"},
    )


@migrations()
def m004_deltas_word_changes_markdown_search_minhash(db: Database) -> None:
    # A blob may be compressed with another blob's content as zstd dictionary: an edited page
    # then costs little more than its edit. Bases are never themselves deltas (chains of one).
    db.table("blobs").add_column("base", str)
    versions = db.table("versions")
    versions.add_column("words_added", int)  # against the previous version of the page
    versions.add_column("words_removed", int)
    for page_id, version, added, removed in list(_word_changes(db)):  # read all, then write
        db.execute(
            "UPDATE versions SET words_added = ?, words_removed = ? WHERE page_id = ? AND version = ?",
            [added, removed, page_id, version],
        )
    # Markdown compressed against the plain text it mostly repeats: a tenth of the room.
    versions.add_column("markdown_zstd", bytes)
    for (version_id,) in list(db.execute("SELECT id FROM versions WHERE markdown IS NOT NULL")):
        text, markdown = db.execute("SELECT text, markdown FROM versions WHERE id = ?", [version_id]).fetchone()
        db.execute("UPDATE versions SET markdown_zstd = ? WHERE id = ?", [pack_markdown(markdown, text), version_id])
    db.execute("ALTER TABLE versions DROP COLUMN markdown")
    # Full-text search over title and text, in the shape sqlite-utils and Datasette expect of
    # an FTS table; written out because enable_fts() would commit the migration's transaction.
    db.execute(
        "CREATE VIRTUAL TABLE versions_fts USING FTS5 (title, text, content=versions,"
        " tokenize='unicode61 remove_diacritics 2')"
    )
    db.execute("INSERT INTO versions_fts (rowid, title, text) SELECT rowid, title, text FROM versions")
    for trigger in _FTS_TRIGGERS:
        db.execute(trigger)
    # MinHash signatures of cleaned texts, and their LSH band buckets, to find near-duplicates.
    db.table("minhashes").create(
        {"version_id": int, "num_perm": int, "signature": bytes},
        pk="version_id",
        foreign_keys=[("version_id", "versions", "id")],
        not_null={"num_perm", "signature"},
    )
    db.table("minhash_bands").create(
        {"band": int, "bucket": int, "version_id": int},
        foreign_keys=[("version_id", "versions", "id")],
        not_null={"band", "bucket", "version_id"},
    )
    db.table("minhash_bands").create_index(["band", "bucket"])
    db.table("minhash_bands").create_index(["version_id"])


@migrations()
def m005_html_compressed_against_text(db: Database) -> None:
    # A blob that is no delta may be compressed with the cleaned text of the version that
    # brought it as zstd dictionary (compression 'zstd-text'): the article is most of what the
    # page says, word for word. text_id is that version's id; versions are never deleted, and
    # when `scraper reclean` changes a text its blobs are compressed again with the new one.
    # Older blobs (compression 'zstd') are left as they are.
    db.table("blobs").add_column("text_id", int)
    # Every write adds a segment to the search index; the end of a run merges them (see
    # Archive._tidy), two of a size at a time where the index is too large to merge whole.
    db.execute("INSERT INTO versions_fts (versions_fts, rank) VALUES ('usermerge', 2)")


@migrations()
def m006_trained_dictionary(db: Database) -> None:
    # A zstd dictionary trained on HTML the archive holds, once it holds enough (see
    # Archive._train_dictionary); a blob compressed with it and its text (compression
    # 'zstd-dict-text') names it. Dictionaries are never changed or deleted.
    db.table("dictionaries").create(
        {"id": int, "trained_at": str, "samples": int, "sample_bytes": int, "content_zstd": bytes},
        pk="id",
        not_null={"trained_at", "samples", "sample_bytes", "content_zstd"},
    )
    db.table("blobs").add_column("dictionary_id", int)


@migrations()
def m007_search_finds_cjk_words(db: Database) -> None:
    # The search index is given each version's title and text with every CJK character as a
    # token of its own (see archive/fts.py), which the stored text is not: so it holds no
    # content (content=''), and Archive.save writes it; the triggers that copied versions go.
    for trigger in ("versions_ai", "versions_ad", "versions_au"):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    db.execute("DROP TABLE IF EXISTS versions_fts")
    db.execute(f"CREATE VIRTUAL TABLE versions_fts USING FTS5 {FTS_COLUMNS}")
    rows = db.conn.execute("SELECT rowid, title, text FROM versions")  # streamed: another table is written
    for rowid, title, text in rows:
        db.execute("INSERT INTO versions_fts (rowid, title, text) VALUES (?, ?, ?)",
                   [rowid, indexed(title), indexed(text)])
    db.execute("INSERT INTO versions_fts (versions_fts, rank) VALUES ('usermerge', 2)")


@migrations()
def m008_cleaner_and_earlier_texts(db: Database) -> None:
    # Which cleaner made each version's text (scraper.cleaner.CLEANER_ID); NULL for versions
    # made before it was recorded. `scraper reclean` makes a version's text anew with today's
    # cleaner: what an earlier cleaner made of it, and its metadata, go to earlier_texts.
    db.table("versions").add_column("cleaner", str)
    db.table("earlier_texts").create(
        {
            "id": int,
            "version_id": int,
            "replaced_at": str,
            "cleaner": str,  # the cleaner that made this text (NULL: not recorded)
            "replaced_by": str,  # the cleaner whose text took its place
            "content_hash": str,
            "title": str,
            "author": str,
            "authors": str,
            "published": str,
            "modified": str,
            "language": str,
            "site_name": str,
            "description": str,
            "canonical_url": str,
            "image": str,
            "word_count": int,
            "text": str,
            "markdown_zstd": bytes,  # compressed with this row's text as dictionary, as in versions
        },
        pk="id",
        foreign_keys=[("version_id", "versions", "id")],
        not_null={"version_id", "replaced_at", "content_hash", "text"},
    )
    db.table("earlier_texts").create_index(["version_id"])


@migrations()
def m009_blob_bases_indexed(db: Database) -> None:
    # `scraper rm` and `prune` delete a blob only when no other blob is a delta against it.
    db.table("blobs").create_index(["base"])


FTS_COLUMNS = "(title, text, content='', tokenize='unicode61 remove_diacritics 2')"

TABLES = {
    "m001_initial": ("pages", "blobs", "versions", "runs", "fetches"),
    "m003_validators_and_leases": ("leases",),
    "m004_deltas_word_changes_markdown_search_minhash": ("versions_fts", "minhashes", "minhash_bands"),
    "m006_trained_dictionary": ("dictionaries",),
    "m008_cleaner_and_earlier_texts": ("earlier_texts",),
}
"""The tables each migration made, which an archive with it applied must hold."""


_FTS_TRIGGERS = (
    "CREATE TRIGGER versions_ai AFTER INSERT ON versions BEGIN"
    " INSERT INTO versions_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text); END",
    "CREATE TRIGGER versions_ad AFTER DELETE ON versions BEGIN"
    " INSERT INTO versions_fts (versions_fts, rowid, title, text) VALUES ('delete', old.rowid, old.title, old.text);"
    " END",
    "CREATE TRIGGER versions_au AFTER UPDATE ON versions BEGIN"
    " INSERT INTO versions_fts (versions_fts, rowid, title, text) VALUES ('delete', old.rowid, old.title, old.text);"
    " INSERT INTO versions_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text); END",
)


def _word_changes(db: Database) -> Iterator[tuple[int, int, int, int]]:
    """(page_id, version, words added, words removed) of every version already archived."""
    previous: tuple[int, str] | None = None
    for page_id, version, text in db.execute("SELECT page_id, version, text FROM versions ORDER BY page_id, version"):
        before = previous[1] if previous is not None and previous[0] == page_id else ""
        added, removed = word_changes(before, text)
        yield page_id, version, added, removed
        previous = (page_id, text)


def ours(db: Database) -> bool:
    """Whether db's schema was made by these migrations."""
    return bool(migrations.applied(db))


def missing_table(db: Database) -> str | None:
    """A table that the migrations applied to db made and that is not there, if any."""
    present = set(db.table_names())
    for migration in migrations.applied(db):
        for table in TABLES.get(migration.name, ()):
            if table not in present:
                return table
    return None


def needs_upgrade(db: Database) -> bool:
    return bool(migrations.pending(db))


def upgrade(db: Database) -> None:
    """Bring a database of any earlier schema up to date, in place (migrations left pending only)."""
    migrations.apply(db)
